"""awsrun's output modes: --export (sh, fish, powershell, dotenv), --unset and --credential-process.

In-process, each format's text is evaluated by the real shell (PowerShell's and python-dotenv's
readers are modelled) and must reproduce the credentials exactly, whatever characters they hold.
Out of process, against moto and tests/fake_sts.py: the AWS CLI accepts what awsrun prints, and
a shell that evaluated an export switches roles from the user's original source, not from the
session awsrun gave it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from dotenv import dotenv_values

from awsrun.deliver import environment, output
from awsrun.credentials import Credentials
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun, needs_aws_cli, trust_env_file
from tests.fake_sts import ISSUED_SECRET, ISSUED_TOKEN, FakeSts, Reply, assume_role_ok, closed_port_url

ACCOUNT = "123456789012"
ROLE_A = f"arn:aws:iam::{ACCOUNT}:role/Alpha"
ROLE_B = f"arn:aws:iam::{ACCOUNT}:role/Bravo"
DOTENV_KEY_ID = "AKIADOTENVEXAMPLEDOT"
OTHER_KEY_ID = "AKIAOTHEREXAMPLE0THR"
EXPORTED = [
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCOUNT_ID", "AWSRUN_ASSUMED_ROLE_ARN", "AWSRUN_ASSUMED_KEY_ID",
]
ISO_8601_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# --- the shell's environment before an export ----------------------------------------------------

# Other credential sources the shell holds: an export must remove every one (as exec mode does).
OTHER_CREDENTIALS = {
    "AWS_SECURITY_TOKEN": "old-security-token",
    "AWS_ACCESS_KEY": "AKIAOLDEXAMPLEME0001",
    "AWS_SECRET_KEY": "old-short-secret",
    "AWS_SESSION_EXPIRATION": "2020-01-01T00:00:00Z",
    "AWS_PROFILE": "work",
    "AWS_DEFAULT_PROFILE": "legacy",
    "AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/Oidc",
    "AWS_ROLE_SESSION_NAME": "oidc",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/var/run/container-token",
    "AWS_CREDENTIAL_FILE": "/old/credential-file",
    "BOTO_CONFIG": "/old/boto.cfg",
    "AWS_SDK_LOAD_CONFIG": "1",
    "AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key",
    "AWS_BEARER_TOKEN_SOMETHING_NEW": "another-api-key",
}
# Set before, replaced by the export's values.
OVERWRITTEN = {
    "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
    "AWS_SESSION_TOKEN": "old-session-token",
    "AWS_CREDENTIAL_EXPIRATION": "2020-01-01T00:00:00Z",
    "AWS_REGION": "eu-north-1",
    "AWS_ACCOUNT_ID": "999999999999",  # another account's: never paired with the role's keys
    "AWSRUN_ASSUMED_ROLE_ARN": f"arn:aws:sts::{ACCOUNT}:assumed-role/Old/s",
}
# awsrun's settings, and the shared-credentials file and metadata switches a later switch needs.
LEFT_ALONE = {
    "AWSRUN_ROLE": ROLE_A,
    "AWSRUN_NO_CACHE": "true",
    "AWS_SHARED_CREDENTIALS_FILE": "/home/u/.aws/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/home/u/.aws/config",
    "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1",
    "AWS_CA_BUNDLE": "/etc/ssl/bundle.pem",
    "NOT_AWS": "untouched",
}


# The settings among those an export replaces: --unset gives them back as they were.
GIVEN_BACK = {name: {**OTHER_CREDENTIALS, **OVERWRITTEN}[name] for name in (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_CREDENTIAL_FILE", "BOTO_CONFIG", "AWS_SDK_LOAD_CONFIG", "AWS_REGION",
    "AWS_ACCOUNT_ID")}


def given_back(before: Dict[str, str]) -> Dict[str, str]:
    return {name: value for name, value in GIVEN_BACK.items() if before.get(name) == value}


def record(env: Dict[str, str]) -> Dict[str, str]:
    """The record of what --unset gives back, taken out of ``env`` (an export's result)."""
    return json.loads(env.pop(output.SAVED_VARIABLE))


def shell_before(home: Path) -> Dict[str, str]:
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": "C.UTF-8"}
    return {**base, **OTHER_CREDENTIALS, **OVERWRITTEN, **LEFT_ALONE}


def relevant(env: Dict[str, str], before: Dict[str, str]) -> Dict[str, str]:
    """What a test compares: the variables set before and every AWS one (shell noise like PWD left out)."""
    return {name: value for name, value in env.items() if name in before or name.startswith(("AWS", "BOTO"))}


# --- crafted credentials -------------------------------------------------------------------------

# Each text is put into every exported value (with a distinct prefix so fields cannot be swapped).
VALUES = [
    ("plain", "AbC/123+xyz="),
    ("single-quotes", "it's 'quoted' ''"),
    ("quote-at-ends", "'x'"),
    ("double-quotes", 'say "hi" ""'),
    ("dollar", "$HOME ${HOME} $(id) $$ $1"),
    ("backticks", "`id` ``"),
    ("backslashes", "a\\b \\\\ \\' \\n \\\""),
    ("trailing-backslash", "x\\"),
    ("spaces-semicolons", "  a b;  rm -rf x ; "),
    ("glob-and-fish", "* ? [a] {a,b} ~ (echo hi) %self #c"),
    ("shell-operators", "a && b || c | d > e < f & !x"),
    ("equals-and-dashes", "-n --x=y"),
    ("newline-and-tab", "line1\nline2\tend"),
    ("non-ascii", "é€ñ"),
    # PowerShell's tokenizer takes U+2018..U+201B for single quotes too.
    ("typographic-quotes", "a\u2019b \u2018c\u201a\u201b"),
]
EXPIRATION = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def crafted(text: str) -> Tuple[Credentials, str, Dict[str, str]]:
    """Credentials and a region holding ``text``, and the environment an export must give."""
    credentials = Credentials(
        access_key_id=f"ASIA{text}",
        secret_access_key=f"secret{text}secret",
        session_token=f"{text}token{text}",
        expiration=EXPIRATION,
        assumed_role_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/R/{text}",
    )
    region = f"us-{text}-1"
    expected = {
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_SESSION_TOKEN": credentials.session_token,
        "AWS_CREDENTIAL_EXPIRATION": "2031-02-03T04:05:06Z",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCOUNT_ID": ACCOUNT,
        "AWSRUN_ASSUMED_ROLE_ARN": credentials.assumed_role_arn,
        "AWSRUN_ASSUMED_KEY_ID": credentials.access_key_id,
    }
    return credentials, region, expected


# --- real shells ---------------------------------------------------------------------------------

_POSIX_EVAL = 'eval "$(cat "$1")" || exit 97; exec env -0'


def _shell(name: str, argv: List[str], fmt: str) -> object:
    missing = shutil.which(argv[0]) is None
    return pytest.param(argv, fmt, id=name, marks=pytest.mark.skipif(missing, reason=f"{argv[0]} is not installed"))


SHELLS = [
    _shell("sh", ["sh", "-c", _POSIX_EVAL, "sh"], "sh"),
    _shell("bash", ["bash", "-c", _POSIX_EVAL, "bash"], "sh"),
    _shell("bash-posix", ["bash", "--posix", "-c", _POSIX_EVAL, "bash"], "sh"),
    _shell("dash", ["dash", "-c", _POSIX_EVAL, "dash"], "sh"),
    _shell("fish", ["fish", "--no-config", "-c", "source $argv[1]; or exit 97; exec env -0"], "fish"),
]


def evaluate(argv: List[str], text: str, before: Dict[str, str], tmp_path: Path) -> Dict[str, str]:
    """The environment a shell has after evaluating ``text`` (it must say nothing on stderr)."""
    script = tmp_path / "lines"
    script.write_text(text, encoding="utf-8")
    result = subprocess.run([*argv, str(script)], env=before, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    # 97: the shell read the lines, but they left a non-zero status (`... | source; and ...` fails).
    assert (result.returncode, result.stderr.decode()) == (0, ""), f"{argv[0]} exited {result.returncode}"
    pairs = [item.split("=", 1) for item in result.stdout.decode("utf-8").split("\0") if item]
    return dict(pairs)


@pytest.mark.parametrize("argv, fmt", SHELLS)
@pytest.mark.parametrize("text", [text for _, text in VALUES], ids=[name for name, _ in VALUES])
def test_export_evaluated_by_the_shell_gives_exactly_the_values(argv: List[str], fmt: str, text: str, tmp_path: Path) -> None:
    credentials, region, expected = crafted(text)
    before = shell_before(tmp_path)
    lines = output.export_lines(credentials, region, fmt, before)
    after = evaluate(argv, lines, before, tmp_path)
    base = {name: before[name] for name in ("PATH", "HOME", "LC_ALL")}
    assert record(after) == GIVEN_BACK
    assert relevant(after, before) == {**base, **LEFT_ALONE, **expected}


@pytest.mark.parametrize("argv, fmt", SHELLS)
def test_evaluating_an_export_succeeds_where_nothing_is_to_remove(argv: List[str], fmt: str, tmp_path: Path) -> None:
    # `awsrun --export --format fish | source; and aws ...`: the lines must end with status 0 in a
    # shell that has none of the variables they remove (the usual case).
    credentials, region, expected = crafted("x")
    before = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    after = evaluate(argv, output.export_lines(credentials, region, fmt, before), before, tmp_path)
    assert record(after) == {}
    assert relevant(after, before) == {**before, **expected}


@pytest.mark.parametrize("argv, fmt", SHELLS)
def test_unset_after_export_removes_every_exported_name(argv: List[str], fmt: str, tmp_path: Path) -> None:
    credentials, region, _ = crafted("it's $HOME")
    before = {**shell_before(tmp_path), "AWS_PROFILE": "it's $HOME `id` \\ \n"}
    exported = evaluate(argv, output.export_lines(credentials, region, fmt, before), before, tmp_path)
    after = evaluate(argv, output.unset_lines(fmt, exported), exported, tmp_path)
    base = {name: before[name] for name in ("PATH", "HOME", "LC_ALL")}
    # The settings the export replaced are back; its keys are gone, and so are the keys it replaced.
    assert relevant(after, before) == {**base, **LEFT_ALONE, **GIVEN_BACK, "AWS_PROFILE": before["AWS_PROFILE"]}


def test_export_removes_what_exec_removes_except_awsrun_settings() -> None:
    credentials, region, expected = crafted("x")
    before = {**OTHER_CREDENTIALS, **OVERWRITTEN, **LEFT_ALONE}
    exec_env = environment.child_environment(before, credentials, region, block_fallbacks=False)
    exec_removed = {name for name in before if name not in exec_env and not name.startswith("AWSRUN_")}
    text = output.export_lines(credentials, region, "sh", before)
    unset = {line.split()[1] for line in text.splitlines() if line.startswith("unset ")}
    assert unset & set(before) == exec_removed == set(OTHER_CREDENTIALS)
    assert unset.isdisjoint(EXPORTED) and unset.isdisjoint(LEFT_ALONE)
    assert {name: exec_env[name] for name in EXPORTED} == expected
    assert output.exported_names() == EXPORTED


# --- PowerShell, modelled --------------------------------------------------------------------------

_PS_QUOTES = "'\u2018\u2019\u201a\u201b"  # every character PowerShell's tokenizer takes for a single quote
_PS_SET = re.compile(r"\$env:([A-Za-z_][A-Za-z0-9_]*) = ")
_PS_REMOVE = re.compile(r"Remove-Item Env:([A-Za-z_][A-Za-z0-9_]*) -ErrorAction SilentlyContinue\n")


def parse_powershell(text: str) -> List[Tuple[str, ...]]:
    """awsrun's PowerShell lines as PowerShell reads them: ('set', name, value) or ('remove', name).

    A verbatim string ends at a lone single-quote character; two in a row stand for the second.
    """
    statements: List[Tuple[str, ...]] = []
    i = 0
    while i < len(text):
        removal = _PS_REMOVE.match(text, i)
        if removal:
            statements.append(("remove", removal[1]))
            i = removal.end()
            continue
        head = _PS_SET.match(text, i)
        assert head and text[head.end()] in _PS_QUOTES, f"not a statement awsrun writes: {text[i:i + 60]!r}"
        i, value = head.end() + 1, []
        while True:
            assert i < len(text), "unterminated string"
            if text[i] in _PS_QUOTES:
                if i + 1 < len(text) and text[i + 1] in _PS_QUOTES:
                    value.append(text[i + 1])
                    i += 2
                    continue
                i += 1
                break
            value.append(text[i])
            i += 1
        assert text[i:i + 1] == "\n", f"PowerShell would read more after the string: {text[i:i + 60]!r}"
        statements.append(("set", head[1], "".join(value)))
        i += 1
    return statements


def apply_powershell(statements: List[Tuple[str, ...]], env: Dict[str, str]) -> Dict[str, str]:
    env = dict(env)
    for statement in statements:
        if statement[0] == "set":
            env[statement[1]] = statement[2]
        else:
            env.pop(statement[1], None)
    return env


@pytest.mark.parametrize("text", [text for _, text in VALUES], ids=[name for name, _ in VALUES])
def test_powershell_export_round_trips(text: str) -> None:
    credentials, region, expected = crafted(text)
    before = {**OTHER_CREDENTIALS, **OVERWRITTEN, **LEFT_ALONE}
    statements = parse_powershell(output.export_lines(credentials, region, "powershell", before))
    after = apply_powershell(statements, before)
    assert record(after) == GIVEN_BACK
    assert after == {**LEFT_ALONE, **expected}
    assert [s[1] for s in statements if s[0] == "set"] == [*EXPORTED, output.SAVED_VARIABLE]


def test_powershell_unset_removes_every_exported_name() -> None:
    credentials, region, _ = crafted("it's")
    before = {**OTHER_CREDENTIALS, **LEFT_ALONE}
    exported = apply_powershell(parse_powershell(output.export_lines(credentials, region, "powershell", before)), before)
    statements = parse_powershell(output.unset_lines("powershell", exported))
    assert statements[:len(EXPORTED) + 1] == [("remove", name) for name in (*EXPORTED, output.SAVED_VARIABLE)]
    assert apply_powershell(statements, exported) == {**LEFT_ALONE, **given_back(before)}


# --- dotenv, read back by python-dotenv ------------------------------------------------------------

@pytest.mark.parametrize("text", [text for _, text in VALUES], ids=[name for name, _ in VALUES])
def test_dotenv_export_round_trips(text: str) -> None:
    credentials, region, expected = crafted(text)
    if text.endswith("\\"):  # python-dotenv cannot read this back: refused, never written wrong
        with pytest.raises(ValueError, match="backslash"):
            output.export_lines(credentials, region, "dotenv", {})
        return
    lines = output.export_lines(credentials, region, "dotenv", {**OTHER_CREDENTIALS, **OVERWRITTEN})
    parsed = dotenv_values(stream=io.StringIO(lines), interpolate=False)
    assert list(parsed.items()) == list(expected.items())  # no unset lines: a .env cannot remove


def test_dotenv_has_no_unset_form() -> None:
    with pytest.raises(ValueError):
        output.unset_lines("dotenv")


# --- out of process: the AWS CLI takes what awsrun prints (moto) --------------------------------------

def assumed_arn(role: str = "Deploy", session: str = "itest") -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"


# The AWS CLI is not in the test extra; where it is missing, the tests that run it are skipped.
_AWSRUN_FN = 'awsrun() { "$PY" -m awsrun "$@"; }\n'
EVAL_IN_SHELL = [
    pytest.param(["bash", "-c", _AWSRUN_FN + 'eval "$(awsrun -r "$ROLE" -s itest --no-cache --export)" || exit 97\n'
                  "exec aws sts get-caller-identity --output json"], id="bash"),
    pytest.param(["fish", "--no-config", "-c", 'function awsrun; $PY -m awsrun $argv; end\n'
                  "awsrun -r $ROLE -s itest --no-cache --export --format fish | source\n"
                  "test $pipestatus[1] = 0; or exit 97\n"
                  "exec aws sts get-caller-identity --output json"], id="fish",
                 marks=pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")),
]


@needs_aws_cli
@pytest.mark.parametrize("argv", EVAL_IN_SHELL)
def test_evaluated_export_gives_the_aws_cli_the_role(argv: List[str], source_env: Dict[str, str]) -> None:
    env = {**os.environ, **source_env, "PY": sys.executable, "ROLE": ROLE_ARN}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == assumed_arn()


def test_credential_process_json(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["-r", ROLE_ARN, "-s", "itest", "--no-cache", "--credential-process"], env=source_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    document = json.loads(result.stdout)
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"}
    assert document["AccountId"] == ROLE_ARN.split(":")[4]  # the role's account, as text (SDKs want a string)
    assert type(document["Version"]) is int and document["Version"] == 1
    assert ISO_8601_Z.fullmatch(document["Expiration"])
    assert datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00")) > datetime.now(timezone.utc)
    assert document["AccessKeyId"] != SOURCE_KEY_ID
    assert document["SecretAccessKey"] not in result.stderr and document["SessionToken"] not in result.stderr


@needs_aws_cli
def test_aws_cli_profile_with_credential_process(source_env: Dict[str, str]) -> None:
    command = shlex.join([sys.executable, "-m", "awsrun", "--role", ROLE_ARN, "-s", "itest",
                          "--credential-process", "--no-cache"])
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile via-awsrun]\ncredential_process = {command}\nregion = us-east-1\n")
    result = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--profile", "via-awsrun", "--output", "json"],
        env={**os.environ, **source_env}, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == assumed_arn()


# --- out of process: streams, usage errors, --unset (fake STS) ------------------------------------------

def fake_env(sts: FakeSts, **extra: str) -> Dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
            "AWS_ENDPOINT_URL_STS": sts.url, **extra}


@pytest.mark.parametrize(
    "mode",
    [["--export"], ["--export", "--format", "fish"], ["--export", "--format", "powershell"],
     ["--export", "--format", "dotenv"], ["--credential-process"]],
    ids=["sh", "fish", "powershell", "dotenv", "credential-process"],
)
def test_secrets_go_to_stdout_only(mode: List[str]) -> None:
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "--no-cache", "-v", *mode], env=fake_env(sts))
    assert result.returncode == 0, result.stderr
    assert "assumed" in result.stderr  # stderr does speak (-v), just never a secret
    for secret in (ISSUED_SECRET, ISSUED_TOKEN):
        assert secret in result.stdout and secret not in result.stderr
    assert SOURCE_SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("mode", ["--export", "--credential-process", "--unset"])
