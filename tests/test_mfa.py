"""MFA: which AssumeRole carries SerialNumber/TokenCode, local refusals, and the terminal prompt.

Every test runs awsrun as a real process. tests/fake_sts.py answers and records each
AssumeRole, so a test can tell which hop carried the MFA fields and how many calls were
made; where no call may happen at all, STS is a closed 127.0.0.1 port. The prompt is
driven through a pseudo-terminal with pexpect: it is the child's controlling terminal,
so /dev/tty exists there, while subprocess runs with ``start_new_session=True`` have none.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pexpect
import pytest

from tests.conftest import SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun, trust_env_file
from tests.fake_sts import ISSUED_KEY_ID, FakeSts, Reply, assume_role_ok, closed_port_url, error
from tests.fake_sts import Request as StsRequest

ACCOUNT = "123456789012"
SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
OTHER_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/bob"
CODE = "123456"  # also a part of ACCOUNT: assert_unshown looks past the ARNs
JUMP = f"arn:aws:iam::{ACCOUNT}:role/Jump"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/Target"
SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
MFA_DENIED = error("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")
PROMPT = f"MFA code for {SERIAL}: "
PROMPT_AGAIN = f"MFA code for {SERIAL} (try {{}} of 3): "
ANY_PROMPT = re.compile(re.escape(f"MFA code for {SERIAL}") + r"( \(try \d of 3\))?: ")
# The command: says which key it got and whether its stdin/stdout are terminals. It prints
# nothing else, so a code found in the output can only have come from awsrun.
REPORTER = [
    sys.executable, "-c",
    "import os, sys; print('child got', os.environ['AWS_ACCESS_KEY_ID'],"
    " 'tty', sys.stdin.isatty(), sys.stdout.isatty())",
]
CHILD_RAN = f"child got {ISSUED_KEY_ID}"
PTY_TIMEOUT = 20


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def own_session_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session cached by one test must not spare another its AssumeRole: keep any cache in HOME.

    Without the cache every AssumeRole carries the code, which is what these tests look at;
    with it, an IAM user's code goes to GetSessionToken once (tests/test_cache_memory.py)."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("AWSRUN_NO_CACHE", "true")


def mfa_fields(request: StsRequest) -> Tuple[Optional[str], Optional[str]]:
    """(SerialNumber, TokenCode) of one recorded AssumeRole; None where not sent."""
    return request.form.get("SerialNumber"), request.form.get("TokenCode")


def given(values: Dict[str, str], where: str) -> Tuple[List[str], Dict[str, str]]:
    """awsrun options ``values`` ({'mfa-serial': ...}) as flags, AWSRUN_* variables or ./.env keys."""
    if where == "flag":
        return [arg for name, value in values.items() for arg in (f"--{name}", value)], {}
    variables = {"AWSRUN_" + name.upper().replace("-", "_"): value for name, value in values.items()}
    if where == "env":
        return [], variables
    assert where == "dotenv"
    Path(".env").write_text("".join(f"{name}='{value}'\n" for name, value in variables.items()))
    trust_env_file()
    return [], {}


def write_profiles(base_serial: Optional[str] = None, jump_serial: Optional[str] = None,
                   target_serial: Optional[str] = None) -> None:
    """base (static keys, no role) -> jump -> target in the isolated AWS files, mfa_serial where given."""
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
    )

    def mfa(serial: Optional[str]) -> str:
        return f"mfa_serial = {serial}\n" if serial else ""

    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile base]\n{mfa(base_serial)}"
        f"[profile jump]\nrole_arn = {JUMP}\nsource_profile = base\n{mfa(jump_serial)}"
        f"[profile target]\nrole_arn = {TARGET}\nsource_profile = jump\n{mfa(target_serial)}"
    )


def assert_unshown(codes: Sequence[str], *texts: str) -> None:
    """No code appears in what awsrun showed (the account id inside ARNs aside)."""
    for text in texts:
        visible = text.replace(ACCOUNT, "<account>")
        for code in codes:
            assert code not in visible, f"MFA code {code!r} was shown"


def assert_one_line(result: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    """awsrun failed with ``status`` and said so in one stderr line holding every needle."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def spawn(args: Sequence[str], env: Dict[str, str], command: Sequence[str] = REPORTER) -> pexpect.spawn:
    """awsrun on a pseudo-terminal (its controlling terminal); everything it shows is kept."""
    child = pexpect.spawn(
        sys.executable, ["-m", "awsrun", *args, "--", *command],
        env={**os.environ, **env}, encoding="utf-8", timeout=PTY_TIMEOUT, dimensions=(24, 250),
    )
    child.logfile_read = io.StringIO()
    return child


