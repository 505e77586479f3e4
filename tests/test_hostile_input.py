"""Hostile input, property-based: every bad value is one line and 125, and never reaches STS.

1. cli.main in-process, with botocore's Source and the STS calls replaced by recorders, so
   nothing leaves the process: arbitrary text as every option's value. The rules of role ARN,
   session name, duration, MFA code, external id, source identity and inline policy are
   restated here as independent oracles, and awsrun must agree with them both ways.
2. .env files: arbitrary bytes and lines, no interpolation from awsrun's environment, and no
   way for a value to become an option or an argument of the command.
3. ~/.aws/config: generated INI (garbage, duplicates, loops, nested values) against a real
   awsrun process whose STS is a closed 127.0.0.1 port.
4. Locally invalid values against a real awsrun process and tests/fake_sts.py: zero requests;
   and a table of the hostile inputs the properties found getting past the local checks.

Helpers
-------
``Offline`` (fixture ``offline``) records the STS calls and execs of an in-process run;
``invoke`` runs cli.main and returns an ``Outcome``; ``assert_refused`` / ``assert_proceeded``
state the two allowed results.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from awsrun import cli
from awsrun.credentials import Credentials
from tests.conftest import SOURCE_KEY_ID, SOURCE_SECRET, trust_env_file
from tests.fake_sts import FakeSts, assume_role_ok, closed_port_url

ROLE = "arn:aws:iam::123456789012:role/Deploy"
MFA_DEVICE = "arn:aws:iam::123456789012:mfa/alice"
COMMAND = ["true"]
FIXTURES = [HealthCheck.function_scoped_fixture]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES)
# Out of process each example is a Python start (~0.2 s): no shrinking, which could take minutes.
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES,
                phases=[Phase.explicit, Phase.reuse, Phase.generate])

# --- the rules, restated independently of awsrun/config/validate.py -----------------------------------
# From the usage text and validate.py's messages: all ASCII, so [A-Za-z0-9_] and never \w or \d.

PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
NAME_CHAR = r"[A-Za-z0-9_+=,.@-]"
IAM_PATH = r"(?:[!-~]*/)?"  # IAM: printable ASCII between slashes, at most 512 with the leading /
FULL_ROLE = rf"arn:(?P<partition>{'|'.join(map(re.escape, PARTITIONS))}):iam::(?P<account>[0-9]{{12}}):role/" \
            rf"(?P<path>{IAM_PATH})(?P<name>{NAME_CHAR}{{1,64}})"
# ACCOUNT:NAME; like the ARN it may spell role/ and a path.
SHORT_ROLE = rf"(?P<account>[0-9]{{12}}):(?:role/)?(?P<path>{IAM_PATH})(?P<name>{NAME_CHAR}{{1,64}})"
SESSION_NAME = rf"{NAME_CHAR}{{2,64}}"
EXTERNAL_ID = r"[A-Za-z0-9_+=,.@:/-]{2,1224}"
MFA_CODE = r"[0-9]{6}"
DEFAULT_PARTITION = "aws"  # of us-east-1, the region when none is configured


def expected_role_arn(value: str) -> Optional[str]:
    """The ARN awsrun must send for ``value`` with the default region, or None if it must refuse."""
    full = re.fullmatch(FULL_ROLE, value)
    match = full or re.fullmatch(SHORT_ROLE, value)
    if not match or len("/" + match["path"]) > 512:
        return None
    if full:
        return value if full["partition"] == DEFAULT_PARTITION else None  # wrong partition for us-east-1
    return f"arn:{DEFAULT_PARTITION}:iam::{match['account']}:role/{match['path']}{match['name']}"


def session_name_ok(value: str) -> bool:
    return re.fullmatch(SESSION_NAME, value) is not None


def duration_seconds(value: str) -> Optional[int]:
    """900 to 43200 seconds: ASCII digits (no sign, space, underscore or other script), or
    ASCII-digit hours, minutes and seconds in that order, each at most 6 digits (1h30m, 15m)."""
    units = re.fullmatch(r"(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,6})s)?", value)
    if re.fullmatch(r"[0-9]+", value):
        seconds = int(value) if len(value.lstrip("0")) <= 6 else 0
    elif value and units:
        seconds = sum(int(part or 0) * scale for part, scale in zip(units.groups(), (3600, 60, 1)))
    else:
        return None
    return seconds if 900 <= seconds <= 43200 else None


def mfa_code_ok(value: str) -> bool:
    return re.fullmatch(MFA_CODE, value) is not None


def external_id_ok(value: str) -> bool:
    return re.fullmatch(EXTERNAL_ID, value) is not None


def source_identity_ok(value: str) -> bool:
    return session_name_ok(value) and not value.lower().startswith("aws:")


def compact_policy(value: str) -> Optional[str]:
    """Strict JSON (RFC 8259: no NaN or Infinity) holding an object, at most 2048 characters compacted."""

    def not_json(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        document = json.loads(value, parse_constant=not_json)
        compact = json.dumps(document, separators=(",", ":"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    return compact if len(compact) <= 2048 else None


# --- in-process harness ---------------------------------------------------------------------------


class StsCall(NamedTuple):
    action: str
    request: Any  # AssumeRoleRequest, or the MFA serial for GetSessionToken
    token_code: Optional[str]


class Offline:
    """Records what an in-process run asked of STS and what it exec'd."""

    def __init__(self) -> None:
        self.sts: List[StsCall] = []
        self.execs: List[Tuple[List[str], Dict[str, str]]] = []

    def reset(self) -> None:
        self.sts.clear()
        self.execs.clear()

    def exec_command(self, argv: Sequence[str], environ: Mapping[str, str]) -> None:
        self.execs.append((list(argv), dict(environ)))

    def assume_role(self, client: Any, request: Any, token_code: Optional[str] = None) -> Credentials:
        self.sts.append(StsCall("AssumeRole", request, token_code))
        return _issued()

    def get_session_token(self, client: Any, serial: str, code: str, *args: Any, **kwargs: Any) -> Credentials:
        self.sts.append(StsCall("GetSessionToken", serial, code))
        return _issued()


