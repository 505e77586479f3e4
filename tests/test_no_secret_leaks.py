"""No secret leaves awsrun except where it was asked for: not in output, files or command lines.

One table of scenarios runs awsrun as a real process with known secrets in play: the source
secret key, the temporary secret key and session token tests/fake_sts.py issues, the MFA
code and the external id (awsrun masks it in --verbose, so it is a secret here too). The
scenarios cover success, every STS failure, every local refusal, --verbose, --debug with a
traceback, --dry-run, MFA given and typed at a prompt, a cache miss then hit, profile and
role chains, --refresh, --export/--credential-process, and tests/child.py or the AWS CLI
as the command.

One helper checks every run the same way:

* stdout and stderr hold no secret, and key ids (AKIA... and ASIA...) only masked to their
  last four characters. Exempt: stdout of --export/--credential-process (secrets by request)
  and the JSON line tests/child.py prints (its own environment); the child's argv is checked.
* stderr shows no botocore wire logging: no DEBUG lines, no response body, no signature.
* No command line of awsrun's process tree (polled from /proc, and read at each MFA prompt)
  holds a secret, awsrun's own as launched aside.
* Every file written under the test's HOME, working folder and TMPDIR, the cache folder
  aside, holds no secret; the cache folder is 0700, its files 0600, and they hold only
  the temporary credentials.
* What awsrun sent STS never carries a secret key (only signatures).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import pexpect
import pytest

from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, needs_aws_cli, trust_env_file
from tests.fake_sts import (
    ISSUED_KEY_ID,
    ISSUED_SECRET,
    ISSUED_TOKEN,
    FakeSts,
    Reply,
    assume_role_ok,
    closed_port_url,
    error,
    hang,
    raw,
    without_credentials,
)
from tests.test_console_signin import TOKEN as SIGNIN_TOKEN
from tests.test_console_signin import Federation

# --- the known secrets -----------------------------------------------------------------------

ACCOUNT = "123456789012"
JUMP = f"arn:aws:iam::{ACCOUNT}:role/Jump"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/Target"
SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
# Six digits found nowhere else in what awsrun prints (account ids, ports, timestamps).
MFA_CODE = "583920"
WRONG_CODE = "417306"
OTHER_WRONG_CODE = "961742"
EXTERNAL_ID = "ext-Kq7Zp2Vw9Lm4"

# (name, value, length of the shortest piece that counts as shown). A key id shows only its
# last four characters, so any eight of them in a row is a leak; so is any eight of a secret
# (a truncated or re-encoded one), except runs like "xxxxxxxx" that say nothing.
SECRETS: Tuple[Tuple[str, str, int], ...] = (
    ("source secret key", SOURCE_SECRET, 8),
    ("temporary secret key", ISSUED_SECRET, 8),
    ("session token", ISSUED_TOKEN, 8),
    ("MFA code", MFA_CODE, 6),
    ("external id", EXTERNAL_ID, 8),
    ("source key id", SOURCE_KEY_ID, 8),
    ("temporary key id", ISSUED_KEY_ID, 8),
)
# What --export and --credential-process print by request, and the child may receive.
ISSUED = frozenset({"temporary secret key", "session token", "temporary key id"})
# The markers of botocore's wire logging (request and response dumps) and of signatures.
WIRE_MARKS = ("<AssumeRoleResult", "<AssumeRoleResponse", "<GetSessionTokenResult", "<Credentials>",
              "SecretAccessKey", "SessionToken", "AWS4-HMAC-SHA256", "X-Amz-Security-Token", "x-amz-security-token")

# --- what fake STS answers -------------------------------------------------------------------

OK = assume_role_ok()
_OK_BODY = OK.body
# The issued secret in full and most of the token, then the answer stops.
TRUNCATED = raw(_OK_BODY[: _OK_BODY.index("</SessionToken>") - 10])
# Every credential, inside tags that never close properly.
MISMATCHED = raw(_OK_BODY.replace("</SecretAccessKey>", "</Secret>"))
# A proxy's non-XML answer that quotes the credentials.
PROXY_ECHO = raw(f"proxy said: {ISSUED_KEY_ID} {ISSUED_SECRET} {ISSUED_TOKEN}", 400)
MFA_DENIED = error("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")
DENIED = error("AccessDenied", 403,
               f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}")
# --refresh with MFA asks GetSessionToken first: the same credentials, under its own result element.
SESSION_TOKEN_OK = raw(_OK_BODY.replace("AssumeRole", "GetSessionToken"))
CALLER_IDENTITY = raw(
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    f"<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/session</Arn><UserId>AROAFAKEROLEID:session</UserId>"
    f"<Account>{ACCOUNT}</Account></GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>22222222-2222-2222-2222-222222222222</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>"
)

# --- the environment and files a scenario starts from ----------------------------------------

ROLE = ("--role", ROLE_ARN)
CHILD_ARGV = ["0"]  # what tests/child.py must report as its argv: exactly what it was given
RUN_CHILD = (sys.executable, str(CHILD), *CHILD_ARGV)
# Prints the AWS config file the command was given (--refresh writes one), then becomes the child.
SHOW_CONFIG_THEN_CHILD = ("sh", "-c", 'cat "$AWS_CONFIG_FILE"; exec "$0" "$@"', *RUN_CHILD)
NEEDS_AWS_CLI = needs_aws_cli

# Every scenario has source keys, an MFA device and code, and an external id, so every
# secret is in play; none of them on awsrun's own command line unless a scenario says so.
# The source is temporary (it has a session token, sent to STS as it must be), so the code
# goes with each AssumeRole; "mfa-session-kept" has an IAM user's keys, whose code goes to
# GetSessionToken once and whose MFA session the cache keeps.
SOURCE_TOKEN = "FwoFAKEsourceSessionTokenEXAMPLE"
BASE_ENV: Dict[str, str] = {
    "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
    "AWS_SESSION_TOKEN": SOURCE_TOKEN,
    "AWSRUN_MFA_SERIAL": SERIAL,
    "AWSRUN_MFA_CODE": MFA_CODE,
    "AWSRUN_EXTERNAL_ID": EXTERNAL_ID,
}
# Profiles bring the keys, the MFA device and the external id themselves.
PROFILE_ENV: Dict[str, Optional[str]] = {
    "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWSRUN_MFA_SERIAL": None, "AWSRUN_EXTERNAL_ID": None,
    "AWS_SESSION_TOKEN": None,
}
PROFILE_FILES = {
    "credentials": f"[base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
                   f"aws_session_token = {SOURCE_TOKEN}\n",
    "config": (
        f"[profile jump]\nrole_arn = {JUMP}\nsource_profile = base\nmfa_serial = {SERIAL}\n"
        f"[profile target]\nrole_arn = {TARGET}\nsource_profile = jump\nexternal_id = {EXTERNAL_ID}\n"
        "region = eu-west-1\n"
    ),
}
DOTENV_KEYS = f"AWS_ACCESS_KEY_ID={SOURCE_KEY_ID}\nAWS_SECRET_ACCESS_KEY={SOURCE_SECRET}\nAWS_SESSION_TOKEN={SOURCE_TOKEN}\n"
# Line 3 opens a quote it never closes, around the secret: python-dotenv cannot parse it.
DOTENV_BAD_LINE = f"AWS_ACCESS_KEY_ID={SOURCE_KEY_ID}\nAWSRUN_ROLE={ROLE_ARN}\nAWS_SECRET_ACCESS_KEY='{SOURCE_SECRET}\n"
NO_SOURCE_IN_ENV: Dict[str, Optional[str]] = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                                                "AWS_SESSION_TOKEN": None}
NO_MFA: Dict[str, Optional[str]] = {"AWSRUN_MFA_SERIAL": None, "AWSRUN_MFA_CODE": None}
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Scenario:
    """One way to run awsrun, and what must be true of that run besides leaking nothing."""

    args: Tuple[str, ...]                       # awsrun's options
    script: Optional[Tuple[Reply, ...]] = (OK,)  # fake STS's answers; None: STS is a closed port
    command: Tuple[str, ...] = RUN_CHILD         # () for the output modes
    env: Dict[str, Optional[str]] = field(default_factory=dict)  # over BASE_ENV; None removes
    files: Dict[str, str] = field(default_factory=dict)  # ".env", "config" or "credentials"
    status: int = 0
    says: Tuple[str, ...] = ()                   # in what the runs showed: the path was taken
    sts_calls: Optional[int] = None
    last_signed_by: Optional[str] = None         # key id of the last STS call's signature
    runs: int = 1                                # 2: the second run must be a cache hit
    typed: Tuple[str, ...] = ()                  # MFA codes typed at the prompt, on a pseudo-terminal
    prints_credentials: bool = False             # --export / --credential-process
    federation: bool = False                     # --console: a fake federation endpoint (AWS_ENDPOINT_URL_SIGNIN)

    @property
    def gets_a_session(self) -> bool:
        return self.status == 0 and "--dry-run" not in self.args


def case(name: str, *args: str, marks: Sequence[pytest.MarkDecorator] = (), **fields: object) -> object:
    return pytest.param(Scenario(args, **fields), id=name, marks=marks)  # type: ignore[arg-type]


SCENARIOS = [
    # --- success, and what it shows ---
    case("success", *ROLE, says=("awsrun: assumed ",), sts_calls=1, last_signed_by=SOURCE_KEY_ID),
    case("verbose", "-v", *ROLE, says=("source credentials = env (****MPLE)", "mfa-code = ******", "external-id = ****"),
         sts_calls=1),
    case("source-keys-in-dotenv", *ROLE, env=NO_SOURCE_IN_ENV, files={".env": DOTENV_KEYS}, sts_calls=1,
         last_signed_by=SOURCE_KEY_ID),
    case("aws-cli-as-command", *ROLE, script=(OK, CALLER_IDENTITY), command=("aws", "sts", "get-caller-identity"),
         says=('"Arn": ', '"Account": '), sts_calls=2, last_signed_by=ISSUED_KEY_ID,
         marks=[NEEDS_AWS_CLI]),
    case("export", *ROLE, "--export", command=(), prints_credentials=True, sts_calls=1),
    case("credential-process", *ROLE, "--credential-process", command=(), prints_credentials=True, sts_calls=1),
    # The sign-in URL the user asked for holds a sign-in token, never the session's keys.
    case("console-print", *ROLE, "--console", "--print", command=(), federation=True,
         says=("Action=login", f"SigninToken={SIGNIN_TOKEN}"), sts_calls=1),
    case("console-print-debug", "--debug", *ROLE, "--console", "--print", command=(), federation=True,
         says=("Action=login",), sts_calls=1),
    case("dry-run", "--dry-run", *ROLE, says=(f"would assume {ROLE_ARN}", f"with MFA {SERIAL}"), sts_calls=0),
    case("cache-miss-then-hit", *ROLE, runs=2, says=("awsrun: assumed ", "awsrun: reusing cached session of "),
         sts_calls=1),
    case("mfa-session-kept", *ROLE, env={"AWS_SESSION_TOKEN": None}, script=(SESSION_TOKEN_OK, OK),
         says=("awsrun: assumed ",), sts_calls=2, last_signed_by=ISSUED_KEY_ID),
    case("profile-chain", "-p", "target", env=PROFILE_ENV, files=PROFILE_FILES, sts_calls=2, last_signed_by=ISSUED_KEY_ID),
    case("profile-chain-verbose", "-v", "-p", "target", env=PROFILE_ENV, files=PROFILE_FILES,
         says=("source credentials = shared-credentials-file (****MPLE)", "external id (from profile target)"),
         sts_calls=2),
    case("role-chain", "--role", JUMP, "--role", TARGET, sts_calls=2, last_signed_by=ISSUED_KEY_ID),
    case("refresh", "--refresh", *ROLE, env=NO_MFA, command=SHOW_CONFIG_THEN_CHILD,
         says=("serving renewed credentials",), sts_calls=1),
    case("refresh-mfa-profile-chain", "--refresh", "-p", "target", env=PROFILE_ENV, files=PROFILE_FILES,
         script=(SESSION_TOKEN_OK, OK), command=SHOW_CONFIG_THEN_CHILD, says=("serving renewed credentials", "region = eu-west-1"),
         sts_calls=3, last_signed_by=ISSUED_KEY_ID),
    # --- every way STS can fail ---
    case("access-denied", *ROLE, script=(DENIED,), status=125, says=("AccessDenied",), sts_calls=1),
    case("invalid-key-id", *ROLE, script=(error("InvalidClientTokenId", 403),), status=125,
         says=("InvalidClientTokenId",), sts_calls=1),
    case("wrong-secret", *ROLE, script=(error("SignatureDoesNotMatch", 403),), status=125,
         says=("SignatureDoesNotMatch",), sts_calls=1),
    case("expired-keys", *ROLE, script=(error("ExpiredToken", 400, "The security token included in the request is expired"),),
         status=125, says=("have expired",), sts_calls=1),
    case("throttled-after-retries", *ROLE, script=(error("Throttling", 400, "Rate exceeded"),), status=125,
         says=("throttled", "3 attempts"), sts_calls=3),
    case("http-500", *ROLE, script=(error("InternalFailure", 500),), status=125, says=("HTTP 500",), sts_calls=3),
    case("http-503", *ROLE, script=(error("ServiceUnavailable", 503),), status=125, says=("HTTP 503",), sts_calls=3),
    case("unreachable", *ROLE, "--connect-timeout", "1", script=None, status=125, says=("could not connect",)),
    case("read-timeout", *ROLE, "--read-timeout", "0.5", script=(hang(),), status=125,
         says=("did not answer in time",), sts_calls=3),
    case("truncated-xml-holding-the-secret", *ROLE, script=(TRUNCATED,), status=125,
         says=("not a readable AssumeRole response",)),
    case("malformed-xml-holding-the-secret", *ROLE, script=(MISMATCHED,), status=125,
         says=("not a readable AssumeRole response",)),
    case("non-xml-error-holding-the-secret", *ROLE, script=(PROXY_ECHO,), status=125, says=("awsrun: ",)),
    case("answer-without-credentials", *ROLE, script=(without_credentials(),), status=125,
         says=("without credentials",), sts_calls=1),
    # --- bad input, refused before any STS call ---
    case("bad-role", "--role", f"arn:aws:iam::{ACCOUNT}:user/Bob", status=125, says=("invalid role",), sts_calls=0),
    case("bad-duration", *ROLE, "--duration", "60", status=125, says=("invalid duration",), sts_calls=0),
    case("bad-tag", *ROLE, "--tag", "team", status=125, says=("invalid tag",), sts_calls=0),
    case("bad-policy", *ROLE, "--policy", '{"Version": ', status=125, says=("invalid policy",), sts_calls=0),
    # A copy-paste slip: the real external id with a trailing space.
    case("bad-external-id", *ROLE, env={"AWSRUN_EXTERNAL_ID": EXTERNAL_ID + " "}, status=125,
         says=("invalid external id",), sts_calls=0),
    # The real code with one digit too many, on the command line as the user typed it.
    case("bad-mfa-code", *ROLE, "--mfa-code", MFA_CODE + "7", env={"AWSRUN_MFA_CODE": None}, status=125,
         says=("invalid MFA code",), sts_calls=0),
    case("bad-env-line", env=NO_SOURCE_IN_ENV, files={".env": DOTENV_BAD_LINE}, status=125, says=("line 3",),
         sts_calls=0),
    case("missing-profile", "-p", "nosuch", env=PROFILE_ENV, files=PROFILE_FILES, status=125, says=("nosuch",),
         sts_calls=0),
    # --- --debug: tracebacks, never wire logging ---
    case("debug-access-denied", "--debug", *ROLE, script=(DENIED,), status=125, says=(TRACEBACK, "AccessDenied"),
         sts_calls=1),
    case("debug-truncated-xml", "--debug", *ROLE, script=(TRUNCATED,), status=125, says=(TRACEBACK,)),
    case("debug-malformed-xml", "--debug", *ROLE, script=(MISMATCHED,), status=125, says=(TRACEBACK,)),
    case("debug-bad-mfa-code", "--debug", *ROLE, env={"AWSRUN_MFA_CODE": MFA_CODE + "7"}, status=125,
         says=(TRACEBACK, "invalid MFA code"), sts_calls=0),
    case("debug-success", "--debug", *ROLE, sts_calls=1),
    # --- MFA ---
    case("mfa-code-refused", *ROLE, "--mfa-code", MFA_CODE, env={"AWSRUN_MFA_CODE": None}, script=(MFA_DENIED,),
         status=125, says=("refused the MFA code",), sts_calls=1),
    case("mfa-code-refused-debug", "--debug", *ROLE, script=(MFA_DENIED,), status=125,
         says=(TRACEBACK, "refused the MFA code"), sts_calls=1),
    case("mfa-prompt-wrong-then-right", *ROLE, env={"AWSRUN_MFA_CODE": None}, script=(MFA_DENIED, OK),
         typed=(WRONG_CODE, MFA_CODE), says=("refused the MFA code", "awsrun: assumed "), sts_calls=2),
    case("mfa-prompt-three-wrong", *ROLE, env={"AWSRUN_MFA_CODE": None}, script=(MFA_DENIED,),
         typed=(WRONG_CODE, MFA_CODE, OTHER_WRONG_CODE), status=125, says=("refused the MFA code",), sts_calls=3),
]


# --- running awsrun and watching its processes -----------------------------------------------


class CommandLines:
    """Every command line in a process tree, polled from /proc while it runs (and on demand)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: Set[Tuple[str, ...]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="cmdline-watch", daemon=True)

    def __enter__(self) -> "CommandLines":
        self.look()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            self.look()

    def look(self) -> None:
        pending = [self.root]
        while pending:
            pid = pending.pop()
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                for task in os.listdir(f"/proc/{pid}/task"):
                    pending += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except (OSError, ValueError):  # gone meanwhile
                continue
            if argv:
                self.seen.add(tuple(part.decode("utf-8", "surrogateescape") for part in argv.split(b"\0")[:-1]))


