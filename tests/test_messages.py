"""Messages that say what to do: awsrun as a real process, one line on stderr, exit 125.

A missing profile, a role in another partition than the region, awsrun's options typed
after the command, and the README's usage synopsis against --help.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun import cli
from tests.conftest import CHILD, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.fake_sts import closed_port_url

README = Path(__file__).resolve().parent.parent / "README.rst"
CN_ROLE = "arn:aws-cn:iam::123456789012:role/China"
CONFIG = """[profile deploy]
role_arn = arn:aws:iam::123456789012:role/Deploy
source_profile = src
[profile eu]
region = eu-west-1
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = x
"""
CREDENTIALS = f"[src]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"


def keys() -> Dict[str, str]:
    """Source keys and an STS nobody answers: every case here is refused before a call."""
    return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
            "AWS_ENDPOINT_URL_STS": closed_port_url()}


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 125, result.stderr
    assert len(lines) == 1 and lines[0].startswith("awsrun: "), result.stderr
    assert '"pid"' not in result.stdout  # the command never ran
    return lines[0]


def child() -> List[str]:
    return ["--", sys.executable, str(CHILD), "0"]


# --- a profile that does not exist ---------------------------------------------------------

@pytest.mark.parametrize("argv, env, dotenv, origin", [
    pytest.param(["-p", "deplyo"], {}, None, None, id="flag"),
    pytest.param([], {"AWS_PROFILE": "deplyo"}, None, "(from $AWS_PROFILE)", id="AWS_PROFILE"),
    pytest.param(["-r", "123456789012:Other"], {"AWS_PROFILE": "deplyo"}, None, "(from $AWS_PROFILE)",
                 id="AWS_PROFILE-as-source"),
    pytest.param([], {"AWSRUN_PROFILE": "deplyo"}, None, "(from $AWSRUN_PROFILE)", id="AWSRUN_PROFILE"),
    pytest.param(["--env-file", ".env"], {}, "AWS_PROFILE=deplyo\n", "(from AWS_PROFILE in .env)", id="dotenv"),
    pytest.param(["--env-file", ".env"], {}, "AWSRUN_PROFILE=deplyo\n", "(from AWSRUN_PROFILE in .env)",
                 id="dotenv-AWSRUN_PROFILE"),
])
def test_a_missing_profile_names_the_closest_the_files_and_who_named_it(
        argv: List[str], env: Dict[str, str], dotenv: str, origin: str) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG)
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(CREDENTIALS)
    if dotenv:
        Path(".env").write_text(dotenv)
    line = one_line(run_awsrun([*argv, *child()], env={"AWS_ENDPOINT_URL_STS": closed_port_url(), **env}))
    assert "profile 'deplyo'" in line and "not found" in line
    assert "(did you mean deploy?)" in line
    assert os.environ["AWS_CONFIG_FILE"] in line and os.environ["AWS_SHARED_CREDENTIALS_FILE"] in line
    if origin:
        assert origin in line
    else:
        assert "(from" not in line


def test_a_missing_profile_names_the_files_as_resolved_and_which_are_missing(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere" / "config"
    config.parent.mkdir()
    config.write_text(CONFIG)
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": "~/gone/credentials",
           "AWS_ENDPOINT_URL_STS": closed_port_url()}
    line = one_line(run_awsrun(["-p", "eux", *child()], env=env))
    gone = os.path.join(os.environ["HOME"], "gone", "credentials")
    assert f"not found in {config} or {gone} (no such file) (did you mean eu?)" in line


def test_a_missing_source_profile_names_its_referrer_and_the_closest() -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG.replace("source_profile = src", "source_profile = scr"))
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(CREDENTIALS)
    line = one_line(run_awsrun(["-p", "deploy", *child()], env={"AWS_ENDPOINT_URL_STS": closed_port_url()}))
    assert "profile 'scr' (source_profile of 'deploy') not found" in line and "(did you mean src?)" in line


def test_a_missing_profile_message_is_inert_text() -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG)
    line = one_line(run_awsrun(["-p", "depl\x1b[2Jyo", *child()], env={"AWS_ENDPOINT_URL_STS": closed_port_url()}))
    assert "\x1b" not in line and "\\x1b" in line


# --- a role in another partition than the region ------------------------------------------

@pytest.mark.parametrize("argv, env, dotenv, origin", [
    pytest.param(["--region", "eu-west-1"], {}, None, "from --region", id="flag"),
    pytest.param([], {"AWS_REGION": "eu-west-1"}, None, "from $AWS_REGION", id="AWS_REGION"),
    pytest.param([], {"AWS_DEFAULT_REGION": "eu-west-1"}, None, "from $AWS_DEFAULT_REGION", id="AWS_DEFAULT_REGION"),
    pytest.param([], {"AWSRUN_REGION": "eu-west-1"}, None, "from $AWSRUN_REGION", id="AWSRUN_REGION"),
    pytest.param(["--env-file", ".env"], {}, "AWS_REGION=eu-west-1\n", "from AWS_REGION in .env", id="dotenv"),
    pytest.param(["-p", "eu"], {}, None, "from the region of profile eu", id="profile"),
    pytest.param([], {}, None, "from awsrun's default", id="default"),
])
def test_a_partition_mismatch_says_where_the_region_came_from(
        argv: List[str], env: Dict[str, str], dotenv: str, origin: str) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG)
    if dotenv:
        Path(".env").write_text(dotenv)
    for each in ([], ["--each-role"]):  # exec mode and --each-role say the same
        role = [*each, CN_ROLE] if each else ["-r", CN_ROLE]
        line = one_line(run_awsrun([*argv, *role, *child()], env={**keys(), **env}))
        assert origin in line, line
        assert f"role {CN_ROLE} is in aws-cn" in line
        assert "--region sets the region (e.g. --region cn-north-1 for aws-cn)" in line


# --- awsrun's options after the command ---------------------------------------------------

@pytest.mark.parametrize("argv, typed", [
    (["ls", "-la", "-r", "123456789012:Deploy"], "-r 123456789012:Deploy"),
    (["ls", "--role=123456789012:Deploy"], "--role=123456789012:Deploy"),
    (["ls", "-la", "-r123456789012:Deploy"], "-r123456789012:Deploy"),
    (["--", "ls", "--profile", "deploy"], "--profile deploy"),
    (["ls", "-q", "--each-role", "123456789012:Deploy"], "--each-role 123456789012:Deploy"),
])
def test_no_role_given_points_at_the_role_option_the_command_got(argv: List[str], typed: str) -> None:
    line = one_line(run_awsrun(argv, env=keys()))
    assert line.startswith("awsrun: no role given: ")
    assert f"{typed} came after the command, so ls got it as its own argument" in line
    assert f"awsrun's options go before the command: awsrun {typed} ls ..." in line


@pytest.mark.parametrize("argv", [["ls", "-la"], ["ls", "-q", "-v"], []])
def test_no_role_given_without_a_misplaced_role_option_says_how_to_give_one(argv: List[str]) -> None:
    line = one_line(run_awsrun(argv, env=keys()))
    assert "no role given: pass --role ARN" in line and "came after" not in line


def test_options_after_the_command_still_go_to_the_command() -> None:
    """Detecting them only words the message: with a role, the command gets them as typed."""
    result = run_awsrun(["--dry-run", "-r", "123456789012:Deploy", "ls", "-r", "x", "-q"], env=keys())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "exec ls -r x -q"


# --- README's usage synopsis and --help ---------------------------------------------------

def _synopsis(text: str) -> str:
    """The usage lines from 'awsrun [options]' to 'COMMAND [ARG...]]', whitespace folded."""
    match = re.search(r"awsrun \[options\].*?\[COMMAND \[ARG\.\.\.\]\]", text, re.S)
    assert match, "no usage synopsis found"
    return " ".join(match.group().split())


def test_readme_usage_synopsis_matches_help() -> None:
    result = run_awsrun(["--help"])
    assert result.returncode == 0
    assert _synopsis(README.read_text(encoding="utf-8")) == _synopsis(result.stdout) == _synopsis(cli.__doc__)


def test_readme_says_what_help_into_head_really_exits_with() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    claim = text[text.index("--help | head -1") - 200:text.index("--help | head -1") + 400]
    assert "141" in claim and "or 0" in claim, claim