def finish(child: pexpect.spawn) -> Tuple[Optional[int], str]:
    """Wait for the end; the exit status and all the terminal showed."""
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.logfile_read.getvalue()


# --- which AssumeRole carries SerialNumber and TokenCode -------------------------------------


@pytest.mark.parametrize("where", ["flag", "env", "dotenv"])
def test_chain_sends_mfa_on_the_first_role_only(where: str) -> None:
    args, env = given({"mfa-serial": SERIAL, "mfa-code": CODE}, where)
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--role", JUMP, "--role", TARGET, *args, "--", *REPORTER],
                            env={**SOURCE, **env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert CHILD_RAN in result.stdout
    assert [r.form["RoleArn"] for r in sts.requests] == [JUMP, TARGET]
    assert [mfa_fields(r) for r in sts.requests] == [(SERIAL, CODE), (None, None)]


# (awsrun options, mfa_serial of profiles (base, jump, target), environment, expected (RoleArn, SerialNumber) per call)
PROFILE_CASES = [
    pytest.param(["-p", "target", "--mfa-code", CODE], (None, SERIAL, None), {},
                 [(JUMP, SERIAL), (TARGET, None)], id="jump-profile-has-mfa"),
    pytest.param(["-p", "target", "--mfa-code", CODE], (None, None, SERIAL), {},
                 [(JUMP, None), (TARGET, SERIAL)], id="target-profile-has-mfa"),
    pytest.param(["-p", "target"], (None, SERIAL, None), {"AWSRUN_MFA_CODE": CODE},
                 [(JUMP, SERIAL), (TARGET, None)], id="code-from-environment"),
    pytest.param(["-p", "jump", "--mfa-code", CODE], (None, SERIAL, None), {},
                 [(JUMP, SERIAL)], id="single-profile-hop"),
    pytest.param(["-p", "target", "--mfa-serial", OTHER_SERIAL, "--mfa-code", CODE], (None, SERIAL, None), {},
                 [(JUMP, OTHER_SERIAL), (TARGET, None)], id="flag-beats-profile-on-first-hop"),
    pytest.param(["-p", "target"], (None, None, None), {},
                 [(JUMP, None), (TARGET, None)], id="no-profile-has-mfa"),  # and a code is refused: test_habits
    # The docstring: --mfa-serial is for the first role, "default: the profile's mfa_serial";
    # --role replaces only the profile's role_arn, and a profile without one is the source for --role.
    pytest.param(["-p", "jump", "--role", TARGET, "--mfa-code", CODE], (None, SERIAL, None), {},
                 [(TARGET, SERIAL)], id="role-flag-replacing-profile-role-keeps-its-mfa"),
    pytest.param(["-p", "base", "--role", TARGET, "--mfa-code", CODE], (SERIAL, None, None), {},
                 [(TARGET, SERIAL)], id="source-profile-mfa-for-role-flag"),
]


@pytest.mark.parametrize("args, serials, env, expected", PROFILE_CASES)
def test_profile_chain_sends_mfa_on_the_hop_whose_profile_has_it(
    args: List[str], serials: Tuple[Optional[str], Optional[str], Optional[str]], env: Dict[str, str],
    expected: List[Tuple[str, Optional[str]]],
) -> None:
    write_profiles(*serials)
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun([*args, "--", *REPORTER], env={**env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert CHILD_RAN in result.stdout
    sent = [(r.form["RoleArn"], *mfa_fields(r)) for r in sts.requests]
    assert sent == [(role, serial, CODE if serial else None) for role, serial in expected]


@pytest.mark.parametrize("args", [
    pytest.param(["--role", TARGET], id="one-role"),
    pytest.param(["--role", JUMP, "--role", TARGET], id="chain"),
])
def test_without_an_mfa_serial_neither_field_is_sent(args: List[str]) -> None:
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun([*args, "--", *REPORTER], env={**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert sts.requests, "no AssumeRole was made"
    for request in sts.requests:
        assert "SerialNumber" not in request.form and "TokenCode" not in request.form


@pytest.mark.parametrize("where, source", [
    ("flag", "--mfa-code"),
    ("env", "$AWSRUN_MFA_CODE"),
    ("dotenv", "AWSRUN_MFA_CODE in "),
])
def test_verbose_masks_the_code_and_it_is_never_shown(where: str, source: str) -> None:
    args, env = given({"mfa-code": CODE}, where)
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["-v", "--role", JUMP, "--role", TARGET, "--mfa-serial", SERIAL, *args, "--", *REPORTER],
                            env={**SOURCE, **env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert f"mfa-code = ****** (from {source}" in result.stderr
    assert f"MFA {SERIAL}" in result.stderr  # -v names the device of the hop
    assert mfa_fields(sts.requests[0]) == (SERIAL, CODE)
    assert_unshown([CODE], result.stdout, result.stderr)


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_a_given_code_sts_refuses_is_tried_once_and_not_shown(debug: List[str]) -> None:
    with FakeSts([MFA_DENIED, assume_role_ok()]) as sts:
        result = run_awsrun([*debug, "--role", JUMP, "--mfa-serial", SERIAL, "--mfa-code", CODE, "--", *REPORTER],
                            env={**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url}, start_new_session=True)
    assert result.returncode == 125
    assert len(sts.requests) == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"awsrun: STS refused the MFA code for {SERIAL} (wrong, expired or already used)"
    if not debug:
        assert len(result.stderr.strip().splitlines()) == 1
    assert_unshown([CODE], result.stdout, result.stderr)


# --- refused locally, before any STS call ---------------------------------------------------


BAD_CODES = [
    pytest.param("12345", id="five-digits"),
    pytest.param("1234567", id="seven-digits"),
    pytest.param("abcdef", id="letters"),
    pytest.param(" 123456", id="leading-space"),
    pytest.param("123456 ", id="trailing-space"),
    pytest.param("12 345", id="inner-space"),
    pytest.param("１２３４５６", id="fullwidth-digits"),
]


@pytest.mark.parametrize("code", BAD_CODES)
@pytest.mark.parametrize("where", ["flag", "env"])
def test_a_given_code_not_of_six_digits_is_refused_unechoed(code: str, where: str) -> None:
    args, env = given({"mfa-serial": SERIAL, "mfa-code": code}, where)
    result = run_awsrun(["--role", JUMP, *args, "--", *REPORTER],
                        env={**SOURCE, **env, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    line = assert_one_line(result, 125, "MFA code", "6 digits")
    assert_unshown([code.strip(), code.strip()[:5]], line)


@pytest.mark.parametrize("code", [pytest.param("12345", id="five-digits"), pytest.param("abcdef", id="letters")])
def test_a_dotenv_code_not_of_six_digits_is_refused_unechoed(code: str) -> None:
    args, env = given({"mfa-serial": SERIAL, "mfa-code": code}, "dotenv")
    result = run_awsrun(["--role", JUMP, *args, "--", *REPORTER],
                        env={**SOURCE, **env, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    line = assert_one_line(result, 125, "MFA code", "6 digits")
    assert_unshown([code], line)


# (awsrun options, environment, profile mfa_serial of jump)
NO_TERMINAL_CASES = [
    pytest.param(["--role", JUMP, "--mfa-serial", SERIAL], {}, None, id="serial-flag"),
    pytest.param(["--role", JUMP], {"AWSRUN_MFA_SERIAL": SERIAL}, None, id="serial-environment"),
    pytest.param(["--role", JUMP, "--role", TARGET, "--mfa-serial", SERIAL], {}, None, id="chain"),
    pytest.param(["-p", "target"], {}, SERIAL, id="profile-serial"),
]


@pytest.mark.parametrize("args, env, profile_serial", NO_TERMINAL_CASES)
def test_no_code_and_no_terminal_stops_before_sts(args: List[str], env: Dict[str, str],
                                                  profile_serial: Optional[str]) -> None:
    write_profiles(jump_serial=profile_serial)
    result = run_awsrun([*args, "--", *REPORTER],
                        env={**SOURCE, **env, "AWS_ENDPOINT_URL_STS": closed_port_url()}, start_new_session=True)
    assert_one_line(result, 125, "--mfa-code", SERIAL, "no terminal")


def test_no_code_and_no_terminal_is_fine_for_a_dry_run() -> None:
    result = run_awsrun(["--dry-run", "--role", JUMP, "--mfa-serial", SERIAL, "--", *REPORTER],
                        env={**SOURCE, "AWS_ENDPOINT_URL_STS": closed_port_url()}, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert f"would assume {JUMP} " in result.stdout and f"with MFA {SERIAL}" in result.stdout


# --- the prompt, on a pseudo-terminal -------------------------------------------------------


# (what fake STS answers, what is typed at each prompt, awsrun's exit status, TokenCodes STS got)
PROMPT_CASES = [
    pytest.param([assume_role_ok()], ["246810"], 0, ["246810"], id="right-code"),
    pytest.param([MFA_DENIED, assume_role_ok()], ["111111", "246810"], 0, ["111111", "246810"], id="wrong-then-right"),
    pytest.param([MFA_DENIED, MFA_DENIED, assume_role_ok()], ["111111", "222222", "246810"], 0,
                 ["111111", "222222", "246810"], id="right-on-third-try"),
    pytest.param([MFA_DENIED], ["111111", "222222", "333333"], 125, ["111111", "222222", "333333"], id="three-wrong"),
    pytest.param([assume_role_ok()], ["12345", "246810"], 0, ["246810"], id="short-then-right"),
    pytest.param([assume_role_ok()], ["abcdef", "", "246810"], 0, ["246810"], id="letters-empty-then-right"),
    pytest.param([assume_role_ok()], ["12345", "abcdef", "1234567"], 125, [], id="three-badly-formatted"),
    pytest.param([MFA_DENIED], ["12345", "111111", "222222"], 125, ["111111", "222222"], id="mixed-three-failures"),
]


@pytest.mark.parametrize("script, typed, status, sent", PROMPT_CASES)
def test_prompt_asks_without_echo_up_to_three_times(script: List[Reply], typed: List[str], status: int,
                                                    sent: List[str]) -> None:
    with FakeSts(script) as sts:
        child = spawn(["--role", JUMP, "--role", TARGET, "--mfa-serial", SERIAL],
                      {**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
        for attempt, code in enumerate(typed, start=1):
            child.expect_exact(PROMPT if attempt == 1 else PROMPT_AGAIN.format(attempt))
            child.sendline(code)
        exit_status, shown = finish(child)
        requests = list(sts.requests)
    assert exit_status == status, shown
    mfa_calls = [r for r in requests if r.form["RoleArn"] == JUMP]
    assert [mfa_fields(r) for r in mfa_calls] == [(SERIAL, code) for code in sent]
    assert len(ANY_PROMPT.findall(shown)) == len(typed)
    assert_unshown([code for code in typed if code], shown)  # not echoed, not printed
    if status == 0:
        assert [r.form["RoleArn"] for r in requests] == [JUMP] * len(sent) + [TARGET]
        assert mfa_fields(requests[-1]) == (None, None)
        assert f"{CHILD_RAN} tty True True" in shown
    else:
        assert CHILD_RAN not in shown
        assert all(r.form["RoleArn"] == JUMP for r in requests)
        last = shown.strip().splitlines()[-1]
        assert last.startswith("awsrun: ") and "MFA code" in last


def test_ctrl_c_at_the_prompt_exits_130_without_calling_sts() -> None:
    with FakeSts([assume_role_ok()]) as sts:
        child = spawn(["--role", JUMP, "--mfa-serial", SERIAL], {**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
        child.expect_exact(PROMPT)
        child.send("\x03")  # Ctrl-C: the terminal turns it into SIGINT
        exit_status, shown = finish(child)
        assert sts.requests == []
    assert exit_status == 130, shown
    assert child.signalstatus is None
    assert "awsrun: interrupted" in shown
    assert CHILD_RAN not in shown and "assumed" not in shown


def test_a_given_code_is_not_asked_for_on_a_terminal() -> None:
    with FakeSts([MFA_DENIED]) as sts:
        child = spawn(["--role", JUMP, "--mfa-serial", SERIAL, "--mfa-code", CODE],
                      {**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
        exit_status, shown = finish(child)
        assert [mfa_fields(r) for r in sts.requests] == [(SERIAL, CODE)]
    assert exit_status == 125, shown
    assert not ANY_PROMPT.search(shown)
    assert_unshown([CODE], shown)


def test_prompt_uses_the_terminal_when_stdin_stdout_and_stderr_are_redirected(tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"
    awsrun = shlex.join([sys.executable, "-m", "awsrun", "--role", JUMP, "--mfa-serial", SERIAL, "--", *REPORTER])
    script = f"set -o pipefail; {awsrun} </dev/null 2>{shlex.quote(str(errors))} | cat"
    with FakeSts([MFA_DENIED, assume_role_ok()]) as sts:
        child = pexpect.spawn("bash", ["-c", script], env={**os.environ, **SOURCE, "AWS_ENDPOINT_URL_STS": sts.url},
                              encoding="utf-8", timeout=PTY_TIMEOUT, dimensions=(24, 250))
        child.logfile_read = io.StringIO()
        child.expect_exact(PROMPT)
        child.sendline("111111")
        child.expect_exact(PROMPT_AGAIN.format(2))
        child.sendline("246810")
        exit_status, shown = finish(child)
        assert [mfa_fields(r) for r in sts.requests] == [(SERIAL, "111111"), (SERIAL, "246810")]
    assert exit_status == 0, shown + errors.read_text()
    assert f"{CHILD_RAN} tty False False" in shown  # the command's stdin and stdout were not the terminal
    said = errors.read_text()
    assert f"STS refused the MFA code for {SERIAL}" in said and "assumed " in said
    assert not ANY_PROMPT.search(said)  # the prompt went to the terminal, not to stderr
    assert_unshown(["111111", "246810"], shown, said)