class Run(NamedTuple):
    status: Optional[int]
    stdout: str  # for a pseudo-terminal: empty, everything is in stderr
    stderr: str
    launched: Tuple[str, ...]
    command_lines: Set[Tuple[str, ...]]


def launch(argv: List[str], env: Dict[str, str]) -> Run:
    """awsrun as a process without a terminal (a new session); its output as bytes, decoded losslessly."""
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    with CommandLines(process.pid) as watch:
        out, err = process.communicate(timeout=60)
    return Run(process.returncode, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape"),
               tuple(argv), watch.seen)


def launch_on_terminal(argv: List[str], env: Dict[str, str], typed: Sequence[str]) -> Run:
    """awsrun on a pseudo-terminal; each code typed at its prompt, the process tree read at each prompt."""
    child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=20, dimensions=(24, 250))
    child.logfile_read = io.StringIO()
    with CommandLines(child.pid) as watch:
        for attempt, code in enumerate(typed, start=1):
            again = "" if attempt == 1 else f" (try {attempt} of 3)"
            child.expect_exact(f"MFA code for {SERIAL}{again}: ")
            watch.look()  # awsrun waits at the prompt now: what does its tree show?
            child.sendline(code)
        child.expect(pexpect.EOF)
        child.close()
    return Run(child.exitstatus, "", child.logfile_read.getvalue(), tuple(argv), watch.seen)