@pytest.mark.parametrize("command", [["true"], ["--", "echo", "hi"]], ids=["command", "dashdash-command"])
def test_output_mode_with_a_command_is_a_usage_error(mode: str, command: List[str]) -> None:
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "--no-cache", mode, *command], env=fake_env(sts))
    assert (result.returncode, result.stdout) == (125, "")
    assert len(result.stderr.splitlines()) == 1 and mode in result.stderr
    assert sts.requests == []


def test_unset_has_no_dotenv_form() -> None:
    result = run_awsrun(["--unset", "--format", "dotenv"])
    assert (result.returncode, result.stdout) == (125, "")
    assert len(result.stderr.splitlines()) == 1 and "dotenv" in result.stderr


@pytest.mark.parametrize(
    "args, extra, fmt",
    [(["--unset"], {}, "sh"), (["--unset", "--format", "fish"], {}, "fish"),
     (["--unset", "--format", "powershell"], {}, "powershell"), (["--unset"], {"AWSRUN_FORMAT": "fish"}, "fish"),
     ([], {"AWSRUN_UNSET": "true"}, "sh")],
    ids=["sh", "fish", "powershell", "format-from-env", "unset-from-env"],
)
def test_unset_needs_no_role_and_calls_no_sts(args: List[str], extra: Dict[str, str], fmt: str) -> None:
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(args, env={"AWS_ENDPOINT_URL_STS": sts.url, **extra})
    assert (result.returncode, result.stdout, result.stderr) == (0, output.unset_lines(fmt), "")
    assert sts.requests == []


