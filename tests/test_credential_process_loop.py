"""``credential_process = awsrun ...`` must never be its own source: fail fast, one line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun

AWS = os.path.join(os.path.dirname(sys.executable), "aws")
AWSRUN = f"{shlex.quote(sys.executable)} -m awsrun"


def _config(cache_flag: str) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        "[profile cp]\n"
        f"credential_process = {AWSRUN} {cache_flag} --role {ROLE_ARN} --credential-process\n"
        "region = us-east-1\n"
        "[profile viabase]\n"
        f"credential_process = {AWSRUN} {cache_flag} -p base --role {ROLE_ARN} --credential-process\n"
        "region = us-east-1\n"
        "[profile base]\n"
        f"aws_access_key_id = {SOURCE_KEY_ID}\n"
        f"aws_secret_access_key = {SOURCE_SECRET}\n"
        "region = us-east-1\n"
    )


def _aws(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([AWS, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


CACHE_FLAGS = ["", "--no-cache"]


@pytest.mark.parametrize("cache_flag", CACHE_FLAGS, ids=["cache", "no-cache"])
def test_aws_cli_with_the_readme_recipe_fails_fast_naming_the_fix(moto_sts: str, cache_flag: str) -> None:
    _config(cache_flag)
    started = time.monotonic()
    result = _aws(["sts", "get-caller-identity"], {"AWS_PROFILE": "cp", "AWS_ENDPOINT_URL_STS": moto_sts})
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "credential_process loop" in result.stderr and "-p SOURCE" in result.stderr
    assert "profile 'cp'" in result.stderr
    assert elapsed < 8, elapsed  # the AWS CLI's own start-up is most of it; the bug hung forever


@pytest.mark.parametrize("cache_flag", CACHE_FLAGS, ids=["cache", "no-cache"])
def test_awsrun_started_as_the_profiles_process_fails_in_one_line(moto_sts: str, cache_flag: str) -> None:
    _config(cache_flag)
    args = [*cache_flag.split(), "--role", ROLE_ARN, "--credential-process"]
    started = time.monotonic()
    result = run_awsrun(args, env={"AWS_PROFILE": "cp", "AWS_ENDPOINT_URL_STS": moto_sts})
    elapsed = time.monotonic() - started
    lines = result.stderr.splitlines()
    assert (result.returncode, result.stdout, len(lines)) == (125, "", 1), result.stderr
    assert lines[0].startswith("awsrun: credential_process loop: ") and "-p SOURCE" in lines[0]
    assert elapsed < 4, elapsed


def test_the_nested_awsrun_fails_before_touching_botocore_or_the_cache() -> None:
    started = time.monotonic()
    result = run_awsrun(["--role", ROLE_ARN, "--credential-process"],
                        env={"AWS_PROFILE": "cp", "AWSRUN_SOURCE_PROFILES": "cp"})
    assert time.monotonic() - started < 2
    assert result.returncode == 125
    assert result.stderr.startswith("awsrun: credential_process loop: ")
    assert not (Path(os.environ["HOME"]) / ".cache" / "awsrun").exists()


@pytest.mark.parametrize("cache_flag", CACHE_FLAGS, ids=["cache", "no-cache"])
def test_a_profile_that_names_its_source_keeps_working(moto_sts: str, cache_flag: str) -> None:
    _config(cache_flag)
    result = _aws(["sts", "get-caller-identity"], {"AWS_PROFILE": "viabase", "AWS_ENDPOINT_URL_STS": moto_sts})
    assert result.returncode == 0, result.stderr
    assert ":assumed-role/Deploy/" in json.loads(result.stdout)["Arn"]


def test_an_awsrun_run_by_the_command_does_not_inherit_the_marker(source_env: Dict[str, str]) -> None:
    from tests.conftest import child_report

    result = run_awsrun(["--no-cache", "-q", "-r", ROLE_ARN, "--", sys.executable, str(Path(__file__).with_name("child.py"))],
                        env={**source_env, "AWSRUN_SOURCE_PROFILES": "elsewhere"})
    assert result.returncode == 0, result.stderr
    assert "AWSRUN_SOURCE_PROFILES" not in child_report(result.stdout)["env"]


def test_dry_run_does_not_show_awsruns_own_loop_marker() -> None:
    """The marker is for botocore's credential_process children, not part of the command's diff."""
    result = run_awsrun(["--dry-run", "-r", "arn:aws:iam::123456789012:role/Deploy", "--", "true"],
                        {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40})
    assert result.returncode == 0, result.stderr
    assert "would assume arn:aws:iam::123456789012:role/Deploy" in result.stdout
    assert "AWSRUN_SOURCE_PROFILES" not in result.stdout