# --- the checks every run shares -------------------------------------------------------------


def pieces(value: str, size: int) -> Set[str]:
    """The runs of ``size`` characters of ``value`` that would give it away."""
    if len(value) <= size:
        return {value}
    return {value[i:i + size] for i in range(len(value) - size + 1) if len(set(value[i:i + size])) >= 4}


def leaks(text: str, allowed: Collection[str] = (), extra: Sequence[Tuple[str, str, int]] = ()) -> List[str]:
    """Each known secret ``text`` shows (beyond a masked key id), with what surrounds it."""
    found = []
    for name, value, size in (*SECRETS, *extra):
        if name in allowed:
            continue
        for piece in sorted(pieces(value, size)):
            at = text.find(piece)
            if at >= 0:
                found.append(f"{name}: ...{text[max(0, at - 60):at + len(piece) + 60]!r}...")
                break
    return found


def wire_logging(text: str) -> List[str]:
    """botocore/urllib3 DEBUG lines, response bodies or signatures in ``text``."""
    lines = [line for line in text.splitlines() if "DEBUG" in line and ("botocore" in line or "urllib3" in line)]
    return lines + [mark for mark in WIRE_MARKS if mark in text]


def split_child_reports(text: str) -> Tuple[List[dict], str]:
    """tests/child.py's JSON lines (its own environment), and everything else."""
    reports, rest = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith('{"pid": '):
            try:
                reports.append(json.loads(line))
                continue
            except ValueError:
                pass
        rest.append(line)
    return reports, "".join(rest)