_PROBE = """
import io, json, sys
from awsrun.cli import main
out, err = io.StringIO(), io.StringIO()
status = main(sys.argv[1:], {"AWS_ENDPOINT_URL_STS": %r}, stdout=out, stderr=err)
print(json.dumps({"status": status, "stdout": out.getvalue(),
                  "botocore": sorted(m for m in sys.modules if m.split(".")[0] == "botocore")}))
"""


def test_unset_imports_no_botocore() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE % closed_port_url(), "--unset", "--format", "fish"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"status": 0, "stdout": output.unset_lines("fish"), "botocore": []}


# --- switching context: which key signs each AssumeRole (fake STS) -------------------------------------

def issuing(n: int) -> Reply:
    """An AssumeRole answer issuing key ASIAISSUEDBYFAKE000<n>, so each request's signer is traceable."""
    credentials = (
        f"<Credentials><AccessKeyId>{issued_key(n)}</AccessKeyId><SecretAccessKey>issuedSecret{n}</SecretAccessKey>"
        f"<SessionToken>issuedToken{n}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
        f"<AssumedRoleUser><AssumedRoleId>AROAFAKE:itest</AssumedRoleId>"
        f"<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/Issued{n}/itest</Arn></AssumedRoleUser>"
    )
    body = (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<AssumeRoleResult>{credentials}</AssumeRoleResult>"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"
    )
    return Reply(body=body)