def _issued() -> Credentials:
    return Credentials("ASIAHOSTILETESTS0001", "hostile-secret", "hostile-token",
                       datetime.now(timezone.utc) + timedelta(hours=1),
                       "arn:aws:sts::123456789012:assumed-role/Deploy/session")


class FakeSource:
    """Stands in for awsrun.session.source.Source: source credentials that need no botocore and no files."""

    def __init__(self, dotenv_credentials: Mapping[str, str], issued_role: Optional[str] = None,
                 profile: Optional[str] = None) -> None:
        pass

    def profiles(self) -> Mapping[str, Mapping[str, Any]]:
        return {}

    def use(self, profile: Optional[str] = None, keys: Any = None, provider: Optional[str] = None) -> None:
        pass

    def configured_region(self) -> Optional[str]:
        return None

    def scoped_config(self) -> Mapping[str, Any]:
        return {}

    def describe(self) -> str:
        return "fake source (****0001)"

    def client(self, region: str, connect_timeout: float, read_timeout: float, credentials: Any = None) -> Any:
        return object()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Offline:
    """Nothing of an in-process run leaves the process; no terminal to ask an MFA code on."""
    recorder = Offline()
    monkeypatch.setattr("awsrun.session.source.Source", FakeSource)
    monkeypatch.setattr("awsrun.session.sts.assume_role", recorder.assume_role)
    monkeypatch.setattr("awsrun.session.sts.get_session_token", recorder.get_session_token)
    monkeypatch.setattr("awsrun.session.mfa.has_terminal", lambda: False)
    return recorder


class Outcome(NamedTuple):
    status: int
    out: str
    err: str


def base_environ(**extra: str) -> Dict[str, str]:
    """A small environment: PATH, the isolated HOME, CI (so no cache), no debug, no refresh."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ["HOME"],
        "CI": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
        # Pinned in the environment (which beats .env): tracebacks are --debug's job, more lines
        # --verbose's, and --refresh would run the command as a real child, not through the fake.
        "AWSRUN_DEBUG": "0",
        "AWSRUN_VERBOSE": "0",
        "AWSRUN_REFRESH": "0",
        **extra,
    }


def invoke(offline: Offline, argv: Sequence[str], environ: Optional[Dict[str, str]] = None) -> Outcome:
    offline.reset()
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), environ if environ is not None else base_environ(),
                      stdout=out, stderr=err, exec_command=offline.exec_command)
    return Outcome(int(status), out.getvalue(), err.getvalue())


def assert_refused(outcome: Outcome, offline: Offline) -> str:
    """125, one clear 'awsrun: ' line, nothing on stdout, no STS call, no exec."""
    assert outcome.status == 125, outcome
    assert "Traceback" not in outcome.err, outcome.err
    # A warning about an AWSRUN_* name awsrun does not know is not part of the error.
    lines = [line for line in outcome.err.splitlines() if not line.startswith("awsrun: warning: unknown variable")]
    assert len(lines) == 1 and outcome.err.endswith("\n"), f"not one line: {outcome.err!r}"
    assert lines[0].startswith("awsrun: ") and lines[0] != "awsrun: ", lines
    assert "internal error" not in lines[0], f"an unforeseen failure, not a clear message: {lines[0]!r}"
    assert outcome.out == ""
    assert offline.sts == [], f"refused, yet STS was called: {offline.sts}"
    assert offline.execs == []
    return lines[0]


def assert_proceeded(outcome: Outcome, offline: Offline, command: Sequence[str] = COMMAND) -> Dict[str, str]:
    """0, exactly one exec of exactly ``command``, with an environment execve could take; its environment."""
    assert outcome.status == 0, outcome
    assert "Traceback" not in outcome.err
    assert len(offline.execs) == 1, offline.execs
    argv, env = offline.execs[0]
    assert argv == list(command)
    assert_execable(env)
    return env


def assert_execable(env: Mapping[str, str]) -> None:
    """What execve would refuse (NUL anywhere, '=' or nothing as a name) must have been refused before STS."""
    for name, value in env.items():
        assert name and "=" not in name and "\0" not in name, f"unusable variable name {name!r}"
        assert "\0" not in value, f"variable {name} holds a NUL byte: execve cannot pass it"


def assert_refused_or_proceeded(outcome: Outcome, offline: Offline, command: Sequence[str] = COMMAND) -> None:
    if outcome.status == 125:
        assert_refused(outcome, offline)
    elif offline.execs:
        assert_proceeded(outcome, offline, command)
    else:  # --dry-run (from .env): a plan on stdout, no STS, no exec
        assert outcome.status == 0, outcome
        assert "Traceback" not in outcome.err
        assert offline.sts == []
        assert outcome.out.splitlines()[-1].startswith("exec ")


def the_request(offline: Offline) -> Any:
    calls = [call for call in offline.sts if call.action == "AssumeRole"]
    assert len(calls) == 1, offline.sts
    return calls[-1]


# --- strategies ------------------------------------------------------------------------------------

# NUL-free (argv and environment variables cannot hold it); any other code point, controls included.
ANY_CHAR = st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))
TEXT = st.text(ANY_CHAR, max_size=80)
SOME_TEXT = TEXT.filter(bool)
ASCII_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def near(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value with one character inserted, replaced or dropped: the edges of a rule."""

    @st.composite
    def mutate(draw: Any) -> str:
        value = draw(valid)
        index = draw(st.integers(0, len(value)))
        how = draw(st.sampled_from(["insert", "replace", "drop"]))
        char = draw(st.sampled_from(list(" \t\n\r\x0b\x0c/:*?'\"$\\|~é١\u00a0\u200b-_")) | ANY_CHAR)
        if how == "insert":
            return value[:index] + char + value[index:]
        if how == "replace" and index < len(value):
            return value[:index] + char + value[index + 1:]
        return value[:index] + value[index + 1:]

    return mutate()