def assert_run_leaks_nothing(run: Run, scenario: Scenario, extra: List[Tuple[str, str, int]]) -> None:
    """The shared helper: output, the child's argv and environment, command lines, wire logging."""
    reports, stdout = split_child_reports(run.stdout)
    reports_on_terminal, stderr = split_child_reports(run.stderr)
    problems = []
    allowed = ISSUED if scenario.prints_credentials else ()
    problems += [f"stdout shows {leak}" for leak in leaks(stdout, allowed, extra)]
    problems += [f"stderr shows {leak}" for leak in leaks(stderr, (), extra)]
    problems += [f"stderr shows wire logging: {mark!r}" for mark in wire_logging(stderr)]
    if not scenario.prints_credentials:
        problems += [f"stdout shows wire logging: {mark!r}" for mark in wire_logging(stdout)]
    elif run.status == 0:
        assert ISSUED_SECRET in stdout, "the output mode printed no credentials: nothing was in play"
    for report in reports + reports_on_terminal:
        assert report["argv"] == CHILD_ARGV, report["argv"]
        problems += [f"the child's argv holds {leak}" for leak in leaks(json.dumps(report["argv"]), (), extra)]
        problems += [f"the child's environment holds {leak}"
                     for leak in leaks(json.dumps(report["env"]), ISSUED | {"endpoint token"}, extra)]
    assert run.launched in run.command_lines, "the /proc watch never saw awsrun itself"
    for line in sorted(run.command_lines - {run.launched}):
        problems += [f"command line {line!r} holds {leak}" for leak in leaks("\0".join(line), (), extra)]
    assert not problems, "\n".join(problems)