def issued_key(n: int) -> str:
    return f"ASIAISSUEDBYFAKE000{n}"


def signer(authorization: str) -> str:
    found = re.search(r"Credential=([A-Z0-9]+)/", authorization)
    assert found, authorization
    return found[1]


def put_source(where: str) -> Dict[str, str]:
    """Put the source keys in the shared credentials file, .env, or the environment (returned)."""
    if where == "file":
        Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
            f"[default]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n")
    elif where == "dotenv":
        Path(".env").write_text(f"AWS_ACCESS_KEY_ID={DOTENV_KEY_ID}\nAWS_SECRET_ACCESS_KEY=dotenvSecret\n")
        trust_env_file()
    else:
        return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
    return {}


def in_one_shell(steps: Sequence[Sequence[str]], env: Dict[str, str], last: Optional[Sequence[str]] = None) -> subprocess.CompletedProcess:
    """bash evaluates each step's export in turn, then runs ``last`` in its place (or prints its environment)."""
    lines = [_AWSRUN_FN]
    for number, step in enumerate(steps):
        args = shlex.join(["--no-cache", "-s", "itest", *step, "--export"])
        lines.append(f'eval "$(awsrun {args} 2>/dev/null)" || exit {90 + number}\n')
    lines.append(f"exec {shlex.join(last)}\n" if last else "exec env -0\n")
    return subprocess.run(["bash", "-c", "".join(lines)], env={**os.environ, **env, "PY": sys.executable},
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


SOURCE = "source"
SWITCHES = [
    # id, where the source keys are, the awsrun runs of one shell, (role, signer) of each request
    ("switch-and-back", "file", [["-r", ROLE_A], ["-r", ROLE_B], ["-r", ROLE_A]],
     [(ROLE_A, SOURCE), (ROLE_B, SOURCE), (ROLE_A, SOURCE)]),
    ("switch-from-dotenv-source", "dotenv", [["-r", ROLE_A], ["-r", ROLE_B]],
     [(ROLE_A, DOTENV_KEY_ID), (ROLE_B, DOTENV_KEY_ID)]),
    ("chain-from-switched-shell", "file", [["-r", ROLE_A], ["-r", ROLE_A, "-r", ROLE_B]],
     [(ROLE_A, SOURCE), (ROLE_A, SOURCE), (ROLE_B, issued_key(2))]),
    ("chain-plain", "env", [["-r", ROLE_A, "-r", ROLE_B]], [(ROLE_A, SOURCE), (ROLE_B, issued_key(1))]),
]


@pytest.mark.parametrize("where, steps, expected", [row[1:] for row in SWITCHES], ids=[row[0] for row in SWITCHES])
def test_switching_assumes_from_the_original_source(where: str, steps: List[List[str]],
                                                    expected: List[Tuple[str, str]]) -> None:
    with FakeSts([issuing(n) for n in range(1, 6)]) as sts:
        result = in_one_shell(steps, {"AWS_ENDPOINT_URL_STS": sts.url, **put_source(where)})
    assert result.returncode == 0, result.stderr.decode()
    signed = [(r.form["RoleArn"], signer(r.authorization)) for r in sts.requests]
    assert signed == [(role, SOURCE_KEY_ID if key == SOURCE else key) for role, key in expected]
    env = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if item)
    last = issued_key(len(expected))
    assert (env["AWS_ACCESS_KEY_ID"], env["AWSRUN_ASSUMED_KEY_ID"]) == (last, last)
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Issued{len(expected)}/itest"


