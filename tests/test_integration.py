"""awsrun end to end: a real awsrun process, moto's STS on 127.0.0.1, tests/child.py as the command.

Every test runs awsrun as a subprocess; what the command received is read from the JSON
tests/child.py prints. Where awsrun must not call STS at all, AWS_ENDPOINT_URL_STS points
at a closed 127.0.0.1 port, so a call that slipped through would end in 125.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

import pytest

from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun, needs_aws_cli

ACCOUNT = "123456789012"
# Keys of other sources; each id ends differently so `-v`'s masked id (last four) tells them apart.
PROFILE_KEY_ID = "AKIAPROFEXAMPLE0LPRF"
PROFILE_SECRET = "profileSECRETprofileSECRETprofileSECRET0"
DOTENV_KEY_ID = "AKIADOTENVEXAMPLEDOT"
DOTENV_SECRET = "dotenvSECRETdotenvSECRETdotenvSECRET0000"
NO_KEYS: Dict[str, Optional[str]] = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
ISO_8601_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# --- helpers -------------------------------------------------------------------------------


def child(status: int = 0) -> List[str]:
    """The command line of tests/child.py, exiting with ``status``."""
    return [sys.executable, str(CHILD), str(status)]


def assumed(role: str = "Deploy", session: str = "itest") -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"


def closed_sts_url() -> str:
    """A 127.0.0.1 URL nobody listens on: any STS call made there fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def no_sts_env() -> Dict[str, str]:
    """Source keys, but STS unreachable."""
    return {
        "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
        "AWS_ENDPOINT_URL_STS": closed_sts_url(),
    }


def write_profile(name: str = "src", region: Optional[str] = None) -> None:
    """Static keys for profile ``name`` in the isolated credentials file (and its region in config)."""
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(
        f"[{name}]\naws_access_key_id = {PROFILE_KEY_ID}\naws_secret_access_key = {PROFILE_SECRET}\n"
    )
    if region:
        Path(os.environ["AWS_CONFIG_FILE"]).write_text(f"[profile {name}]\nregion = {region}\n")


def masked(key_id: str) -> str:
    return "****" + key_id[-4:]


def assert_ok_child(result: subprocess.CompletedProcess, status: int = 0) -> dict:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    return child_report(result.stdout)