def tree(root: Path, cache: Path) -> Dict[Path, bytes]:
    """Every file under ``root`` and its content (a symlink: its target), the cache folder aside."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if Path(folder, name) != cache]
        for name in names:
            path = Path(folder, name)
            found[path] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


def assert_cache_is_private(cache: Path, session_issued: bool) -> None:
    """0700 folder, 0600 regular files, no temporary leftovers; only the temporary credentials inside."""
    if not cache.exists():
        assert not session_issued, "a session was issued but not cached"
        return
    info = cache.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700, oct(info.st_mode)
    holding_the_secret = []
    for path in cache.iterdir():
        info = path.lstat()
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, f"{path.name} {oct(info.st_mode)}"
        assert not path.name.endswith(".tmp"), f"left behind: {path.name}"
        content = path.read_text(errors="surrogateescape")
        assert not leaks(content, ISSUED), f"{path.name}: {leaks(content, ISSUED)}"
        if ISSUED_SECRET in content:
            holding_the_secret.append(path.name)
    if session_issued:
        assert [name for name in holding_the_secret if name.endswith(".session")], "no cache entry holds the session"


# --- the matrix ------------------------------------------------------------------------------


@pytest.fixture
def places(tmp_path: Path) -> Tuple[Path, Path]:
    """(TMPDIR, cache folder): both inside tmp_path, so every file a run writes can be seen."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    return temporary, Path(os.environ["HOME"]) / ".cache" / "awsrun"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_secret_leaks(scenario: Scenario, tmp_path: Path, places: Tuple[Path, Path]) -> None:
    temporary, cache = places
    targets = {".env": Path(".env"), "config": Path(os.environ["AWS_CONFIG_FILE"]),
               "credentials": Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])}
    for name, text in scenario.files.items():
        targets[name].write_text(text)
        if name == ".env":
            trust_env_file()
    sts = FakeSts(scenario.script).start() if scenario.script is not None else None
    signin = Federation() if scenario.federation else None
    try:
        env = {**os.environ, **BASE_ENV, "TMPDIR": str(temporary), "XDG_CACHE_HOME": str(cache.parent),
               "AWS_ENDPOINT_URL_STS": sts.url if sts else closed_port_url(),
               **({"AWS_ENDPOINT_URL_SIGNIN": signin.url} if signin else {})}
        for name, value in scenario.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        argv = [sys.executable, "-m", "awsrun", *scenario.args, *(("--", *scenario.command) if scenario.command else ())]
        before = tree(tmp_path, cache)
        runs = [launch_on_terminal(argv, env, scenario.typed) if scenario.typed else launch(argv, env)
                for _ in range(scenario.runs)]
        written = {path: data for path, data in tree(tmp_path, cache).items() if before.get(path) != data}
        requests = list(sts.requests) if sts else []
    finally:
        if sts:
            sts.stop()
        if signin:
            signin.server.shutdown()
            signin.server.server_close()
    if signin and scenario.status == 0:  # the federation endpoint got the session, as the protocol has it
        assert len(signin.seen) == 1 and ISSUED_SECRET in signin.seen[0]["Session"]

    # The scenario took the path it is named for.
    shown = "".join(run.stdout + run.stderr for run in runs)
    assert [run.status for run in runs] == [scenario.status] * scenario.runs, shown
    for words in scenario.says:
        assert words in shown, f"{words!r} not in:\n{shown}"
    if scenario.sts_calls is not None:
        assert len(requests) == scenario.sts_calls, [r.form.get("Action") for r in requests]
    if scenario.last_signed_by:
        assert f"Credential={scenario.last_signed_by}/" in requests[-1].authorization
    if scenario.command == RUN_CHILD and scenario.gets_a_session:
        assert all(split_child_reports(run.stdout + run.stderr)[0] for run in runs), "the child did not run"

    # Secrets this run made up itself: --refresh's endpoint token (the child got it).
    extra = [("MFA code typed", code, 6) for code in scenario.typed]
    for run in runs:
        for report in split_child_reports(run.stdout + run.stderr)[0]:
            token = report["env"].get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            if token:
                extra.append(("endpoint token", token, 8))

    for run in runs:
        assert_run_leaks_nothing(run, scenario, extra)
    problems = [f"{path} holds {leak}" for path, data in sorted(written.items())
                for leak in leaks(data.decode("utf-8", "surrogateescape"), (), extra)]
    assert not problems, "\n".join(problems)
    assert_cache_is_private(cache, scenario.gets_a_session)
    for request in requests:  # signatures only: a secret key never travels
        sent = json.dumps([request.headers, request.form])
        assert SOURCE_SECRET not in sent and ISSUED_SECRET not in sent