@pytest.mark.parametrize(
    "mode", [["--export"], ["--credential-process"], ["--", sys.executable, "-c", "pass"]],
    ids=["export", "credential-process", "exec"],
)
def test_switching_with_no_other_source_refuses(mode: List[str]) -> None:
    with FakeSts([issuing(n) for n in range(1, 4)]) as sts:
        result = in_one_shell([["-r", ROLE_A]], {"AWS_ENDPOINT_URL_STS": sts.url, **put_source("env")},
                              last=[sys.executable, "-m", "awsrun", "--no-cache", "-r", ROLE_B, *mode])
    stderr = result.stderr.decode()
    assert (result.returncode, result.stdout) == (125, b"")
    assert len(stderr.splitlines()) == 1
    assert "awsrun's own session" in stderr and "--role twice" in stderr
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/Issued1/itest" in stderr  # whose session it is
    assert [r.form["RoleArn"] for r in sts.requests] == [ROLE_A]  # no AssumeRole with awsrun's own keys
    assert "issuedSecret" not in stderr


# Whether the environment's keys are awsrun's own session decides; only an exact match is.
MARKERS = [
    ("issued-session", {"AWS_ACCESS_KEY_ID": issued_key(9), "AWSRUN_ASSUMED_KEY_ID": issued_key(9),
                        "AWSRUN_ASSUMED_ROLE_ARN": assumed_arn("Alpha")}, SOURCE_KEY_ID),
    ("user-changed-keys", {"AWS_ACCESS_KEY_ID": OTHER_KEY_ID, "AWSRUN_ASSUMED_KEY_ID": issued_key(9),
                           "AWSRUN_ASSUMED_ROLE_ARN": assumed_arn("Alpha")}, OTHER_KEY_ID),
    ("no-role-marker", {"AWS_ACCESS_KEY_ID": OTHER_KEY_ID, "AWSRUN_ASSUMED_KEY_ID": OTHER_KEY_ID}, OTHER_KEY_ID),
    ("empty-role-marker", {"AWS_ACCESS_KEY_ID": OTHER_KEY_ID, "AWSRUN_ASSUMED_KEY_ID": OTHER_KEY_ID,
                           "AWSRUN_ASSUMED_ROLE_ARN": ""}, OTHER_KEY_ID),
]