def rule_values(pattern: str, extra: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Arbitrary text, values matching ``pattern``, near misses of it and hand-picked edges."""
    valid = st.from_regex(pattern, fullmatch=True)
    return st.one_of(SOME_TEXT, valid, near(valid), st.sampled_from(list(extra) or [" "]))


ROLE_VALUES = rule_values(FULL_ROLE, [
    ROLE, "123456789012:Deploy", "123456789012:role/Deploy", "123456789012:role/a/b/Deploy",
    "arn:aws-cn:iam::123456789012:role/Deploy", "arn:aws:iam::12345678901:role/Deploy",
    "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/" + "x" * 65,
    "arn:aws:iam::123456789012:role/" + "p/" * 256 + "Deploy", "arn:aws:iam::123456789012:role/" + "p/" * 255 + "D",
    "arn:aws:iam::１２３456789012:role/Deploy", "arn:aws:iam::123456789012:role/Deplöy", ROLE + "\n",
    "ARN:aws:iam::123456789012:role/Deploy", "arn:aws:sts::123456789012:role/Deploy", "arn:aws:iam::aws:role/x",
]) | near(st.from_regex(SHORT_ROLE, fullmatch=True)) | st.from_regex(SHORT_ROLE, fullmatch=True)
SESSION_VALUES = rule_values(SESSION_NAME, ["a", "ab", "a" * 64, "a" * 65, "a b", "é1", "١٢", "x\n", "--"])
DURATION_VALUES = st.one_of(
    SOME_TEXT,
    st.integers(-100, 50_000).map(str),
    st.tuples(st.integers(0, 8), st.integers(0, 50_000)).map(lambda z_n: "0" * z_n[0] + str(z_n[1])),
    st.sampled_from(["900", "43200", "899", "43201", "+900", " 900", "900 ", "9_00", "٩٠٠", "９００", "900.0",
                     "1e3", "0x384", "3600\n", "-3600", "00900", "0000900", "1" + "0" * 40,
                     "15m", "14m", "1h", "12h", "12h1s", "1h30m", "90m", "3600s", "1H", "1.5h", "m", "h1"]),
)
MFA_VALUES = rule_values(MFA_CODE, ["123456", "12345", "1234567", "١٢٣٤٥٦", "12 3456", "123456\n", "abcdef",
                                    "******"])
EXTERNAL_ID_VALUES = rule_values(EXTERNAL_ID, ["ab", "a", "x" * 1224, "x" * 1225, "a b", "id:with/slash"])
SOURCE_IDENTITY_VALUES = rule_values(SESSION_NAME, ["aws:me", "AWS:me", "awsme", "ab"])

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON_DOCS = st.dictionaries(TEXT, st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=30,
), max_size=6)


@st.composite
def deep_policy(draw: Any) -> str:
    depth = draw(st.sampled_from([2, 100, 500, 900, 1000, 1100, 5000, 20_000]) | st.integers(1, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return '{"Statement":' + opener * depth + "1" + closer * depth + "}"


POLICY_VALUES = st.one_of(
    JSON_DOCS.map(json.dumps),
    JSON_DOCS.map(lambda doc: json.dumps(doc, indent=2)),  # newlines and spaces, fewer once compacted
    st.builds(lambda doc, pad: "\n \t" + json.dumps(doc) + pad, JSON_DOCS, st.sampled_from(["", " ", "\n", "x", "}"])),
    st.builds(lambda text: "{" + text, TEXT),
    deep_policy(),
    st.just('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "%s"}]}'
            % ("x" * 2000)),
    st.sampled_from(['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1,}', '{"a": 1} x', "{}", "[]",
                     '"text"', "{'a': 1}", '{"a": "\\ud800"}', '{"a":1,"a":2}', "{" * 3000]),
)

VALUE_OPTIONS = [
    "--role", "--session-name", "--duration", "--mfa-serial", "--mfa-code", "--external-id", "--source-identity",
    "--tag", "--transitive-tag", "--policy", "--policy-arn", "--region", "--connect-timeout", "--read-timeout",
    "--format", "--min-ttl", "--env-file",
]
SHORT = {"--role": "-r", "--session-name": "-s", "--duration": "-d"}


def option_args(option: str, value: str, form: str) -> List[str]:
    if form == "joined":
        return [f"{option}={value}"]
    if form == "short" and option in SHORT:
        return [SHORT[option] + value]
    return [option, value]


def with_role(option: str, args: List[str]) -> List[str]:
    """``args`` plus a valid role unless the option under test is the role; then the command."""
    role = [] if option == "--role" else [f"--role={ROLE}"]
    return ["-q", *role, *args, "--", *COMMAND]


# --- 1. in-process: arbitrary values for every option --------------------------------------------


@FAST
@given(option=st.sampled_from(VALUE_OPTIONS), value=TEXT, form=st.sampled_from(["joined", "separate", "short"]))
def test_any_text_as_any_value_is_one_line_and_125_or_proceeds(
    offline: Offline, option: str, value: str, form: str
) -> None:
    if option in ("--policy", "--env-file") and not value.lstrip().startswith("{"):
        assume(not os.path.lexists(value))  # a path: never let hypothesis name /dev/zero or a real file
    outcome = invoke(offline, with_role(option, option_args(option, value, form)))
    assert_refused_or_proceeded(outcome, offline)


@FAST
@given(value=ROLE_VALUES, layer=st.sampled_from(["flag", "environment"]))
def test_role_is_accepted_exactly_when_the_rule_allows_it(offline: Offline, value: str, layer: str) -> None:
    # AWSRUN_ROLE is a comma-separated list; a comma is a role-name character, so only the flag says it.
    assume(layer == "flag" or (value.strip() and "," not in value))
    expected = expected_role_arn(value.strip() if layer == "environment" else value)
    argv, env = (["-q", f"--role={value}", "--", *COMMAND], base_environ()) if layer == "flag" else \
        (["-q", "--", *COMMAND], base_environ(AWSRUN_ROLE=value))
    outcome = invoke(offline, argv, env)
    if expected is None:
        assert_refused(outcome, offline)
    else:
        assert_proceeded(outcome, offline)
        assert the_request(offline).request.role_arn == expected


def value_layers(option: str, value: str, layer: str) -> Tuple[List[str], Dict[str, str], str]:
    """argv and environment carrying ``value`` in ``layer``, and the value awsrun is meant to see."""
    variable = "AWSRUN_" + option.lstrip("-").upper().replace("-", "_")
    if layer != "dotenv":
        Path(".env").unlink(missing_ok=True)  # left by an earlier example
    if layer == "flag":
        return [f"{option}={value}"], base_environ(), value
    if layer == "environment":
        return [], base_environ(**{variable: value}), value
    quoted = "'" + value + "'" if "'" not in value and "\\" not in value else \
        '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    Path(".env").write_text(f"{variable}={quoted}\n", encoding="utf-8")
    trust_env_file()
    from dotenv import dotenv_values

    return [], base_environ(), dotenv_values(".env", interpolate=False).get(variable) or ""


LAYERS = st.sampled_from(["flag", "environment", "dotenv"])


@FAST
@given(value=SESSION_VALUES, layer=LAYERS)
def test_session_name_is_accepted_exactly_when_the_rule_allows_it(offline: Offline, value: str, layer: str) -> None:
    args, env, seen = value_layers("--session-name", value, layer)
    assume(seen)  # an empty variable or .env value means unset (tested apart for the flag)
    outcome = invoke(offline, with_role("--session-name", args), env)
    if not session_name_ok(seen):
        assert_refused(outcome, offline)
    else:
        assert_proceeded(outcome, offline)
        assert the_request(offline).request.session_name == seen


@FAST
@given(value=DURATION_VALUES, layer=LAYERS)
def test_duration_is_accepted_exactly_when_the_rule_allows_it(offline: Offline, value: str, layer: str) -> None:
    args, env, seen = value_layers("--duration", value, layer)
    assume(seen)
    outcome = invoke(offline, with_role("--duration", args), env)
    seconds = duration_seconds(seen)
    if seconds is None:
        assert_refused(outcome, offline)
    else:
        assert_proceeded(outcome, offline)
        assert the_request(offline).request.duration == seconds


@FAST
@given(value=MFA_VALUES, layer=LAYERS)
def test_mfa_code_is_accepted_exactly_when_the_rule_allows_it_and_never_echoed(
    offline: Offline, value: str, layer: str
) -> None:
    args, env, seen = value_layers("--mfa-code", value, layer)
    assume(seen)
    outcome = invoke(offline, with_role("--mfa-code", [f"--mfa-serial={MFA_DEVICE}", *args]), env)
    if not mfa_code_ok(seen):
        line = assert_refused(outcome, offline)
        if seen.strip("*"):
            assert repr(seen) not in line, line
    else:
        assert_proceeded(outcome, offline)
        call = the_request(offline)
        assert (call.request.mfa_serial, call.token_code) == (MFA_DEVICE, seen)


@FAST
@given(option=st.sampled_from(["--external-id", "--source-identity"]), data=st.data())
def test_external_id_and_source_identity_follow_their_rules(offline: Offline, option: str, data: st.DataObject) -> None:
    value = data.draw(EXTERNAL_ID_VALUES if option == "--external-id" else SOURCE_IDENTITY_VALUES, label="value")
    ok = external_id_ok if option == "--external-id" else source_identity_ok
    outcome = invoke(offline, with_role(option, [f"{option}={value}"]))
    if not ok(value):
        assert_refused(outcome, offline)
    else:
        assert_proceeded(outcome, offline)
        request = the_request(offline).request
        assert (request.external_id if option == "--external-id" else request.source_identity) == value


@FAST
@given(value=POLICY_VALUES, how=st.sampled_from(["inline", "file"]))
def test_policy_is_accepted_exactly_when_it_is_a_json_object_that_fits(offline: Offline, value: str, how: str) -> None:
    if how == "inline":
        assume(value.lstrip().startswith("{"))  # anything else names a file
        given_value = value
    else:
        Path("policy.json").write_text(value, encoding="utf-8", errors="surrogatepass")
        given_value = "policy.json"
    outcome = invoke(offline, with_role("--policy", [f"--policy={given_value}"]))
    expected = compact_policy(value)
    if expected is None:
        assert_refused(outcome, offline)
    else:
        assert_proceeded(outcome, offline)
        assert the_request(offline).request.policy == expected


@FAST
@given(tags=st.lists(st.one_of(
    SOME_TEXT,
    st.builds(lambda k, v: f"{k}={v}", TEXT, TEXT),
    st.builds(lambda k, v: f"{k}={v}", st.from_regex(r"[A-Za-z0-9 _.:/=+@-]{1,20}", fullmatch=True),
              st.from_regex(r"[A-Za-z0-9 _.:/=+@-]{0,20}", fullmatch=True)),
), min_size=1, max_size=55))
def test_tags_are_one_line_and_125_or_reach_sts_as_given(offline: Offline, tags: List[str]) -> None:
    outcome = invoke(offline, with_role("--tag", [f"--tag={tag}" for tag in tags]))
    assert_refused_or_proceeded(outcome, offline)
    if outcome.status == 0:
        assert len(tags) <= 50
        assert [f"{key}={value}" for key, value in the_request(offline).request.tags] == tags


@pytest.mark.parametrize("option", [
    "--role", "--duration",
    # Their rules ask for at least 2 characters; an empty flag is a value given, not "no flag":
    # awsrun must not send USER@HOST instead, or assume the role with no external id at all.
    "--session-name", "--external-id", "--source-identity",
])
def test_an_empty_flag_value_is_refused_not_taken_as_unset(offline: Offline, option: str) -> None:
    # As a script passes it: awsrun --session-name "$NAME" with NAME unset.
    assert_refused(invoke(offline, with_role(option, [option, ""])), offline)


# --- 2. .env files --------------------------------------------------------------------------------

SETTING_KEYS = [
    "AWSRUN_" + name for name in (
        "ROLE", "PROFILE", "MFA_SERIAL", "MFA_CODE", "SESSION_NAME", "DURATION", "EXTERNAL_ID", "SOURCE_IDENTITY",
        "TAG", "TRANSITIVE_TAG", "POLICY", "POLICY_ARN", "REGION", "CONNECT_TIMEOUT", "READ_TIMEOUT", "ENV_FILE",
        "NO_ENV_FILE", "ALLOW_FALLBACKS", "EXPORT", "FORMAT", "UNSET", "CREDENTIAL_PROCESS", "NO_CACHE", "CACHE",
        "FRESH", "MIN_TTL", "DRY_RUN", "QUIET", "VERBOSE", "DEBUG", "HELP", "VERSION", "REFRESH",
    )
] + ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "PATH", "X"]
FILE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)  # a file may hold NUL
FLAG_LIKE = ["\0", "a\0b", "--dry-run", "--debug", "--role y", "-- evil", "--help", "x --role y", "a=b --debug",
             "--export", "true", "1", "", " ", "${SECRET_VAR}", "$(id)", "`id`", "a,b", "a\nb", "\\", "#", "'", '"']


@st.composite
def env_lines(draw: Any) -> str:
    key = draw(st.sampled_from(SETTING_KEYS) | st.text(ASCII_PRINTABLE, min_size=1, max_size=8))
    value = draw(st.sampled_from(FLAG_LIKE) | FILE_TEXT)
    style = draw(st.sampled_from(["bare", "single", "double", "export", "spaced", "comment", "garbage"]))
    if style == "single":
        return f"{key}='{value}'"
    if style == "double":
        return f'{key}="{value}"'
    if style == "export":
        return f"export {key}={value}"
    if style == "spaced":
        return f"  {key} =  {value}  # note"
    if style == "comment":
        return f"# {key}={value}"
    if style == "garbage":
        return value
    return f"{key}={value}"


ENV_FILE_BYTES = st.one_of(
    st.binary(max_size=200),
    FILE_TEXT.map(lambda text: text.encode("utf-8")),
    st.lists(env_lines(), max_size=8).map(lambda lines: "\n".join(lines).encode("utf-8")),
    st.tuples(st.sampled_from([b"\xef\xbb\xbf", b"", b"\xff\xfe", b"\r\n"]),
              st.lists(env_lines(), max_size=4).map(lambda lines: "\r\n".join(lines).encode("utf-8"))).map(b"".join),
)


def dotenv_problem(content: bytes) -> Optional[str]:
    """Why python-dotenv cannot read ``content`` (as awsrun opens it), or None."""
    from dotenv.parser import parse_stream

    try:
        text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8").read()  # universal newlines, as open()
    except UnicodeDecodeError:
        return "undecodable"
    if any(binding.error for binding in parse_stream(io.StringIO(text))):
        return "unparseable"
    return None


@FAST
@given(content=ENV_FILE_BYTES)
def test_any_dotenv_content_is_one_line_naming_it_or_proceeds(offline: Offline, content: bytes) -> None:
    Path(".env").write_bytes(content)
    trust_env_file()
    outcome = invoke(offline, [f"--role={ROLE}", "--", *COMMAND, "--debug", "-q"])
    assert_refused_or_proceeded(outcome, offline, [*COMMAND, "--debug", "-q"])
    if dotenv_problem(content):
        assert outcome.status == 125
        assert "'.env'" in outcome.err, outcome.err


@FAST
@given(
    reference=st.sampled_from(["${SECRET_VAR}", "$SECRET_VAR", "${SECRET_VAR:-fallback}", "pre${SECRET_VAR}post",
                               "${NAME_VAR}", "$NAME_VAR"]),
    quote=st.sampled_from(["", "'", '"']),
    key=st.sampled_from(["X", "AWSRUN_SESSION_NAME", "AWSRUN_ROLE", "AWSRUN_TAG"]),
)
def test_dotenv_values_are_never_expanded_from_awsruns_environment(
    offline: Offline, reference: str, quote: str, key: str
) -> None:
    secret, name = "s3cr3t-hostile-value", "expandedname"
    role = "123456789012:expandedrole"
    Path(".env").write_text(f"{key}={quote}{reference}{quote}\n", encoding="utf-8")
    trust_env_file()
    env = base_environ(SECRET_VAR=secret, NAME_VAR=name if key != "AWSRUN_ROLE" else role)
    argv = [f"--role={ROLE}"] if key != "AWSRUN_ROLE" else []
    outcome = invoke(offline, [*argv, "--", *COMMAND], env)
    if key == "X":
        child = assert_proceeded(outcome, offline)
        assert child["X"] == reference  # the literal text, not the secret
        assert [var for var, value in child.items() if secret in value] == ["SECRET_VAR"]
    elif key == "AWSRUN_TAG":  # "$" is no tag character: a literal reference is refused
        assert_refused(outcome, offline)
    else:  # had it been expanded, NAME_VAR would be a valid session name or role
        line = assert_refused(outcome, offline)
        assert repr(reference) in line and secret not in line


INJECTION_CASES = [
    # (.env line, how it must end, what must hold)
    ("AWSRUN_ROLE=--dry-run", "refused", "invalid role '--dry-run'"),
    ("AWSRUN_ROLE='--dry-run --role arn:aws:iam::123456789012:role/Deploy'", "refused", "invalid role"),
    ("AWSRUN_SESSION_NAME=x --role y", "refused", "invalid session name 'x --role y'"),
    ('AWSRUN_SESSION_NAME="ok\n--debug"', "refused", "invalid session name 'ok\\n--debug'"),
    ("AWSRUN_DURATION=3600 --dry-run", "refused", "invalid duration"),
    ("AWSRUN_REGION=--debug", "refused", "invalid region '--debug'"),
    ("AWSRUN_TAG=a=b --debug", "tag", (("a", "b --debug"),)),
    ("AWSRUN_TAG=a=b,--debug", "refused", "invalid tag '--debug'"),
    ("AWSRUN_POLICY_ARN=--help", "refused", "invalid policy ARN '--help'"),
    ("AWSRUN_DRY_RUN=--debug", "refused", "AWSRUN_DRY_RUN"),
    ("AWSRUN_QUIET=true --verbose", "refused", "AWSRUN_QUIET"),
    ("AWSRUN_ENV_FILE=.env", "proceeds", None),  # only the environment names env files: no loop
    ("AWSRUN_ENV_FILE=/nonexistent/awsrun.env", "proceeds", None),
    ("AWSRUN_NO_ENV_FILE=--role", "proceeds", None),  # likewise ignored in .env
    ("COMMAND=--dry-run\nARG=--debug", "proceeds", None),
]


@pytest.mark.parametrize("line, result, detail", INJECTION_CASES, ids=[case[0] for case in INJECTION_CASES])
@pytest.mark.parametrize("source", ["cwd", "named"])
def test_dotenv_values_are_values_never_options_or_arguments(
    offline: Offline, line: str, result: str, detail: Any, source: str
) -> None:
    Path(".env").write_text(line + "\n", encoding="utf-8")
    trust_env_file()
    env = base_environ(AWSRUN_ENV_FILE=".env") if source == "named" else base_environ()
    argv = [] if line.startswith("AWSRUN_ROLE") else [f"--role={ROLE}"]
    command = [*COMMAND, "--role", "x", "--dry-run"]
    outcome = invoke(offline, [*argv, "--", *command], env)
    if result == "refused":
        assert detail in assert_refused(outcome, offline)
    else:
        assert_proceeded(outcome, offline, command)
        assert "would assume" not in outcome.out
        if result == "tag":
            assert the_request(offline).request.tags == detail


@FAST
@given(key=st.sampled_from(SETTING_KEYS), value=st.sampled_from(FLAG_LIKE) | FILE_TEXT,
       quote=st.sampled_from(["'", '"']),
       command=st.lists(st.sampled_from(["--dry-run", "--debug", "-q", "x", "--", ""]), max_size=3))
def test_no_dotenv_value_changes_the_command_line(
    offline: Offline, key: str, value: str, quote: str, command: List[str]
) -> None:
    assume(quote not in value and "\\" not in value)
    Path(".env").write_text(f"{key}={quote}{value}{quote}\n", encoding="utf-8")
    trust_env_file()
    outcome = invoke(offline, [f"--role={ROLE}", "--", *COMMAND, *command])
    assert_refused_or_proceeded(outcome, offline, [*COMMAND, *command])


# --- 3. ~/.aws/config: generated INI against a real process ---------------------------------------

PROFILE_NAMES = ["a", "b", "c", "default"]
PROFILE_KEYS = ["role_arn", "source_profile", "credential_source", "region", "duration_seconds", "mfa_serial",
                "external_id", "role_session_name", "aws_access_key_id", "aws_secret_access_key",
                "aws_session_token", "web_identity_token_file", "sso_session", "sso_start_url", "sso_region",
                "sso_account_id", "sso_role_name", "credential_process"]
# Keys that would make botocore run something or talk to an address other than ours.
NEVER_GENERATED = {"credential_process", "endpoint_url", "ignore_configured_endpoint_urls", "services",
                   "ca_bundle", "sts_regional_endpoints", "use_fips_endpoint", "use_dualstack_endpoint",
                   "ec2_metadata_service_endpoint", "ec2_metadata_service_endpoint_mode", "metadata_service_timeout",
                   "metadata_service_num_attempts"}
PROFILE_VALUES = [ROLE, "arn:aws-cn:iam::123456789012:role/Deploy", "123456789012:Deploy", "not-an-arn", *PROFILE_NAMES,
                  "missing", "Environment", "Ec2InstanceMetadata", "EcsContainer", "Bogus", "900", "99999", "abc",
                  "eu-west-1", "moon-1", "cn-north-1", "AKIAIOSFODNN7EXAMPLE", "secret", MFA_DEVICE, "x",
                  "/nonexistent/token", "%(x)s", "${HOME}", "", "\n    nested = value", "\n  continued",
                  "first\n  second"]
SAFE_KEY_TEXT = st.text(st.sampled_from("abcdefgxyz_-.%$"), min_size=1, max_size=10)
INI_VALUE = st.sampled_from(PROFILE_VALUES) | st.text(st.characters(blacklist_characters="\0\r\n",
                                                                     blacklist_categories=("Cs",)), max_size=30)


@st.composite
def ini_key_line(draw: Any) -> str:
    key = draw(st.sampled_from([k for k in PROFILE_KEYS if k not in NEVER_GENERATED]) | SAFE_KEY_TEXT)
    assume(key.lower().strip() not in NEVER_GENERATED)
    separator = draw(st.sampled_from([" = ", "=", ": ", " "]))
    return f"{key}{separator}{draw(INI_VALUE)}"


@st.composite
def garbage_section(draw: Any) -> str:
    """A section that may break INI itself: odd headers, lines that are not key = value."""
    name = draw(st.sampled_from(PROFILE_NAMES) | st.text(st.characters(blacklist_characters="\0\r\n]",
                                                                        blacklist_categories=("Cs",)), max_size=12))
    header = draw(st.sampled_from(["[profile {}]", "[{}]", "[ profile {} ]", "[profile {}", "[sso-session {}]", "{}"]))
    garbage = st.text(ASCII_PRINTABLE, max_size=20)
    lines = draw(st.lists(st.one_of(ini_key_line(), ini_key_line(), garbage), max_size=6))
    return "\n".join([header.format(name), *lines])


@st.composite
def well_formed_config(draw: Any) -> str:
    """Valid INI (unique sections and keys) whose values are hostile: loops, nesting, wrong kinds."""
    names = draw(st.lists(st.sampled_from(PROFILE_NAMES) | SAFE_KEY_TEXT, max_size=5, unique=True))
    sections = []
    for name in names:
        keys = draw(st.lists(st.sampled_from([k for k in PROFILE_KEYS if k not in NEVER_GENERATED]), unique=True,
                             max_size=8))
        header = "[default]" if name == "default" else f"[profile {name}]"
        sections.append("\n".join([header, *(f"{key} = {draw(INI_VALUE)}" for key in keys)]))
    return "\n".join(sections) + "\n"


GARBAGE_CONFIGS = st.lists(garbage_section(), max_size=5).map(lambda sections: "\n".join(sections) + "\n")


def offline_process_env(sts_url: str) -> Dict[str, str]:
    """A real awsrun whose STS is ``sts_url`` and whose every other way out is a closed port."""
    closed = closed_port_url()
    return {
        "AWS_ENDPOINT_URL_STS": sts_url,
        "HTTPS_PROXY": closed, "HTTP_PROXY": closed, "https_proxy": closed, "http_proxy": closed,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "CI": "true",  # no cache
        "AWSRUN_CONNECT_TIMEOUT": "2", "AWSRUN_READ_TIMEOUT": "2",
    }


def run_process(args: Sequence[str], env: Dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    """awsrun as a real process (the isolated environment plus ``env``), with a hang limit."""
    return subprocess.run([sys.executable, "-m", "awsrun", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_process_refused(result: subprocess.CompletedProcess, clear: bool = True) -> str:
    """125 and one 'awsrun: ' line; ``clear``: not the catch-all for unforeseen exceptions."""
    assert result.returncode == 125, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("awsrun: "), result.stderr
    if clear:
        assert "internal error" not in lines[0], f"an unforeseen failure, not a clear message: {lines[0]!r}"
    assert result.stdout == ""
    return lines[0]


def run_profile(config: str, name: str) -> subprocess.CompletedProcess:
    """awsrun -p NAME -- true with ``config`` as the AWS config file and STS at a closed port."""
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(config, encoding="utf-8")
    try:
        return run_process(["-p", name, "--", *COMMAND], offline_process_env(closed_port_url()), timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"awsrun hung on -p {name!r} with config {config!r}")


PROFILE_NAME_ARGS = st.sampled_from([*PROFILE_NAMES, "missing"]) | SOME_TEXT


@SLOW
@given(config=well_formed_config(), name=PROFILE_NAME_ARGS)
@example(config="[profile a]\nrole_arn = x\nsource_profile = b\n[profile b]\nrole_arn = x\nsource_profile = a\n",
         name="a")
def test_any_profile_values_are_one_line_and_125_never_a_hang(config: str, name: str) -> None:
    assert_process_refused(run_profile(config, name))


@SLOW
@given(config=GARBAGE_CONFIGS, name=PROFILE_NAME_ARGS)
def test_any_aws_config_text_is_one_line_and_125_never_a_hang(config: str, name: str) -> None:
    assert_process_refused(run_profile(config, name))


NESTED = "\n    nested = value"
PROFILE_CASES = [
    # (config, what it exercises); every one must be a clear line that says what is wrong
    ("[profile a]\n[profile a]\n", "duplicate section"),
    ("[profile a]\nregion = eu-west-1\nregion = eu-west-2\n", "duplicate key"),
    ("not ini at all\n", "text before any section"),
    ("[profile a\nregion = eu-west-1\n", "unclosed section header"),
    ("[profile a]\njust a line\n", "line without ="),
    (f"[profile a]\nrole_arn = {ROLE}\nsource_profile ={NESTED}\n", "nested source_profile"),
    (f"[profile a]\nrole_arn ={NESTED}\ncredential_source = Environment\n", "nested role_arn"),
    (f"[profile a]\nrole_arn = {ROLE}\ncredential_source ={NESTED}\n", "nested credential_source"),
    (f"[profile a]\nrole_arn = {ROLE}\ncredential_source = Environment\nregion ={NESTED}\n", "nested region"),
    (f"[profile a]\nrole_arn = {ROLE}\ncredential_source = Environment\nduration_seconds ={NESTED}\n",
     "nested duration_seconds"),
    (f"[profile a]\nrole_arn = {ROLE}\ncredential_source = Environment\nmfa_serial ={NESTED}\n", "nested mfa_serial"),
    (f"[profile a]\nrole_arn = {ROLE}\ncredential_source = Environment\nexternal_id ={NESTED}\n", "nested external_id"),
    (f"[profile a]\nrole_arn = {ROLE}\ncredential_source = Environment\nrole_session_name ={NESTED}\n",
     "nested role_session_name"),
    (f"[profile a]\nrole_arn = {ROLE}\nsource_profile = b\n  c\n", "multi-line source_profile"),
    (f"[profile a]\nrole_arn = {ROLE}\nsource_profile = b\n[profile b]\nrole_arn = {ROLE}\nsource_profile = a\n",
     "source_profile loop"),
]


@pytest.mark.parametrize("config, case", PROFILE_CASES, ids=[case for _, case in PROFILE_CASES])
def test_hostile_profile_files_are_a_clear_line(config: str, case: str) -> None:
    assert_process_refused(run_profile(config, "a"))


# --- 4. locally invalid values against a real process: STS never hears of them ---------------------


@st.composite
def locally_invalid(draw: Any) -> List[str]:
    """Arguments, one of them breaking its rule; a valid role unless the role is the broken one."""
    option = draw(st.sampled_from(["--role", "--session-name", "--duration", "--mfa-code", "--external-id",
                                   "--source-identity", "--policy", "--tag", "--region"]))
    strategies = {
        "--role": (ROLE_VALUES, lambda v: expected_role_arn(v) is not None),
        "--session-name": (SESSION_VALUES, session_name_ok),
        "--duration": (DURATION_VALUES, lambda v: duration_seconds(v) is not None),
        "--mfa-code": (MFA_VALUES, mfa_code_ok),
        "--external-id": (EXTERNAL_ID_VALUES, external_id_ok),
        "--source-identity": (SOURCE_IDENTITY_VALUES, source_identity_ok),
        "--policy": (POLICY_VALUES.filter(lambda v: v.lstrip().startswith("{") and len(v) < 100_000),
                     lambda v: compact_policy(v) is not None),
        "--tag": (SOME_TEXT.filter(lambda v: "=" not in v), lambda v: False),
        "--region": (SOME_TEXT.filter(lambda v: not re.fullmatch(r"[a-z]{2,4}(-[a-z]+)+-[0-9]+", v)), lambda v: False),
    }
    values, ok = strategies[option]
    value = draw(values.filter(lambda v: bool(v) and not ok(v)))
    extra = [f"--mfa-serial={MFA_DEVICE}"] if option == "--mfa-code" else []
    return with_role(option, [*extra, f"{option}={value}"])


@pytest.fixture
def fake_sts() -> Any:
    with FakeSts([assume_role_ok()]) as sts:
        yield sts


def source_keys(url: str) -> Dict[str, str]:
    return {**offline_process_env(url), "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}


def test_the_fake_sts_hears_a_valid_run(fake_sts: FakeSts) -> None:
    """The control: the same setup with valid values reaches the fake STS once and runs the command."""
    result = run_process(with_role("--session-name", ["--session-name=hostile", f"--mfa-serial={MFA_DEVICE}",
                                                     "--mfa-code=123456"]), source_keys(fake_sts.url))
    assert result.returncode == 0, result.stderr
    assert len(fake_sts.requests) == 1
    assert fake_sts.requests[0].form["RoleSessionName"] == "hostile"


# Inputs that can be refused locally, each one a way past the checks found by the properties above.
KNOWN_CASES = [
    # (argv before "--", .env content, AWS config text, what it is)
    ([f"--role={ROLE}", "--policy=" + '{"a":' + "[" * 3000 + "]" * 3000 + "}"], None, None, "deeply nested policy"),
    ([f"--role={ROLE}", '--policy={"Statement": NaN}'], None, None, "policy with NaN, which is not JSON"),
    ([f"--role={ROLE}", "--session-name="], None, None, "empty session name"),
    ([f"--role={ROLE}"], b"EXTRA=a\x00b\n", None, ".env value with a NUL byte"),
    ([f"--role={ROLE}"], b"AWSRUN_POLICY=a\x00b\n", None, ".env policy path with a NUL byte"),
    ([f"--role={ROLE}"], None, "[default]\n[default]\n", "unparseable AWS config, no profile named"),
]


@pytest.mark.parametrize("args, dotenv, config, case", KNOWN_CASES, ids=[case[-1] for case in KNOWN_CASES])
def test_known_hostile_inputs_are_one_clear_line_before_sts(
    fake_sts: FakeSts, args: List[str], dotenv: Optional[bytes], config: Optional[str], case: str
) -> None:
    if dotenv is not None:
        Path(".env").write_bytes(dotenv)
        trust_env_file()
    if config is not None:
        Path(os.environ["AWS_CONFIG_FILE"]).write_text(config, encoding="utf-8")
    result = run_process([*args, "--", *COMMAND], source_keys(fake_sts.url))
    assert fake_sts.requests == [], f"{case}: {len(fake_sts.requests)} request(s) reached STS; stderr {result.stderr!r}"
    assert_process_refused(result)


@SLOW
@given(argv=locally_invalid())
def test_locally_invalid_values_never_reach_sts(fake_sts: FakeSts, argv: List[str]) -> None:
    fake_sts.requests.clear()
    result = run_process(argv, source_keys(fake_sts.url))
    assert fake_sts.requests == [], f"{len(fake_sts.requests)} request(s) reached STS for {argv!r}"
    # The message itself is checked in-process; here: 125, one line, and not a word to STS.
    assert_process_refused(result, clear=False)