def assert_one_line_failure(result: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    """awsrun failed by itself: the status, exactly one 'awsrun: ...' line, no traceback, no child."""
    lines = result.stderr.splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("awsrun: "), lines
    assert "Traceback" not in result.stderr
    assert '"pid"' not in result.stdout  # the command never ran
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def assert_nowhere(env: Dict[str, str], *secrets: str) -> None:
    """No value of ``env`` equals or contains any of ``secrets``."""
    for name, value in env.items():
        for secret in secrets:
            assert secret not in value, f"{name} holds {secret!r}"


# --- the child's environment ---------------------------------------------------------------


def test_command_replaces_awsrun_in_the_same_process(source_env: Dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsrun", "-q", "-r", ROLE_ARN, "-s", "itest", "--", *child(0)],
        env={**os.environ, **source_env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert child_report(out)["pid"] == proc.pid


def test_child_gets_only_the_temporary_credentials(source_env: Dict[str, str]) -> None:
    started = datetime.now(timezone.utc)
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", "-d", "900", *child(0)], env=source_env)
    env = assert_ok_child(result)["env"]

    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", env["AWS_ACCESS_KEY_ID"])
    assert env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SECRET_ACCESS_KEY"] != SOURCE_SECRET
    assert env["AWS_SESSION_TOKEN"]
    assert ISO_8601_Z.fullmatch(env["AWS_CREDENTIAL_EXPIRATION"])
    expires = datetime.strptime(env["AWS_CREDENTIAL_EXPIRATION"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert started + timedelta(seconds=840) <= expires <= started + timedelta(seconds=960)  # -d 900
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()
    assert_nowhere(env, SOURCE_SECRET, SOURCE_KEY_ID)
    # The temporary secrets are for the child only, never for awsrun's own output.
    for secret in (env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"], SOURCE_SECRET):
        assert secret not in result.stderr


# Every other credential source, with a value that must not reach the child.
REMOVED_CASES = {
    "AWS_PROFILE": "src",
    "AWS_DEFAULT_PROFILE": "src",
    "AWS_SESSION_TOKEN": "removed-source-session-token",
    "AWS_SECURITY_TOKEN": "removed-security-token",
    "AWS_ACCESS_KEY": "AKIAREMOVEXAMPLENAME",
    "AWS_SECRET_KEY": "removed-secret-key",
    "AWS_CREDENTIAL_EXPIRATION": "2099-01-01T00:00:00Z",  # botocore reads it: keep it in the future
    "AWS_SESSION_EXPIRATION": "2001-01-02T00:00:00Z",
    "AWS_BEARER_TOKEN_BEDROCK": "removed-bedrock-bearer-token",
    "AWS_BEARER_TOKEN_CODEWHISPERER": "removed-other-bearer-token",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/removed/web-identity-token",
    "AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/RemovedWebIdentityRole",
    "AWS_ROLE_SESSION_NAME": "removed-web-identity-session",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/removed/relative-uri",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/removed-full-uri",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "removed-container-auth-token",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/removed/container-token-file",
    "AWS_CREDENTIAL_FILE": "/removed/credential-file",
    "BOTO_CONFIG": "/removed/boto-config",
    "AWS_SDK_LOAD_CONFIG": "removed-sdk-load-config",
    "AWSRUN_ROLE": ROLE_ARN,
    "AWSRUN_EXTERNAL_ID": "awsrunExternalIdValue",
}


# Checked one by one (each alone must not break awsrun or reach the child), then all at once.
REMOVED_ALONE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "BOTO_CONFIG",
    "AWS_SDK_LOAD_CONFIG",
    "AWSRUN_ROLE",
)
REPLACED = {"AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"}  # set again, to the role's values
PROFILE_SELECTORS = {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}  # "src" is too common a text to look for


@pytest.mark.parametrize(
    "names",
    [pytest.param((name,), id=name) for name in REMOVED_ALONE]
    + [pytest.param(tuple(REMOVED_CASES), id="all-at-once")],
)
def test_other_credential_sources_are_removed_and_config_kept(
    source_env: Dict[str, str], tmp_path: Path, names: Iterable[str]
) -> None:
    write_profile()  # so that the profile selectors name a real profile
    ca_bundle = tmp_path / "ca.pem"
    ca_bundle.write_text("not used over http\n")
    kept = {
        "AWS_CA_BUNDLE": str(ca_bundle),
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_RETRY_MODE": "standard",
        "FOO": "unrelated value",
    }
    removed = {name: REMOVED_CASES[name] for name in names}
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", *child(0)], env={**source_env, **kept, **removed})
    env = assert_ok_child(result)["env"]

    for name, value in removed.items():
        if name in REPLACED:
            assert env[name] != value
        else:
            assert name not in env
        if name not in PROFILE_SELECTORS:
            assert_nowhere(env, value)
    assert_nowhere(env, SOURCE_SECRET, SOURCE_KEY_ID, PROFILE_SECRET, PROFILE_KEY_ID)
    for kept_name, kept_value in {**kept, "AWS_ENDPOINT_URL_STS": source_env["AWS_ENDPOINT_URL_STS"]}.items():
        assert env[kept_name] == kept_value
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()


@pytest.mark.parametrize(
    "args, extra_env, dotenv, region",
    [
        ([], {}, None, "us-east-1"),
        (["--region", "eu-west-1"], {"AWS_REGION": "ap-south-1"}, None, "eu-west-1"),
        ([], {"AWSRUN_REGION": "eu-north-1", "AWS_REGION": "ap-south-1"}, None, "eu-north-1"),
        ([], {"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "ca-central-1"}, None, "ap-south-1"),
        ([], {"AWS_DEFAULT_REGION": "ca-central-1"}, None, "ca-central-1"),
        ([], {}, "AWS_REGION=sa-east-1\n", "sa-east-1"),
    ],
    ids=["default", "flag", "awsrun-env", "aws-region", "aws-default-region", "dotenv"],
)
def test_region_is_set_under_both_names(
    source_env: Dict[str, str], args: List[str], extra_env: Dict[str, str], dotenv: Optional[str], region: str
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", *args, *child(0)], env={**source_env, **extra_env})
    env = assert_ok_child(result)["env"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == region


def test_region_of_the_source_profile(moto_sts: str) -> None:
    write_profile("src", region="eu-central-1")
    result = run_awsrun(
        ["-r", ROLE_ARN, "-s", "itest", *child(0)], env={"AWS_PROFILE": "src", "AWS_ENDPOINT_URL_STS": moto_sts}
    )
    env = assert_ok_child(result)["env"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1"


@pytest.mark.parametrize(
    "args, extra_env, dotenv, blocked",
    [
        ([], {}, None, True),
        (["--allow-fallbacks"], {}, None, False),
        ([], {"AWSRUN_ALLOW_FALLBACKS": "true"}, None, False),
        ([], {}, "AWSRUN_ALLOW_FALLBACKS=yes\n", False),
    ],
    ids=["default", "flag", "env", "dotenv"],
)
def test_fallbacks_blocked_unless_allowed(
    source_env: Dict[str, str], args: List[str], extra_env: Dict[str, str], dotenv: Optional[str], blocked: bool
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
    # "TRUE" still disables IMDS for botocore, yet differs from the "true" awsrun sets.
    users = {"AWS_EC2_METADATA_DISABLED": "TRUE", "AWS_SHARED_CREDENTIALS_FILE": os.environ["AWS_SHARED_CREDENTIALS_FILE"]}
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", *args, *child(0)], env={**source_env, **extra_env, **users})
    env = assert_ok_child(result)["env"]
    if blocked:
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
        assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    else:
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == users["AWS_SHARED_CREDENTIALS_FILE"]
        assert env["AWS_EC2_METADATA_DISABLED"] == "TRUE"
    # Allowing fallbacks does not bring the source keys back.
    assert_nowhere(env, SOURCE_SECRET, SOURCE_KEY_ID)
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()


def test_command_flags_are_not_taken_as_awsrun_options(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", *child(0), "-q", "--help", "--", "-r", "x"], env=source_env)
    report = assert_ok_child(result)
    assert report["argv"] == ["0", "-q", "--help", "--", "-r", "x"]
    assert "assumed" in result.stderr  # -q after the command was the command's, not awsrun's


def test_nested_awsrun_does_not_chain_from_its_own_session(source_env: Dict[str, str]) -> None:
    """awsrun's own session in the environment is not a source: chaining is --role twice."""
    inner = [sys.executable, "-m", "awsrun", "-q", "-r", f"{ACCOUNT}:Second", "-s", "inner", *child(0)]
    result = run_awsrun(["-q", "-r", ROLE_ARN, "-s", "outer", *inner], env=source_env)
    assert result.returncode == 125
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "awsrun's own session" in lines[0] and "--role twice" in lines[0]
    assert SOURCE_SECRET not in result.stderr + result.stdout


# --- exit statuses -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [0, 1, 2, 42, 255])
def test_exit_status_of_the_command_is_passed_through(source_env: Dict[str, str], status: int) -> None:
    result = run_awsrun(["-q", "-r", ROLE_ARN, "-s", "itest", *child(status)], env=source_env)
    report = assert_ok_child(result, status)
    assert report["argv"] == [str(status)]


def _not_executable(tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "not-executable"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    return script


@pytest.mark.parametrize(
    "case, status",
    [
        ("bare-name-not-on-path", 127),
        ("missing-path", 127),
        ("non-executable-path", 126),
        ("non-executable-on-path", 126),
        ("directory", 126),
    ],
)
def test_unrunnable_command_fails_before_any_sts_call(tmp_path: Path, case: str, status: int) -> None:
    env = no_sts_env()
    if case == "bare-name-not-on-path":
        command = "awsrun-itest-no-such-command"
    elif case == "missing-path":
        command = str(tmp_path / "nowhere" / "prog")
    elif case == "non-executable-path":
        command = str(_not_executable(tmp_path))
    elif case == "non-executable-on-path":
        command = _not_executable(tmp_path).name
        env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    else:
        command = str(tmp_path)
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", command, "arg"], env=env)
    line = assert_one_line_failure(result, status, command)
    assert "STS" not in line  # 126/127 said, not a connection failure (that would be 125)


def test_exec_format_error_is_126(source_env: Dict[str, str], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01not a program\n")
    garbage.chmod(0o755)
    result = run_awsrun(["-q", "-r", ROLE_ARN, "-s", "itest", str(garbage)], env=source_env)
    assert_one_line_failure(result, 126, str(garbage))


# --- the AWS CLI as the command ------------------------------------------------------------

aws_cli = needs_aws_cli


@aws_cli
def test_aws_cli_sees_the_assumed_role(source_env: Dict[str, str]) -> None:
    import json

    result = run_awsrun(
        ["-q", "-r", ROLE_ARN, "-s", "itest", "aws", "sts", "get-caller-identity", "--output", "json"],
        env=source_env,
    )
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert identity["Arn"] == assumed()
    assert identity["Account"] == ACCOUNT


@aws_cli
@pytest.mark.parametrize("allow", [False, True], ids=["blocked", "allowed"])
def test_aws_cli_cannot_fall_back_to_the_credentials_file(
    source_env: Dict[str, str], allow: bool
) -> None:
    write_profile("src")
    args = ["--allow-fallbacks"] if allow else []
    result = run_awsrun(
        ["-q", "-r", ROLE_ARN, "-s", "itest", *args, "aws", "--profile", "src", "sts", "get-caller-identity"],
        env=source_env,
    )
    if allow:
        assert result.returncode == 0, result.stderr
        assert "assumed-role" not in result.stdout  # the long-lived profile keys were used
    else:
        assert result.returncode == 255
        assert "src" in result.stderr and "could not be found" in result.stderr


# --- source credentials --------------------------------------------------------------------


@pytest.mark.parametrize("selector", ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_source_profile(moto_sts: str, selector: str) -> None:
    write_profile("src")
    result = run_awsrun(
        ["-v", "-r", ROLE_ARN, "-s", "itest", *child(0)], env={selector: "src", "AWS_ENDPOINT_URL_STS": moto_sts}
    )
    env = assert_ok_child(result)["env"]
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()
    assert "AWS_PROFILE" not in env and "AWS_DEFAULT_PROFILE" not in env
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert_nowhere(env, PROFILE_SECRET, PROFILE_KEY_ID)
    assert masked(PROFILE_KEY_ID) in result.stderr and PROFILE_SECRET not in result.stderr


# --- .env ----------------------------------------------------------------------------------


def test_dotenv_in_the_cwd_gives_role_and_session_name(source_env: Dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(f"AWSRUN_ROLE={ACCOUNT}:FromDotenv\nAWSRUN_SESSION_NAME=dotenv-session\n")
    result = run_awsrun(child(0), env=source_env, cwd=project)
    env = assert_ok_child(result)["env"]
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed("FromDotenv", "dotenv-session")
    assert "AWSRUN_ROLE" not in env and "AWSRUN_SESSION_NAME" not in env


@pytest.mark.parametrize("kind", ["keys", "keys-with-token", "profile"])
def test_dotenv_source_credentials_when_the_environment_has_none(
    moto_sts: str, kind: str
) -> None:
    write_profile("src")
    lines = {
        "keys": [f"AWS_ACCESS_KEY_ID={DOTENV_KEY_ID}", f"AWS_SECRET_ACCESS_KEY={DOTENV_SECRET}"],
        "keys-with-token": [
            f"AWS_ACCESS_KEY_ID={DOTENV_KEY_ID}",
            f"AWS_SECRET_ACCESS_KEY={DOTENV_SECRET}",
            "AWS_SESSION_TOKEN=dotenvSessionToken",
        ],
        "profile": ["AWS_PROFILE=src"],
    }[kind]
    Path(".env").write_text("\n".join(lines) + "\n")
    result = run_awsrun(["-v", "-r", ROLE_ARN, "-s", "itest", *child(0)], env={"AWS_ENDPOINT_URL_STS": moto_sts})
    env = assert_ok_child(result)["env"]
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()
    assert "AWS_PROFILE" not in env
    assert_nowhere(env, DOTENV_SECRET, DOTENV_KEY_ID, "dotenvSessionToken", PROFILE_SECRET, PROFILE_KEY_ID)
    used = PROFILE_KEY_ID if kind == "profile" else DOTENV_KEY_ID
    assert masked(used) in result.stderr
    assert DOTENV_SECRET not in result.stderr and PROFILE_SECRET not in result.stderr


@pytest.mark.parametrize("real", ["keys", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_real_environment_credentials_win_over_dotenv(
    source_env: Dict[str, str], real: str
) -> None:
    write_profile("src")
    Path(".env").write_text(f"AWS_ACCESS_KEY_ID={DOTENV_KEY_ID}\nAWS_SECRET_ACCESS_KEY={DOTENV_SECRET}\n")
    env_in = dict(source_env) if real == "keys" else {real: "src", "AWS_ENDPOINT_URL_STS": source_env["AWS_ENDPOINT_URL_STS"]}
    result = run_awsrun(["-v", "-r", ROLE_ARN, "-s", "itest", *child(0)], env=env_in)
    env = assert_ok_child(result)["env"]
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()
    used = SOURCE_KEY_ID if real == "keys" else PROFILE_KEY_ID
    assert masked(used) in result.stderr
    assert masked(DOTENV_KEY_ID) not in result.stderr
    assert_nowhere(env, DOTENV_SECRET, DOTENV_KEY_ID, SOURCE_SECRET, SOURCE_KEY_ID, PROFILE_SECRET, PROFILE_KEY_ID)
    assert DOTENV_SECRET not in result.stderr


def test_other_dotenv_keys_reach_the_child_unless_the_environment_sets_them(source_env: Dict[str, str]) -> None:
    Path(".env").write_text(
        "FOO=from-dotenv\n"
        "BAR=from-dotenv\n"
        "AWS_MAX_ATTEMPTS=7\n"
        "LITERAL='${HOME}/not-expanded'\n"
        "AWS_SECURITY_TOKEN=dotenvSecurityToken\n"
        "AWS_BEARER_TOKEN_BEDROCK=dotenvBearerToken\n"
        "AWSRUN_UNRELATED=dotenvAwsrunValue\n"
    )
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", *child(0)], env={**source_env, "BAR": "from-environment"})
    env = assert_ok_child(result)["env"]
    assert env["FOO"] == "from-dotenv"
    assert env["BAR"] == "from-environment"
    assert env["AWS_MAX_ATTEMPTS"] == "7"
    assert env["LITERAL"] == "${HOME}/not-expanded"
    for name in ("AWS_SECURITY_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWSRUN_UNRELATED"):
        assert name not in env
    assert_nowhere(env, "dotenvSecurityToken", "dotenvBearerToken", "dotenvAwsrunValue")


def test_later_env_files_win(source_env: Dict[str, str]) -> None:
    Path("a.env").write_text("AWSRUN_SESSION_NAME=from-a\nFOO=a\nONLY_A=a\n")
    Path("b.env").write_text("AWSRUN_SESSION_NAME=from-b\nFOO=b\n")
    Path(".env").write_text("AWSRUN_SESSION_NAME=from-default-file\nDEFAULT_FILE=yes\n")
    result = run_awsrun(["--env-file", "a.env", "--env-file", "b.env", "-r", ROLE_ARN, *child(0)], env=source_env)
    env = assert_ok_child(result)["env"]
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed(session="from-b")
    assert (env["FOO"], env["ONLY_A"]) == ("b", "a")
    assert "DEFAULT_FILE" not in env  # a named file replaces ./.env


@pytest.mark.parametrize("how", ["flag", "env"])
def test_missing_env_file_is_125_naming_it(how: str) -> None:
    path = "missing-awsrun.env"
    args, env = (["--env-file", path], {}) if how == "flag" else ([], {"AWSRUN_ENV_FILE": path})
    result = run_awsrun([*args, "-r", ROLE_ARN, *child(0)], env={**no_sts_env(), **env})
    assert_one_line_failure(result, 125, path)


@pytest.mark.parametrize("named", [None, "custom.env"], ids=["default-dotenv", "env-file"])
def test_unparseable_env_file_line_is_125_naming_file_and_line(named: Optional[str]) -> None:
    path = named or ".env"
    Path(path).write_text("# a comment\nFOO=bar\nthis line is not KEY=VALUE\nBAZ=qux\n")
    args = ["--env-file", path] if named else []
    result = run_awsrun([*args, "-r", ROLE_ARN, *child(0)], env=no_sts_env())
    line = assert_one_line_failure(result, 125, path)
    assert re.search(r"\bline 3\b", line), line


@pytest.mark.parametrize("how", ["flag", "env"])
def test_no_env_file_ignores_dotenv(source_env: Dict[str, str], how: str) -> None:
    Path(".env").write_text("AWSRUN_SESSION_NAME=from-dotenv\nAWSRUN_QUIET=true\nFOO=bar\n")
    args, env = (["--no-env-file"], {}) if how == "flag" else ([], {"AWSRUN_NO_ENV_FILE": "true"})
    result = run_awsrun([*args, "-r", ROLE_ARN, "-s", "from-flag", *child(0)], env={**source_env, **env})
    report = assert_ok_child(result)
    assert report["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == assumed(session="from-flag")
    assert "FOO" not in report["env"]
    assert "assumed" in result.stderr  # AWSRUN_QUIET from the ignored .env did not apply

    # Without it, the same .env applies (proof that the .env above was readable).
    result = run_awsrun(["-r", ROLE_ARN, *child(0)], env=source_env)
    report = assert_ok_child(result)
    assert report["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == assumed(session="from-dotenv")
    assert report["env"]["FOO"] == "bar" and result.stderr == ""


@pytest.mark.parametrize(
    "layers, winner",
    [
        (("flag", "env", "dotenv"), "flag"),
        (("flag", "dotenv"), "flag"),
        (("env", "dotenv"), "env"),
        (("dotenv",), "dotenv"),
    ],
    ids=["all-three", "flag-and-dotenv", "env-and-dotenv", "dotenv-only"],
)
def test_precedence_flag_over_environment_over_dotenv(
    source_env: Dict[str, str], layers: Iterable[str], winner: str
) -> None:
    role = {"flag": "FromFlag", "env": "FromEnv", "dotenv": "FromDotenv"}
    session = {"flag": "from-flag", "env": "from-env", "dotenv": "from-dotenv"}
    args: List[str] = []
    env = dict(source_env)
    if "flag" in layers:
        args = ["-r", f"{ACCOUNT}:{role['flag']}", "-s", session["flag"]]
    if "env" in layers:
        env.update(AWSRUN_ROLE=f"{ACCOUNT}:{role['env']}", AWSRUN_SESSION_NAME=session["env"])
    if "dotenv" in layers:
        Path(".env").write_text(f"AWSRUN_ROLE={ACCOUNT}:{role['dotenv']}\nAWSRUN_SESSION_NAME={session['dotenv']}\n")
    result = run_awsrun([*args, *child(0)], env=env)
    report = assert_ok_child(result)
    assert report["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == assumed(role[winner], session[winner])


# --- output --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, extra_env, dotenv",
    [
        (["--dry-run"], {}, None),
        ([], {"AWSRUN_DRY_RUN": "true"}, None),
        ([], {}, "AWSRUN_DRY_RUN=1\n"),
    ],
    ids=["flag", "env", "dotenv"],
)
def test_dry_run_prints_the_plan_without_secrets_or_sts(
    args: List[str], extra_env: Dict[str, str], dotenv: Optional[str]
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
    secrets = {
        "AWS_SESSION_TOKEN": "sourceSessionTokenValue",
        "AWS_BEARER_TOKEN_BEDROCK": "bedrockBearerValue",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "containerTokenValue",
    }
    # "TRUE" (the user's) differs from the "true" awsrun sets, so the plan must show the change.
    env = {
        **no_sts_env(),
        **secrets,
        **extra_env,
        "BOTO_CONFIG": "/x/boto",
        "FOO": "kept",
        "AWS_EC2_METADATA_DISABLED": "TRUE",
    }
    result = run_awsrun([*args, "-r", ROLE_ARN, "-s", "itest", *child(0), "two words"], env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"would assume {ROLE_ARN} as session itest for 3600s in us-east-1"
    for name in ("BOTO_CONFIG", "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        assert f"remove {name}" in out
    # The source keys are either removed or replaced by placeholders: shown by name, never by value.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert f"remove {name}" in out or f"set {name}=<temporary>" in out
    assert not any(line.endswith(" FOO") or line.startswith("set FOO=") for line in out)
    assert f"set AWS_SHARED_CREDENTIALS_FILE={os.devnull}" in out
    assert "set AWS_EC2_METADATA_DISABLED=true" in out
    assert "set AWS_REGION=us-east-1" in out and "set AWS_DEFAULT_REGION=us-east-1" in out
    assert out[-1] == f"exec {sys.executable} {CHILD} 0 'two words'"
    assert '"pid"' not in result.stdout  # the command did not run
    for secret in (SOURCE_SECRET, SOURCE_KEY_ID, *secrets.values()):
        assert secret not in result.stdout and secret not in result.stderr


@pytest.mark.parametrize(
    "region, arn",
    [
        ("us-east-1", f"arn:aws:iam::{ACCOUNT}:role/Deploy"),
        ("cn-north-1", f"arn:aws-cn:iam::{ACCOUNT}:role/Deploy"),
        ("us-gov-west-1", f"arn:aws-us-gov:iam::{ACCOUNT}:role/Deploy"),
    ],
)
def test_role_shorthand_takes_the_partition_of_the_region(region: str, arn: str) -> None:
    result = run_awsrun(["--dry-run", "--region", region, "-r", f"{ACCOUNT}:Deploy", "-s", "itest", "true"], env=no_sts_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"would assume {arn} as session itest for 3600s in {region}"


@pytest.mark.parametrize(
    "args, extra_env, dotenv, quiet",
    [
        ([], {}, None, False),
        (["-q"], {}, None, True),
        ([], {"AWSRUN_QUIET": "true"}, None, True),
        ([], {}, "AWSRUN_QUIET=true\n", True),
        ([], {"AWSRUN_QUIET": "false"}, "AWSRUN_QUIET=true\n", False),
    ],
    ids=["default", "-q", "env", "dotenv", "env-false-beats-dotenv"],
)
def test_notice_names_role_and_expiry_unless_quiet(
    source_env: Dict[str, str], args: List[str], extra_env: Dict[str, str], dotenv: Optional[str], quiet: bool
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
    result = run_awsrun([*args, "-r", ROLE_ARN, "-s", "itest", *child(0)], env={**source_env, **extra_env})
    env = assert_ok_child(result)["env"]
    if quiet:
        assert result.stderr == ""
    else:
        expected = f"awsrun: assumed {assumed()}, expires {env['AWS_CREDENTIAL_EXPIRATION']}"
        assert result.stderr.splitlines() == [expected]


def test_verbose_says_where_settings_came_from_without_secrets(source_env: Dict[str, str]) -> None:
    Path(".env").write_text("AWSRUN_SESSION_NAME=from-dotenv\n")
    env = {**source_env, "AWSRUN_DURATION": "1800"}
    result = run_awsrun(["-v", "-r", ROLE_ARN, "--external-id", "externalIdSecret42", *child(0)], env=env)
    report = assert_ok_child(result)
    err = result.stderr
    assert f"role = {ROLE_ARN} (from --role)" in err
    assert "duration = 1800 (from $AWSRUN_DURATION)" in err
    assert "session-name = from-dotenv (from AWSRUN_SESSION_NAME in .env)" in err
    assert "externalIdSecret42" not in err and "****et42" in err
    assert masked(SOURCE_KEY_ID) in err
    for secret in (SOURCE_SECRET, SOURCE_KEY_ID, report["env"]["AWS_SECRET_ACCESS_KEY"], report["env"]["AWS_SESSION_TOKEN"]):
        assert secret not in err


# --- failures of awsrun itself -------------------------------------------------------------


@pytest.mark.parametrize(
    "args, extra_env, dotenv, needle",
    [
        pytest.param([], NO_KEYS, None, "no source credentials", id="no-source-credentials"),
        pytest.param([], {**NO_KEYS, "AWS_PROFILE": "nosuchprofile"}, None, "nosuchprofile", id="missing-profile"),
        pytest.param(["-r", "arn:aws:iam::12345:role/Deploy"], {}, None, "12345", id="short-account"),
        pytest.param(["-r", "Deploy"], {}, None, "Deploy", id="not-an-arn"),
        pytest.param(["-r", "arn:aws:iam::123456789012:role/De\nploy"], {}, None, "role", id="newline-in-role"),
        pytest.param(["--region", "cn-north-1"], {}, None, "partition", id="partition-mismatch"),
        pytest.param(["--region", "mars-north-1"], {}, None, "mars-north-1", id="unknown-region"),
        pytest.param(["-s", "a b"], {}, None, "a b", id="bad-session-name"),
        pytest.param(["-d", "60"], {}, None, "60", id="duration-too-short"),
        pytest.param(["--tag", "novalue"], {}, None, "novalue", id="bad-tag"),
        pytest.param(["--policy", "{not json"], {}, None, "policy", id="bad-policy"),
        pytest.param(["--bogus"], {}, None, "--bogus", id="unknown-option"),
        pytest.param(["-q", "-v"], {}, None, "quiet", id="quiet-and-verbose"),
        pytest.param(["--no-env-file", "--env-file", "x.env"], {}, None, "env-file", id="env-file-conflict"),
        pytest.param([], {"AWSRUN_DRY_RUN": "maybe"}, None, "maybe", id="bad-boolean"),
        pytest.param([], NO_KEYS, f"AWS_ACCESS_KEY_ID={DOTENV_KEY_ID}\n", ".env", id="half-keys-in-dotenv"),
        pytest.param(["-s", "a\nb"], {}, None, "session name", id="newline-in-session-name"),
        pytest.param(["--policy", "/nonexistent/policy.json"], {}, None, "/nonexistent/policy.json", id="missing-policy-file"),
        pytest.param(["--duration"], {}, None, "duration", id="option-swallows-the-command"),
        pytest.param([], {}, b"AWSRUN_SESSION_NAME=\xff\xfe\n", ".env", id="dotenv-not-utf8"),
        pytest.param(["--dry-run"], NO_KEYS, None, "no source credentials", id="dry-run-without-source-credentials"),
        pytest.param([], {"AWS_MAX_ATTEMPTS": "1"}, None, "could not connect to STS", id="sts-unreachable"),
        # e.g. awsrun inside an expired aws-vault or awsrun session: botocore refuses expired env keys
        pytest.param([], {"AWS_SESSION_TOKEN": "t", "AWS_CREDENTIAL_EXPIRATION": "2001-01-01T00:00:00Z"}, None, "", id="expired-source-keys"),
    ],
)
def test_awsrun_failure_is_one_line_and_125(
    args: List[str], extra_env: Dict[str, Optional[str]], dotenv: Union[str, bytes, None], needle: str
) -> None:
    if isinstance(dotenv, bytes):
        Path(".env").write_bytes(dotenv)
    elif dotenv:
        Path(".env").write_text(dotenv)
    role = [] if any(a in ("-r", "--role") for a in args) else ["-r", ROLE_ARN]
    env = {name: value for name, value in {**no_sts_env(), **extra_env}.items() if value is not None}
    result = run_awsrun([*role, *args, *child(0)], env=env)
    assert_one_line_failure(result, 125, needle)
    assert SOURCE_SECRET not in result.stderr and DOTENV_SECRET not in result.stderr


def test_no_role_is_125() -> None:
    result = run_awsrun(child(0), env=no_sts_env())
    assert_one_line_failure(result, 125, "no role given")


@pytest.mark.parametrize("args", [[], ["--"]], ids=["nothing", "double-dash"])
def test_no_command_without_a_terminal_is_125(args: List[str]) -> None:
    result = run_awsrun(["-r", ROLE_ARN, *args], env={**no_sts_env(), "SHELL": sys.executable})
    assert_one_line_failure(result, 125, "no command given")


def test_no_command_on_a_terminal_starts_the_shell(source_env: Dict[str, str], tmp_path: Path) -> None:
    shell = tmp_path / "fake-shell"
    shell.write_text(f"#!/bin/sh\nexec {sys.executable} {CHILD} 7\n")
    shell.chmod(0o755)
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "awsrun", "-r", ROLE_ARN, "-s", "itest"],
            env={**os.environ, **source_env, "SHELL": str(shell)},
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    report = assert_ok_child(result, 7)
    assert report["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()
    assert f"starting {shell}" in result.stderr


def test_command_name_with_a_newline_is_still_one_line() -> None:
    result = run_awsrun(["-r", ROLE_ARN, "no-such\ncommand"], env=no_sts_env())
    assert_one_line_failure(result, 127, "no-such")


def test_command_flag_named_debug_is_not_awsrun_debug() -> None:
    """A --debug among the command's own arguments must not turn on awsrun's tracebacks."""
    result = run_awsrun(["-r", "not-an-arn", *child(0), "--debug"], env=no_sts_env())
    assert_one_line_failure(result, 125, "not-an-arn")


DEBUG_WAYS = {"flag": (["--debug"], {}, None), "env": ([], {"AWSRUN_DEBUG": "true"}, None), "dotenv": ([], {}, "AWSRUN_DEBUG=true\n")}
# A setting refused while settings are resolved, and a failure after they are.
DEBUG_FAILURES = {
    "bad-setting": (["-d", "60"], {}, "awsrun: invalid duration '60'"),
    "sts-unreachable": ([], {"AWS_MAX_ATTEMPTS": "1"}, "awsrun: could not connect to STS"),
}


@pytest.mark.parametrize("failure", DEBUG_FAILURES)
@pytest.mark.parametrize("way", DEBUG_WAYS)
def test_debug_shows_the_traceback(way: str, failure: str) -> None:
    args, extra_env, dotenv = DEBUG_WAYS[way]
    failure_args, failure_env, last_line = DEBUG_FAILURES[failure]
    if dotenv:
        Path(".env").write_text(dotenv)
    env = {**no_sts_env(), **extra_env, **failure_env}
    result = run_awsrun([*args, "-r", ROLE_ARN, *failure_args, *child(0)], env=env)
    assert result.returncode == 125
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(last_line)
    assert SOURCE_SECRET not in result.stderr


# --- CI session names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ci_env, session",
    [
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo-org/deploy-tool", "GITHUB_RUN_ID": "9876543210"},
            "gha@octo-org.deploy-tool@9876543210",
        ),
        (
            {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo-org/" + "r" * 80, "GITHUB_RUN_ID": "9876543210"},
            ("gha@octo-org." + "r" * 80)[: 64 - len("@9876543210")] + "@9876543210",
        ),
        (
            {"GITLAB_CI": "true", "CI_PROJECT_PATH": "group/sub/project", "CI_JOB_ID": "4242"},
            "gitlab@group.sub.project@4242",
        ),
    ],
    ids=["github", "github-long-repo", "gitlab"],
)
def test_ci_session_name_from_repository_and_run(
    source_env: Dict[str, str], ci_env: Dict[str, str], session: str
) -> None:
    result = run_awsrun(["-r", ROLE_ARN, *child(0)], env={**source_env, **ci_env})
    env = assert_ok_child(result)["env"]
    assert len(session) <= 64
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == assumed(session=session)


def test_session_name_flag_beats_ci_default(source_env: Dict[str, str]) -> None:
    ci_env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo-org/deploy-tool", "GITHUB_RUN_ID": "1"}
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", *child(0)], env={**source_env, **ci_env})
    assert assert_ok_child(result)["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == assumed()