@pytest.mark.parametrize("env, expected", [row[1:] for row in MARKERS], ids=[row[0] for row in MARKERS])
def test_which_environment_keys_count_as_a_source(env: Dict[str, str], expected: str) -> None:
    put_source("file")
    with FakeSts([issuing(1)]) as sts:
        result = run_awsrun(["-r", ROLE_B, "--no-cache", "--export"],
                            env={"AWS_ENDPOINT_URL_STS": sts.url, "AWS_SECRET_ACCESS_KEY": "envSecret", **env})
    assert result.returncode == 0, result.stderr
    assert [signer(r.authorization) for r in sts.requests] == [expected]


# --- --unset gives back the settings --export replaced, never the keys (moto, real shells) ------------

_POSIX_ROUND_TRIP = (
    'awsrun() { "$PY" -m awsrun "$@"; }\n'
    'eval "$(awsrun -r "$ROLE" -s itest --region us-east-1 --no-cache --export)" || exit 97\n'
    'env > "$1.exported"\n'  # newline-separated is enough here: the values are plain
    'eval "$(awsrun --unset)" || exit 98\n'
    'env > "$1.unset"\n'
)
_FISH_ROUND_TRIP = (
    'function awsrun; $PY -m awsrun $argv; end\n'
    'awsrun -r $ROLE -s itest --region us-east-1 --no-cache --export --format fish | source; or exit 97\n'
    'env > $argv[1].exported\n'
    'awsrun --unset --format fish | source; or exit 98\n'
    'env > $argv[1].unset\n'
)
ROUND_TRIP_SHELLS = [
    _shell("sh", ["sh", "-c", _POSIX_ROUND_TRIP, "sh"], "sh"),
    _shell("bash", ["bash", "--norc", "--noprofile", "-c", _POSIX_ROUND_TRIP, "bash"], "sh"),
    _shell("dash", ["dash", "-c", _POSIX_ROUND_TRIP, "dash"], "sh"),
    _shell("fish", ["fish", "--no-config", "-c", _FISH_ROUND_TRIP], "fish"),
]


