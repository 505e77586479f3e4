"""AWS CLI habits: durations as people write them, typos caught with a suggestion, role ARN
mistakes explained, -v naming .env."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.config import validate
from awsrun.errors import InvalidValue
from tests.conftest import ROLE_ARN, run_awsrun, trust_env_file

# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [("900", 900), ("3600", 3600), ("0003600", 3600), ("15m", 900), ("1h", 3600), ("90m", 5400),
     ("12h", 43200), ("1h30m", 5400), ("1h30m15s", 5415), ("3600s", 3600), ("2h0m", 7200), ("720m", 43200)],
)
def test_session_duration_accepts(value: str, seconds: int) -> None:
    assert validate.session_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["899", "14m", "12h1s", "13h", "", "h", "1.5h", "1H", "1d", "m15", "30m1h", "1h 30m", "-1h", "1e3",
              "1234567h", "15 m", "１５m"],
)
def test_session_duration_refuses_naming_the_forms(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        validate.session_duration(value)
    assert repr(value) in str(raised.value)
    assert "15m to 12h" in str(raised.value) and "1h30m" in str(raised.value)


@pytest.mark.parametrize("value, seconds", [("0", 0), ("600", 600), ("10m", 600), ("1h", 3600), ("12h", 43200)])
def test_min_ttl_accepts_durations(value: str, seconds: int) -> None:
    assert validate.min_ttl(value) == seconds


@pytest.mark.parametrize("value", ["12h1s", "-1", "ten", "1h-", ""])
def test_min_ttl_refuses(value: str) -> None:
    with pytest.raises(InvalidValue, match="0 to 12h"):
        validate.min_ttl(value)


def test_profile_duration_seconds_stays_seconds_only() -> None:
    # The AWS CLI reads duration_seconds as seconds; a profile must mean the same to both.
    with pytest.raises(InvalidValue):
        validate.duration("1h")


@pytest.mark.parametrize(
    "args, env, dotenv, shown",
    [
        (["-d", "15m"], {}, "", "for 900s"),
        (["--duration", "1h30m"], {}, "", "for 5400s"),
        ([], {"AWSRUN_DURATION": "12h"}, "", "for 43200s"),
        ([], {}, "AWSRUN_DURATION=90m\n", "for 5400s"),
        (["-d", "2700"], {}, "", "for 2700s"),
    ],
    ids=["flag-15m", "flag-1h30m", "env-12h", "dotenv-90m", "plain-seconds"],
)
def test_duration_forms_everywhere_a_duration_is_read(
    source_env: Dict[str, str], args: List[str], env: Dict[str, str], dotenv: str, shown: str
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
        trust_env_file()
    result = run_awsrun(["-r", ROLE_ARN, *args, "--dry-run", "--", "true"], env={**source_env, **env})
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout


def test_min_ttl_as_a_duration_on_the_command_line(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["-r", ROLE_ARN, "--min-ttl", "10m", "-v", "--dry-run", "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr
    assert "min-ttl = 10m (from --min-ttl)" in result.stderr


def test_bad_duration_is_one_line_naming_the_forms() -> None:
    result = run_awsrun(["-r", ROLE_ARN, "-d", "1.5h", "--", "true"])
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1
    assert "invalid duration '1.5h'" in result.stderr and "15m" in result.stderr


# --- typos ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, message",
    [
        ("--dryrun", "unknown option --dryrun (did you mean --dry-run?)"),
        ("--verbse", "unknown option --verbse (did you mean --verbose?)"),
        ("--mfacode=123456", "unknown option --mfacode (did you mean --mfa-code?)"),
        ("--sesion-name=x", "unknown option --sesion-name (did you mean --session-name?)"),
        ("--frobnicate", "unknown option --frobnicate (see"),
        ("--ex", "option --ex is ambiguous: --expect, --export, --external-id"),
    ],
)
def test_unknown_option_is_refused_with_the_closest_one(option: str, message: str) -> None:
    result = run_awsrun([option, "-r", ROLE_ARN, "--", "true"])
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_options_are_read_from_the_docstring_not_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """An option another change adds to the usage text is suggested without a second list."""
    from awsrun import cli

    doc = cli.__doc__.replace("  --no-cache ", "  --each-role FILE               Fan out.\n  --no-cache ")
    monkeypatch.setattr(cli, "__doc__", doc)
    problem = cli._usage_problem(Exception("Warning: found unmatched (duplicate?) arguments "
                                           "[Option(None, '--each-rol', 0, True)]"))
    assert problem == "unknown option --each-rol (did you mean --each-role?)"


@pytest.mark.parametrize(
    "where, name, warning",
    [
        ("env", "AWSRUN_ROLLE", "unknown variable AWSRUN_ROLLE in the environment is ignored (did you mean AWSRUN_ROLE?)"),
        ("env", "AWSRUN_DRYRUN", "unknown variable AWSRUN_DRYRUN in the environment is ignored (did you mean AWSRUN_DRY_RUN?)"),
        ("env", "AWSRUN_ZZZ", "unknown variable AWSRUN_ZZZ in the environment is ignored\n"),
        ("dotenv", "AWSRUN_SESION_NAME", "unknown variable AWSRUN_SESION_NAME in .env is ignored (did you mean AWSRUN_SESSION_NAME?)"),
    ],
)
def test_unknown_awsrun_variable_is_a_warning_naming_the_closest(
    source_env: Dict[str, str], where: str, name: str, warning: str
) -> None:
    env = dict(source_env)
    if where == "env":
        env[name] = "x"
    else:
        Path(".env").write_text(f"{name}=x\n")
        trust_env_file()
    result = run_awsrun(["-q", "-r", ROLE_ARN, "--dry-run", "--", "true"], env=env)
    assert result.returncode == 0, result.stderr
    assert f"awsrun: warning: {warning}" in result.stderr + ("\n" if warning.endswith("\n") else "")
    assert result.stderr.count("\n") == 1


def test_every_variable_awsrun_reads_or_sets_is_known(source_env: Dict[str, str]) -> None:
    import re

    from awsrun.config import typos
    from awsrun.cli import __doc__ as usage
    from docopt import parse_options

    known = set(typos.known_variables(option.longer for option in parse_options(usage)))
    used = set()
    for module in Path(typos.__file__).parent.rglob("*.py"):
        used |= set(re.findall(r"AWSRUN_[A-Z_]+[A-Z]", module.read_text()))
    assert used - known == set()
    env = {**source_env, **{name: "" for name in known if name not in ("AWSRUN_SOURCE_PROFILES",)}}
    result = run_awsrun(["-q", "-r", ROLE_ARN, "--dry-run", "--", "true"], env=env)
    assert "unknown variable" not in result.stderr


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--mfa-code", "123456"], {}, "an MFA code (from --mfa-code) but no MFA device to use it with"),
        ([], {"AWSRUN_MFA_CODE": "123456"}, "an MFA code (from $AWSRUN_MFA_CODE) but no MFA device"),
        (["--format", "fish"], {}, "--format is the shell of --export and --unset"),
        (["--format", "sh", "--credential-process"], {}, "--format is the shell of --export and --unset"),
    ],
)
def test_options_that_would_be_ignored_are_refused(
    source_env: Dict[str, str], args: List[str], env: Dict[str, str], message: str
) -> None:
    command = [] if "--credential-process" in args else ["--", "true"]
    result = run_awsrun(["-r", ROLE_ARN, *args, "--dry-run", *command], env={**source_env, **env})
    assert (result.returncode, result.stdout) == (125, "")
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_mfa_code_with_a_profile_without_mfa_serial_is_refused(source_env: Dict[str, str]) -> None:
    Path(__import__("os").environ["AWS_CONFIG_FILE"]).write_text(f"[profile target]\nrole_arn = {ROLE_ARN}\n"
                                                                 "credential_source = Environment\n")
    result = run_awsrun(["-p", "target", "--mfa-code", "123456", "--dry-run", "--", "true"], env=source_env)
    assert result.returncode == 125
    assert "profile 'target' has no mfa_serial" in result.stderr


@pytest.mark.parametrize("args", [["--export", "--format", "fish"], ["--unset", "--format", "fish"]])
def test_format_with_its_modes_still_works(source_env: Dict[str, str], args: List[str]) -> None:
    result = run_awsrun(["--no-cache", "-q", "-r", ROLE_ARN, *args], env=source_env)
    assert result.returncode == 0, result.stderr
    assert "set -" in result.stdout


def test_unknown_variable_names_from_dotenv_are_shown_safely(source_env: Dict[str, str]) -> None:
    Path(".env").write_bytes(b"AWSRUN_\x1b[31mROLE=x\n")
    trust_env_file()
    result = run_awsrun(["-q", "-r", ROLE_ARN, "--dry-run", "--", "true"], env=source_env)
    assert "\x1b" not in result.stderr
    assert "unknown variable 'AWSRUN_\\x1b[31mROLE' in .env is ignored" in result.stderr


# --- role ARN mistakes ----------------------------------------------------------------------------

ROLE_MISTAKES = [
    ("arn:aws:sts::123456789012:assumed-role/Deploy/alice",
     "assumed-role session ARN (what get-caller-identity shows); the role is arn:aws:iam::123456789012:role/Deploy"),
    ("arn:aws-cn:sts::123456789012:assumed-role/Ops/i-0abc", "the role is arn:aws-cn:iam::123456789012:role/Ops"),
    ("arn:aws:iam::12345678901:role/Deploy", "the account id has 11 digits; AWS account ids have 12"),
    ("arn:aws:iam::1234567890123:role/Deploy", "the account id has 13 digits"),
    ("12345678901:Deploy", "the account id has 11 digits; AWS account ids have 12 (ACCOUNT:NAME)"),
    ("arn:aws:iam::123456789012:user/alice", "a user ARN, not a role"),
    ("arn:aws:iam::123456789012:group/ops", "a group ARN, not a role"),
    ("arn:aws:iam::123456789012:Deploy", "missing 'role/' before the role name (arn:aws:iam::123456789012:role/Deploy?)"),
    ("arn:aws-foo:iam::123456789012:role/Deploy", "unknown partition; expected one of aws, aws-cn"),
    ("arn:aws:s3:::bucket", "not an IAM ARN"),
    ("arn:aws:iam:us-east-1:123456789012:role/Deploy", "IAM ARNs name no region"),
    ("arn:aws:iam::123456789012:role/" + "n" * 65, "the role name has 65 characters; at most 64"),
    ("arn:aws:iam::123456789012:role/Dep loy", "a role name holds only ASCII letters, digits and _+=,.@-"),
    ("arn:aws:iam::123456789012:role/", "the role name is missing"),
    ("arn:aws:iam::123456789012", "an ARN has six parts"),
    (" arn:aws:iam::123456789012:role/Deploy", "remove the white space around it"),
    ("Deploy", "expected a role ARN, arn:PARTITION:iam::ACCOUNT:role/NAME, or ACCOUNT:NAME"),
    ("arn:aws:iam::ABCDEFGHIJKL:role/Deploy", "the account id must be 12 digits"),
]


@pytest.mark.parametrize("value, message", ROLE_MISTAKES, ids=[value[:40] for value, _ in ROLE_MISTAKES])
def test_role_mistakes_each_get_their_own_line(value: str, message: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        validate.role(value)
    text = str(raised.value)
    assert text.startswith(f"invalid role {value!r}: ") and message in text
    assert "\n" not in text and len(text) - len(repr(value)) < 200


def test_a_session_arn_on_the_command_line_names_the_role() -> None:
    result = run_awsrun(["-r", "arn:aws:sts::123456789012:assumed-role/Deploy/alice", "--", "true"])
    assert result.returncode == 125
    assert "the role is arn:aws:iam::123456789012:role/Deploy" in result.stderr
    assert result.stderr.count("\n") == 1


def test_role_messages_never_echo_control_characters() -> None:
    with pytest.raises(InvalidValue) as raised:
        validate.role("arn:aws:iam::123456789012:\x1b[2Jx")
    assert "\x1b" not in str(raised.value)


# --- -v names .env ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, dotenv, origin",
    [
        ({}, "AWS_REGION=eu-west-1\n", "region = eu-west-1 (from AWS_REGION in .env)"),
        ({}, "AWS_DEFAULT_REGION=eu-west-1\n", "region = eu-west-1 (from AWS_DEFAULT_REGION in .env)"),
        ({"AWS_REGION": "eu-west-1"}, "AWS_REGION=eu-central-1\n", "region = eu-west-1 (from $AWS_REGION)"),
        ({"AWS_REGION": "eu-west-1"}, "", "region = eu-west-1 (from $AWS_REGION)"),
    ],
)
def test_verbose_names_the_dotenv_file_a_region_came_from(
    source_env: Dict[str, str], env: Dict[str, str], dotenv: str, origin: str
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
        trust_env_file()
    result = run_awsrun(["-v", "-r", ROLE_ARN, "--dry-run", "--", "true"], env={**source_env, **env})
    assert result.returncode == 0, result.stderr
    assert f"awsrun: {origin}\n" in result.stderr
