"""A GitLab-shaped job: the web identity token awsrun used never reaches the command, under any
name, in any mode that runs one (exec, --each-role, --refresh), from a cache hit too."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.deliver import environment
from tests.conftest import CHILD, ROLE_ARN, child_report, run_awsrun

OIDC_ROLE = "arn:aws:iam::123456789012:role/gitlab-oidc"
# Shaped like a JWT; never a real one.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0X3BhdGg6Z3JvdXAvcHJvamVjdCJ9.c2lnbmF0dXJlLW5vdC1yZWFs"
OLD_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJqb2JfaWQiOiIxIn0.b2xkLWpvYi10b2tlbg"
GITLAB = {
    "CI_JOB_JWT": OLD_JWT,
    "CI_JOB_JWT_V1": OLD_JWT,
    "CI_JOB_JWT_V2": TOKEN,
    "AWS_OIDC_TOKEN": TOKEN,  # id_tokens: names it as the user likes
    "DEPLOY_ID_TOKEN": TOKEN + "\n",
    "PADDED_TOKEN": f"  {TOKEN}  ",
}
KEPT = {"CI_JOB_ID": "42", "CI_PROJECT_DIR": "/builds/group/project", "NOT_THE_TOKEN": TOKEN[:-1]}


def source(kind: str, tmp_path: Path, moto_sts: str) -> tuple:
    """The environment and arguments of a job whose source is the token file."""
    token_file = tmp_path / "oidc-token"
    token_file.write_text(TOKEN + "\n")  # as `echo "$AWS_OIDC_TOKEN" > file` writes it
    env = {**GITLAB, **KEPT, "AWS_ENDPOINT_URL_STS": moto_sts, "AWS_REGION": "eu-west-1"}
    if kind == "environment":  # botocore's web identity provider, as examples/gitlab-ci.yml does it
        return {**env, "AWS_ROLE_ARN": OIDC_ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file)}, []
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile ci]\nrole_arn = {OIDC_ROLE}\nweb_identity_token_file = {token_file}\n")
    return env, ["-p", "ci"]


MODES = {
    "exec": ["--role", ROLE_ARN],
    "each-role": ["--no-prefix", "--each-role", ROLE_ARN],
    "refresh": ["--refresh", "--role", ROLE_ARN],
}


@pytest.mark.parametrize("kind", ["environment", "profile"])
@pytest.mark.parametrize("mode", list(MODES))
def test_the_command_gets_no_copy_of_the_token(
    moto_sts: str, tmp_path: Path, kind: str, mode: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, args = source(kind, tmp_path, moto_sts)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for attempt in ("assumed", "cached"):  # a cache hit calls no STS and reads no token for it
        result = run_awsrun([*args, *MODES[mode], "--", sys.executable, str(CHILD)], env=env)
        assert result.returncode == 0, result.stderr
        if mode != "each-role":  # which says no "reusing"
            assert ("reusing cached session" in result.stderr) == (attempt == "cached"), result.stderr
        seen = child_report(result.stdout)["env"]
        assert sorted(name for name in GITLAB if name in seen) == []
        assert [name for name, value in seen.items() if TOKEN in value or OLD_JWT in value] == []
        assert {name: seen.get(name) for name in KEPT} == KEPT
        assert TOKEN not in result.stdout + result.stderr
    assert os.path.exists(tmp_path / "oidc-token")  # the user's file stays; only variables are removed


@pytest.mark.parametrize("args", [["--role", ROLE_ARN], ["--each-role", ROLE_ARN]], ids=["exec", "each-role"])
def test_a_dry_run_names_what_it_would_remove(moto_sts: str, tmp_path: Path, args: List[str]) -> None:
    env, profile = source("environment", tmp_path, moto_sts)
    result = run_awsrun(["--dry-run", *args, "--", "true"], env=env)
    assert result.returncode == 0, result.stderr
    removed = {line.split("remove ", 1)[1] for line in result.stdout.splitlines() if "remove " in line}
    assert set(GITLAB) <= removed and not set(KEPT) & removed
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize("value, removed", [
    (TOKEN, True), (TOKEN + "\n", True), ("\t" + TOKEN + "\r\n", True),
    (TOKEN[:-1], False), (TOKEN + "x", False), ("Bearer " + TOKEN, False), ("", False),
], ids=["same", "newline", "whitespace", "shorter", "longer", "inside", "empty"])
def test_removal_by_value_compares_stripped_values(value: str, removed: bool) -> None:
    assert environment.holds_secret(value, frozenset({TOKEN})) is removed
    assert environment.holds_secret(value, frozenset()) is False


def test_the_token_files_read_are_the_sources_of_this_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from awsrun.session.webidentity import source_tokens

    files: Dict[str, Path] = {}
    for name in ("env", "chained", "default", "unrelated"):
        files[name] = tmp_path / name
        files[name].write_text(f"token-of-{name}\n")
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile web]\nrole_arn = {OIDC_ROLE}\nweb_identity_token_file = {files['chained']}\n"
        f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = web\n"
        f"[default]\nrole_arn = {OIDC_ROLE}\nweb_identity_token_file = {files['default']}\n"
        f"[profile other]\nrole_arn = {OIDC_ROLE}\nweb_identity_token_file = {files['unrelated']}\n"
        f"[profile missing]\nrole_arn = {OIDC_ROLE}\nweb_identity_token_file = {tmp_path / 'absent'}\n")
    environ = {**os.environ, "AWS_WEB_IDENTITY_TOKEN_FILE": str(files["env"])}
    assert source_tokens(environ, ["deploy", "missing"]) == {"token-of-env", "token-of-chained", "token-of-default"}
    assert source_tokens({**os.environ, "AWS_CONFIG_FILE": str(tmp_path / "nothing")}, [None]) == frozenset()


def test_the_gitlab_example_leaves_the_token_in_no_variable(tmp_path: Path) -> None:
    """The example's script lines, up to awsrun, run in one shell as GitLab runs them."""
    import subprocess

    example = Path(__file__).parent.parent / "examples" / "gitlab-ci.yml"
    lines = [line.strip()[2:] for line in example.read_text().splitlines() if line.strip().startswith("- ")]
    before = [line for line in lines[:next(i for i, line in enumerate(lines) if line.startswith("awsrun"))]
              if not line.startswith("pip ")]
    token_file = tmp_path / "oidc-token"
    script = "\n".join([*before, "env"])
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10, env={
        "PATH": os.environ["PATH"], **GITLAB, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file)})
    assert result.returncode == 0, result.stderr
    assert [line.split("=", 1)[0] for line in result.stdout.splitlines() if TOKEN in line or OLD_JWT in line] == \
        ["DEPLOY_ID_TOKEN", "PADDED_TOKEN"]  # only the test's own extra names: awsrun removes those by value
    assert token_file.read_text() == TOKEN  # exactly, no newline
    assert token_file.stat().st_mode & 0o077 == 0