@pytest.mark.parametrize("argv, fmt", ROUND_TRIP_SHELLS)
def test_unset_gives_back_the_shells_settings_but_not_its_keys(argv: List[str], fmt: str, source_env: Dict[str, str],
                                                               tmp_path: Path) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[profile dev]\nregion = eu-west-1\n")
    mine = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_PROFILE": "dev"}
    env = {**os.environ, **source_env, **mine, "PY": sys.executable, "ROLE": ROLE_ARN}
    result = subprocess.run([*argv, str(tmp_path / "env")], env=env, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr

    def read(step: str) -> Dict[str, str]:
        lines = (tmp_path / f"env.{step}").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    exported, after = read("exported"), read("unset")
    assert (exported["AWS_REGION"], exported["AWS_DEFAULT_REGION"]) == ("us-east-1", "us-east-1")
    assert "AWS_PROFILE" not in exported and exported["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert {name: after.get(name) for name in mine} == mine  # the shell's own settings are back
    aws = {name for name in after if name.startswith(("AWS_", "AWSRUN_"))}
    assert aws == {name for name in env if name.startswith(("AWS_", "AWSRUN_"))} - set(environment.REMOVED) | {"AWS_PROFILE"}
    # Neither the source keys the export replaced nor the session's keys are in any variable.
    secrets = (SOURCE_KEY_ID, SOURCE_SECRET, exported["AWS_ACCESS_KEY_ID"], exported["AWS_SECRET_ACCESS_KEY"],
               exported["AWS_SESSION_TOKEN"])
    assert [name for name, value in after.items() if any(secret in value for secret in secrets)] == []
    assert [name for name, value in exported.items() if SOURCE_SECRET in value or SOURCE_KEY_ID in value] == []


@pytest.mark.parametrize("argv, fmt", SHELLS)
def test_unset_after_switching_roles_gives_back_the_shell_before_the_first_export(argv: List[str], fmt: str,
                                                                                   tmp_path: Path) -> None:
    before = shell_before(tmp_path)
    first = evaluate(argv, output.export_lines(crafted("a")[0], "us-east-1", fmt, before), before, tmp_path)
    second = evaluate(argv, output.export_lines(crafted("b")[0], "eu-west-3", fmt, first), first, tmp_path)
    after = evaluate(argv, output.unset_lines(fmt, second), second, tmp_path)
    base = {name: before[name] for name in ("PATH", "HOME", "LC_ALL")}
    assert relevant(after, before) == {**base, **LEFT_ALONE, **GIVEN_BACK}


@pytest.mark.parametrize("saved", ['{"AWS_ACCESS_KEY_ID":"AKIAPLANTED","PATH":"/evil","AWS_REGION":7}', "not json", "[]"])
def test_a_record_restores_only_named_settings(saved: str) -> None:
    lines = output.unset_lines("sh", {output.SAVED_VARIABLE: saved})
    assert lines == output.unset_lines("sh")
    assert not [line for line in lines.splitlines() if not line.startswith("unset ")]