# --- awsrun-keys: the keyring's keys stay in the keyring -------------------------------------
#
# Each scenario is a sequence of awsrun-keys (and awsrun) runs against a real Secret Service
# and moto's IAM and STS. Only `awsrun-keys get`'s stdout may show a long-lived secret.

try:  # the fixtures of awsrun-keys' tests; without the keyring library those tests skip
    from tests.keys_support import iam_env, keys_bin, secret_service, secret_service_session  # noqa: F401
except pytest.skip.Exception:
    pass

KEYS_SCENARIOS = {
    "add-list-get": [("add", "work", "--stdin"), ("list",), ("get", "work")],
    "add-debug-with-a-bad-secret": [("add", "work", "--stdin", "--debug", "BAD SECRET")],
    "import-then-list": [("import", "work"), ("list",)],
    "rotate": [("add", "work", "--stdin"), ("rotate", "work", "--debug"), ("list",), ("get", "work")],
    "rotate-refused-two-keys": [("add", "work", "--stdin"), ("SECOND KEY",), ("rotate", "work", "--debug")],
    "remove-then-get": [("add", "work", "--stdin"), ("remove", "work"), ("get", "work", "--debug")],
    "awsrun-with-a-keyring-source": [("add", "work", "--stdin"), ("AWSRUN", "-v", "-p", "work", *ROLE)],
    "awsrun-with-a-keyring-source-profile": [("add", "work", "--stdin"), ("AWSRUN", "-p", "deploy")],
}


def _launch_keys(argv: List[str], env: Dict[str, str], stdin: str) -> Run:
    process = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    with CommandLines(process.pid) as watch:
        out, err = process.communicate(stdin.encode(), timeout=60)
    return Run(process.returncode, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape"),
               tuple(argv), watch.seen)


@pytest.mark.parametrize("steps", list(KEYS_SCENARIOS.values()), ids=list(KEYS_SCENARIOS))
def test_no_secret_leaks_from_the_keyring(steps: List[Tuple[str, ...]], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("keyring", reason="awsrun-keys needs the keyring library")
    from tests.keys_support import iam_client, new_iam_user, stored_items

    request.getfixturevalue("secret_service")
    moto = request.getfixturevalue("moto_sts")
    request.getfixturevalue("iam_env")
    request.getfixturevalue("keys_bin")
    user = new_iam_user(moto)
    # moto's key ids share their first half (it encodes the account), so the last 8 characters,
    # of which a masked id shows 4, are what tells one key id.
    secrets = [("keyring secret", user.secret, 8), ("keyring key id", user.key_id[-8:], 8)]
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(f"[work]\naws_access_key_id = {user.key_id}\naws_secret_access_key = {user.secret}\n")
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = work\n")
    if steps[0][0] == "add":
        credentials.write_text("")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    before = tree(tmp_path, tmp_path / "no-such")
    runs: List[Tuple[Tuple[str, ...], Run]] = []
    for step in steps:
        if step == ("SECOND KEY",):
            other = iam_client(moto).create_access_key(UserName=user.name)["AccessKey"]  # type: ignore[attr-defined]
            secrets += [("other secret", other["SecretAccessKey"], 8), ("other key id", other["AccessKeyId"][-8:], 8)]
            continue
        if step[0] == "AWSRUN":
            argv = [sys.executable, "-m", "awsrun", "--no-cache", *step[1:], "--", *RUN_CHILD]
            stdin = ""
        else:
            bad = step[-1] == "BAD SECRET"
            argv = ["awsrun-keys", *(step[:-1] if bad else step)]
            stdin = f"{user.key_id}\n{user.secret[:-3]}!!!\n" if bad else f"{user.key_id}\n{user.secret}\n"
        runs.append((step, _launch_keys(argv, env, stdin)))
    for secret in (json.loads(text) for name, text in stored_items().items() if name != ".names"):
        secrets += [("rotated secret", secret["secret"], 8), ("rotated key id", secret["key_id"][-8:], 8)]
    written = {path: data for path, data in tree(tmp_path, tmp_path / "no-such").items() if before.get(path) != data}

    problems = []
    for step, run in runs:
        shown = run.stdout + run.stderr
        if step[0] == "AWSRUN":
            assert run.status == 0, shown
            reports, rest = split_child_reports(run.stdout)
            assert reports, "the child did not run"
            for report in reports:  # the long-lived key never reaches the command
                problems += [f"{step}: the child's environment holds {leak}"
                             for leak in leaks(json.dumps(report["env"]), (), secrets)]
            shown = rest + run.stderr
        elif step[0] == "get" and run.status == 0:
            assert json.loads(run.stdout)["SecretAccessKey"] in {value for _, value, _ in secrets}
            shown = run.stderr  # get's stdout is the one place a secret is printed, by request
        problems += [f"{step}: output shows {leak}" for leak in leaks(shown, (), secrets)]
        for line in sorted(run.command_lines):
            problems += [f"{step}: command line {line!r} holds {leak}" for leak in leaks("\0".join(line), (), secrets)]
    problems += [f"{path} holds {leak}" for path, data in sorted(written.items())
                 for leak in leaks(data.decode("utf-8", "surrogateescape"), (), secrets)]
    assert not problems, "\n".join(problems)
    statuses = [run.status for _, run in runs]
    assert statuses[0] == (125 if "BAD SECRET" in steps[0] else 0), runs[0][1].stderr
