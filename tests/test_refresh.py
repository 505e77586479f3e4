"""--refresh: the loopback credential endpoint, the child's environment, signals, renewal.

awsrun runs as a real process wherever its behaviour as a parent matters: its children
are real SDKs (botocore, the AWS CLI) against moto, or small scripts that probe the
endpoint, poll it, or record the signals they get. tests/fake_sts.py issues sessions that
expire seconds after they are issued, so renewal is seen without waiting long; the
schedule itself is checked in-process with an injected clock, and no test waits for a
real expiry. "Not on a terminal" runs use ``start_new_session=True`` (no /dev/tty);
terminal runs use pexpect, whose pseudo-terminal is awsrun's controlling terminal.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from shutil import which
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import pexpect
import pytest

from awsrun.credentials import Credentials
from awsrun.deliver.refresh import RETRY_AFTER, Refresher
from awsrun.deliver.server import PATH, CredentialServer
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun, needs_aws_cli, trust_env_file
from tests.fake_sts import (
    MFA_SESSION_KEY_ID,
    MFA_SESSION_TOKEN,
    FakeSts,
    assume_role_issuing,
    error,
    get_session_token_ok,
)
from tests.fake_sts import Request as StsRequest

ASSUMED = "arn:aws:sts::123456789012:assumed-role/Deploy/"
SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
SERIAL = "arn:aws:iam::123456789012:mfa/alice"
CODE = "123456"
KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
SHORT_SESSION = timedelta(seconds=3)  # rounded up to a whole second: 3 to 4 s of life
POLL_SECONDS = 5.0
PTY_TIMEOUT = 20


def refresh_args(*extra: str) -> List[str]:
    """awsrun --refresh for ROLE_ARN, never touching a cache another test could share."""
    return ["--refresh", "--no-cache", "--role", ROLE_ARN, *extra]


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- child scripts ---------------------------------------------------------------------------

# A botocore program: how it found credentials, who it is, and what it sees.
SDK_PROBE = """
import json, os, sys
import botocore.session

session = botocore.session.get_session()
credentials = session.get_credentials()
frozen = credentials.get_frozen_credentials()
client = session.create_client("sts")
config_file = os.environ.get("AWS_CONFIG_FILE", "")
config_text = open(config_file).read() if config_file and os.path.isfile(config_file) else None
print(json.dumps({
    "method": credentials.method,
    "arn": client.get_caller_identity()["Arn"],
    "region": client.meta.region_name,
    "max_attempts": session.get_config_variable("max_attempts"),
    "served": [frozen.access_key, frozen.secret_key, frozen.token],
    "config_file": config_file,
    "config_text": config_text,
    "env": dict(os.environ),
}))
"""

# Asks its own endpoint the wrong ways and the right one; prints each status.
ENDPOINT_PROBE = """
import json, os, urllib.error, urllib.request

url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def ask(target, headers, method="GET"):
    try:
        with opener.open(urllib.request.Request(target, headers=headers, method=method), timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, None

other = url.rsplit("/", 1)[0] + "/other"
print(json.dumps({
    "url": url,
    "token": token,
    "none": ask(url, {})[0],
    "wrong": ask(url, {"Authorization": token[:-1] + ("A" if token[-1] != "A" else "B")})[0],
    "path": ask(other, {"Authorization": token})[0],
    "post": ask(url, {"Authorization": token}, "POST")[0],
    "right": ask(url, {"Authorization": token}),
}))
"""

# Polls its endpoint every 0.1 s for argv[1] seconds, then exits argv[2].
POLLER = """
import json, os, sys, time, urllib.request

seconds, status = float(sys.argv[1]), int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                 headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
polls = []
end = time.time() + seconds
while time.time() < end:
    with opener.open(request, timeout=5) as answer:
        document = json.load(answer)
    polls.append([time.time(), document["AccessKeyId"], document["Expiration"]])
    time.sleep(0.1)
print(json.dumps({"polls": polls}))
sys.exit(status)
"""

# Records each SIGTERM/SIGHUP/SIGINT/SIGQUIT it gets (one line each) in argv[1], says it is
# ready by writing its AWS_CONFIG_FILE to argv[2], and after the first signal waits for a
# duplicate, then exits argv[3].
TRAP = """
import os, signal, sys, time

record, ready, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = []

def on(signum, frame):
    with open(record, "a") as stream:
        stream.write(signal.Signals(signum).name + "\\n")
    got.append(signum)

for name in ("SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT"):
    signal.signal(getattr(signal, name), on)
with open(ready + ".tmp", "w") as stream:
    stream.write(os.environ["AWS_CONFIG_FILE"])
os.rename(ready + ".tmp", ready)
deadline = time.monotonic() + 15
while not got and time.monotonic() < deadline:
    time.sleep(0.02)
time.sleep(0.4)
sys.exit(status)
"""


def wait_for(path: Path, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def recorded(path: Path) -> List[str]:
    return path.read_text().split() if path.exists() else []


# --- real SDKs as the child, against moto ----------------------------------------------------


@pytest.mark.parametrize(
    "switch, where",
    [("flag", "environment"), ("environment", "dotenv"), ("dotenv", "credentials-file")],
    ids=["flag-keys-in-environment", "AWSRUN_REFRESH-keys-in-dotenv", "dotenv-keys-in-credentials-file"],
)
def test_a_botocore_child_is_the_role_and_holds_no_key_variable_and_no_source_secret(
    switch: str, where: str, source_env: Dict[str, str], isolated: Path, tmp_path: Path,
) -> None:
    env = {"AWS_ENDPOINT_URL_STS": source_env["AWS_ENDPOINT_URL_STS"]}
    dotenv = ""
    if where == "environment":
        env.update(SOURCE)
    elif where == "dotenv":
        dotenv += "".join(f"{name}={value}\n" for name, value in SOURCE.items())
    else:
        (Path(os.environ["HOME"]) / ".aws" / "credentials").write_text(
            f"[default]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n")
    args = ["--refresh"] if switch == "flag" else []
    if switch == "environment":
        env["AWSRUN_REFRESH"] = "true"
    elif switch == "dotenv":
        dotenv += "AWSRUN_REFRESH=true\n"
    if dotenv:
        (isolated / ".env").write_text(dotenv)
        trust_env_file(isolated / ".env")
    probe = script(tmp_path, "probe.py", SDK_PROBE)
    result = run_awsrun([*args, "--no-cache", "--role", ROLE_ARN, "--", sys.executable, probe], env=env)
    assert result.returncode == 0, result.stderr
    report = child_report(result.stdout)
    child_env = report["env"]
    assert report["method"] == "container-role"
    assert report["arn"].startswith(ASSUMED)
    assert child_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert len(child_env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) >= 43  # 256 bits, url-safe base64
    assert not [name for name in KEY_VARIABLES if name in child_env]
    assert child_env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    served_secret, served_token = report["served"][1:]
    for secret in (SOURCE_SECRET, SOURCE_KEY_ID, served_secret, served_token):
        assert not [name for name, value in child_env.items() if secret in value]
        assert secret not in report["config_text"]
    for secret in (SOURCE_SECRET, served_secret, served_token):
        assert secret not in result.stderr


@needs_aws_cli
def test_the_aws_cli_as_the_child_is_the_role_through_the_endpoint(source_env: Dict[str, str]) -> None:
    command = "aws sts get-caller-identity --query Arn --output text && aws configure list"
    result = run_awsrun([*refresh_args(), "--", "sh", "-c", command], env=source_env)
    assert result.returncode == 0, result.stderr
    arn, *listing = result.stdout.splitlines()
    assert arn.startswith(ASSUMED)
    access_key = next(line for line in listing if line.split()[:1] == ["access_key"])
    assert access_key.split()[2] == "container-role"


@pytest.mark.parametrize(
    "config, credentials",
    [
        ("[default]\ncredential_process = /bin/false\nregion = eu-west-2\n", ""),
        ("[default]\nrole_arn = arn:aws:iam::123456789012:role/Other\nsource_profile = base\nregion = eu-west-2\n"
         f"[profile base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n", ""),
        ("[default]\nrole_arn = arn:aws:iam::123456789012:role/Other\n"
         "web_identity_token_file = /nonexistent/token\nregion = eu-west-2\n", ""),
        (f"[default]\naws_access_key_id = AKIADEFAULTEXAMPLE00\naws_secret_access_key = {SOURCE_SECRET}\n"
         "region = eu-west-2\n",
         f"[default]\naws_access_key_id = AKIADEFCREDEXAMPLEF0\naws_secret_access_key = {SOURCE_SECRET}\n"),
    ],
    ids=["credential_process", "role_arn+source_profile", "web_identity", "static-keys"],
)
def test_the_users_default_profile_does_not_win_but_its_region_reaches_the_child(
    config: str, credentials: str, source_env: Dict[str, str], tmp_path: Path,
) -> None:
    aws = Path(os.environ["HOME"]) / ".aws"
    (aws / "config").write_text(config)
    (aws / "credentials").write_text(credentials)
    probe = script(tmp_path, "probe.py", SDK_PROBE)
    result = run_awsrun([*refresh_args(), "--", sys.executable, probe], env=source_env)
    assert result.returncode == 0, result.stderr
    report = child_report(result.stdout)
    assert report["method"] == "container-role"
    assert report["arn"].startswith(ASSUMED)
    assert report["region"] == "eu-west-2"


def test_a_profiles_settings_reach_the_child_without_its_ways_to_credentials(
    source_env: Dict[str, str], tmp_path: Path,
) -> None:
    aws = Path(os.environ["HOME"]) / ".aws"
    (aws / "config").write_text(
        f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = eu-west-1\nmax_attempts = 7\n"
        f"[profile base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
    )
    probe = script(tmp_path, "probe.py", SDK_PROBE)
    env = {"AWS_ENDPOINT_URL_STS": source_env["AWS_ENDPOINT_URL_STS"]}  # the profile is the source
    result = run_awsrun(["--refresh", "--no-cache", "--profile", "deploy", "--", sys.executable, probe], env=env)
    assert result.returncode == 0, result.stderr
    report = child_report(result.stdout)
    assert (report["method"], report["region"], report["max_attempts"]) == ("container-role", "eu-west-1", 7)
    assert report["arn"].startswith(ASSUMED)
    assert report["config_file"] != str(aws / "config")
    for key in ("role_arn", "source_profile", "aws_access_key_id", "aws_secret_access_key"):
        assert key not in report["config_text"]


# --- the endpoint ----------------------------------------------------------------------------

SERVED = Credentials("ASIASERVEDKEY0000001", "servedSecret" + "s" * 28, "servedToken" + "t" * 40,
                     datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc), ASSUMED + "test")


@pytest.fixture
def endpoint() -> Iterator[Tuple[CredentialServer, List[Credentials]]]:
    """A running CredentialServer serving the last item of a list the test may append to."""
    served = [SERVED]
    server = CredentialServer(lambda: served[-1]).start()
    yield server, served
    server.stop()


def ask(server: CredentialServer, method: str = "GET", path: str = PATH,
        headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_endpoint_serves_the_current_credentials_for_the_right_token(endpoint: Tuple) -> None:
    server, served = endpoint
    status, body = ask(server, headers={"Authorization": server.token})
    assert status == 200
    assert json.loads(body) == {
        "AccessKeyId": SERVED.access_key_id,
        "SecretAccessKey": SERVED.secret_access_key,
        "Token": SERVED.session_token,
        "Expiration": "2030-01-02T03:04:05Z",
        "RoleArn": SERVED.assumed_role_arn,
        "AccountId": "123456789012",  # the role's, as a string, as the SDKs read it
    }
    served.append(SERVED._replace(access_key_id="ASIASERVEDKEY0000002"))
    status, body = ask(server, headers={"Authorization": server.token})
    assert json.loads(body)["AccessKeyId"] == "ASIASERVEDKEY0000002"
    served.append(SERVED._replace(assumed_role_arn="arn:aws:sts::12345:assumed-role/Deploy/test"))
    status, body = ask(server, headers={"Authorization": server.token})
    assert "AccountId" not in json.loads(body)  # not 12 digits: no account id rather than a wrong one


@pytest.mark.parametrize(
    "method, path, authorization, status",
    [
        ("GET", PATH, None, 401),
        ("GET", PATH, "", 401),
        ("GET", PATH, "wrong", 401),
        ("GET", PATH, "{token}x", 401),
        ("GET", PATH, "{short}", 401),
        ("GET", PATH, "Bearer {token}", 401),
        ("GET", "/", "{token}", 404),
        ("GET", PATH + "/", "{token}", 404),
        ("GET", PATH + "?role=x", "{token}", 404),
        ("GET", "/latest/meta-data/iam/security-credentials/", "{token}", 404),
        ("POST", PATH, "{token}", 405),
        ("PUT", PATH, "{token}", 405),
        ("DELETE", PATH, "{token}", 405),
        ("PATCH", PATH, "{token}", 405),
        ("OPTIONS", PATH, "{token}", 405),
        ("HEAD", PATH, "{token}", 405),
        ("POST", PATH, None, 405),
    ],
)
def test_the_endpoint_refuses_other_tokens_paths_and_methods(
    method: str, path: str, authorization: Optional[str], status: int, endpoint: Tuple,
) -> None:
    server, _ = endpoint
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=server.token, short=server.token[:-1])
    answer, body = ask(server, method, path, headers)
    assert answer == status
    for secret in (SERVED.access_key_id, SERVED.secret_access_key, SERVED.session_token, server.token):
        assert secret.encode() not in body


def test_the_endpoint_listens_on_127_0_0_1_only(endpoint: Tuple) -> None:
    server, _ = endpoint
    parts = urllib.parse.urlsplit(server.url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", PATH)
    socket.create_connection(("127.0.0.1", parts.port), timeout=2).close()
    # Linux routes all of 127/8 to the loopback device: a wildcard bind would answer here.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", parts.port), timeout=2).close()


def test_each_endpoint_has_its_own_random_token() -> None:
    servers = [CredentialServer(lambda: SERVED).start() for _ in range(2)]
    try:
        tokens = [server.token for server in servers]
        assert tokens[0] != tokens[1]
        assert all(len(token) >= 43 and token.replace("-", "").replace("_", "").isalnum() for token in tokens)
    finally:
        for server in servers:
            server.stop()


def test_the_child_is_refused_by_its_endpoint_without_the_token(source_env: Dict[str, str], tmp_path: Path) -> None:
    probe = script(tmp_path, "endpoint.py", ENDPOINT_PROBE)
    result = run_awsrun([*refresh_args(), "--", sys.executable, probe], env=source_env)
    assert result.returncode == 0, result.stderr
    report = child_report(result.stdout)
    assert urllib.parse.urlsplit(report["url"]).hostname == "127.0.0.1"
    assert (report["none"], report["wrong"], report["path"], report["post"]) == (401, 401, 404, 405)
    status, document = report["right"]
    assert status == 200
    assert document["RoleArn"].startswith(ASSUMED)
    assert document["AccessKeyId"].startswith("ASIA")
    assert datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ")


# --- exit status and signals -----------------------------------------------------------------


@pytest.mark.parametrize(
    "ending, status",
    [("exit 0", 0), ("exit 1", 1), ("exit 2", 2), ("exit 42", 42),
     ("kill -KILL $$", 128 + signal.SIGKILL), ("kill -TERM $$", 128 + signal.SIGTERM),
     ("kill -HUP $$", 128 + signal.SIGHUP)],
)
def test_the_childs_status_passes_through_and_the_config_is_the_one_shared_neutral_copy(
    ending: str, status: int, source_env: Dict[str, str],
) -> None:
    command = f'echo "$AWS_CONFIG_FILE"; test -f "$AWS_CONFIG_FILE" && echo exists; {ending}'
    result = run_awsrun([*refresh_args(), "--", "sh", "-c", command], env=source_env)
    assert result.returncode == status, result.stderr
    config_file, seen = result.stdout.splitlines()
    assert seen == "exists"
    folder = Path(os.environ["HOME"]) / ".cache" / "awsrun"
    assert Path(config_file).parent == folder  # no temporary file elsewhere, one copy reused
    assert [path.name for path in folder.iterdir()] == [Path(config_file).name]


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT"])
def test_a_signal_sent_to_awsrun_off_a_terminal_reaches_the_child_once(
    name: str, source_env: Dict[str, str], tmp_path: Path,
) -> None:
    record, ready = tmp_path / "signals", tmp_path / "ready"
    trap = script(tmp_path, "trap.py", TRAP)
    awsrun = subprocess.Popen(
        [sys.executable, "-m", "awsrun", *refresh_args(), "--", sys.executable, trap, str(record), str(ready), "5"],
        env={**os.environ, **source_env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        wait_for(ready)
        os.kill(awsrun.pid, getattr(signal, name))
        _, stderr = awsrun.communicate(timeout=20)
    finally:
        if awsrun.poll() is None:
            awsrun.kill()
            awsrun.wait()
    assert recorded(record) == [name]
    assert awsrun.returncode == 5, stderr
    assert Path(ready.read_text()).parent == Path(os.environ["HOME"]) / ".cache" / "awsrun"  # the shared copy


def _keyboard(key: str) -> Callable[[pexpect.spawn], None]:
    return lambda awsrun: awsrun.send(key)


def _kill_term(awsrun: pexpect.spawn) -> None:
    os.kill(awsrun.pid, signal.SIGTERM)


@pytest.mark.parametrize(
    "send, name",
    [(_keyboard("\x03"), "SIGINT"), (_keyboard("\x1c"), "SIGQUIT"), (_kill_term, "SIGTERM")],
    ids=["ctrl-c", "ctrl-backslash", "kill-term"],
)
def test_on_a_terminal_each_signal_reaches_the_child_exactly_once(
    send: Callable[[pexpect.spawn], None], name: str, source_env: Dict[str, str], tmp_path: Path,
) -> None:
    record, ready = tmp_path / "signals", tmp_path / "ready"
    trap = script(tmp_path, "trap.py", TRAP)
    awsrun = pexpect.spawn(
        sys.executable, ["-m", "awsrun", *refresh_args(), "--", sys.executable, trap, str(record), str(ready), "6"],
        env={**os.environ, **source_env}, encoding="utf-8", timeout=PTY_TIMEOUT,
    )
    awsrun.logfile_read = io.StringIO()
    try:
        wait_for(ready)
        send(awsrun)
        awsrun.expect(pexpect.EOF)
    finally:
        awsrun.close(force=True)
    assert recorded(record) == [name], awsrun.logfile_read.getvalue()
    assert awsrun.exitstatus == 6, awsrun.logfile_read.getvalue()
    assert Path(ready.read_text()).parent == Path(os.environ["HOME"]) / ".cache" / "awsrun"  # the shared copy


def test_ctrl_c_ends_a_child_that_does_not_trap_it_and_awsrun_exits_130(source_env: Dict[str, str]) -> None:
    awsrun = pexpect.spawn(
        sys.executable, ["-m", "awsrun", *refresh_args(), "--", "sh", "-c", "echo started; exec sleep 20"],
        env={**os.environ, **source_env}, encoding="utf-8", timeout=PTY_TIMEOUT,
    )
    awsrun.logfile_read = io.StringIO()
    try:
        awsrun.expect("started")
        time.sleep(0.2)  # let sh exec sleep
        awsrun.sendintr()
        awsrun.expect(pexpect.EOF)
    finally:
        awsrun.close(force=True)
    shown = awsrun.logfile_read.getvalue()
    assert awsrun.exitstatus == 128 + signal.SIGINT, shown
    assert "interrupted" not in shown and "Traceback" not in shown


def test_the_child_keeps_stdin_and_stdout(source_env: Dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "awsrun", *refresh_args(), "--", "sh", "-c", "read line; echo \"got $line\""],
        env={**os.environ, **source_env}, input="hello\n", capture_output=True, text=True, timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "got hello\n"), result.stderr


@pytest.mark.parametrize(
    "content, status, problem",
    [
        ("#!/nonexistent/interpreter\necho hi\n", 127, "not found"),
        ("\x7fELF not really a program\n", 126, "cannot be executed"),
    ],
    ids=["missing-interpreter", "exec-format-error"],
)
def test_a_command_the_system_cannot_start_fails_as_in_exec_mode(
    content: str, status: int, problem: str, source_env: Dict[str, str], tmp_path: Path,
) -> None:
    """It passes awsrun's own look-up (it exists and is executable), so only starting it fails:
    exec mode then exits 127 / 126 with a one-line reason; --refresh must do the same."""
    command = tmp_path / "program"
    command.write_text(content)
    command.chmod(0o755)
    result = run_awsrun([*refresh_args(), "--", str(command)], env=source_env)
    assert result.returncode == status, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert problem in last and str(command) in last


# --- the renewal schedule, with an injected clock --------------------------------------------

T0 = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def session(number: int, life: timedelta, issued: datetime = T0) -> Credentials:
    return Credentials(f"ASIASESSION{number:09d}", f"secret{number}", f"token{number}", issued + life, ASSUMED + "s")


class Fetches:
    """The fetch function: answers with the next outcome (a Credentials or an exception to raise)."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes, self.calls = list(outcomes), 0

    def __call__(self) -> Credentials:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]


# (session life at issue, when it is due after issue): 20 minutes early, or at half-life.
SCHEDULE = [
    (timedelta(seconds=4), timedelta(seconds=2)),
    (timedelta(minutes=15), timedelta(minutes=7, seconds=30)),
    (timedelta(minutes=40), timedelta(minutes=20)),
    (timedelta(hours=1), timedelta(minutes=40)),
    (timedelta(hours=12), timedelta(hours=11, minutes=40)),
]
SCHEDULE_IDS = ["4s", "15min", "40min", "1h", "12h"]


@pytest.mark.parametrize("life, due_after", SCHEDULE, ids=SCHEDULE_IDS)
def test_a_fresh_session_is_due_20_minutes_early_or_at_half_life(life: timedelta, due_after: timedelta) -> None:
    clock = Clock()
    refresher = Refresher(session(1, life), Fetches(session(2, life)), lambda message: None, clock)
    assert refresher.due() == T0 + due_after
    assert refresher.seconds_to_wait() == due_after.total_seconds()


@pytest.mark.parametrize("life, due_after", SCHEDULE, ids=SCHEDULE_IDS)
def test_the_due_time_stays_put_as_the_clock_runs_towards_it(life: timedelta, due_after: timedelta) -> None:
    clock = Clock()
    refresher = Refresher(session(1, life), Fetches(session(2, life)), lambda message: None, clock)
    clock.now = T0 + due_after * 0.75
    assert refresher.due() == T0 + due_after
    assert refresher.seconds_to_wait() == (due_after * 0.25).total_seconds()


@pytest.mark.parametrize("life, due_after", SCHEDULE, ids=SCHEDULE_IDS)
def test_tick_renews_when_due_and_not_before(life: timedelta, due_after: timedelta) -> None:
    clock = Clock()
    fresh = session(2, life, T0 + due_after)
    fetch = Fetches(fresh)
    refresher = Refresher(session(1, life), fetch, lambda message: None, clock)
    for moment in (T0, T0 + due_after / 2, T0 + due_after - timedelta(milliseconds=1)):
        clock.now = moment
        refresher.tick()
    assert (fetch.calls, refresher.current()) == (0, session(1, life))
    clock.now = T0 + due_after
    refresher.tick()
    assert (fetch.calls, refresher.current()) == (1, fresh)


@pytest.mark.parametrize("past_expiry", [timedelta(0), timedelta(seconds=1), timedelta(hours=2)])
def test_an_expired_session_is_due_now_and_nothing_is_waited_for(past_expiry: timedelta) -> None:
    clock = Clock()
    fetch = Fetches(session(2, timedelta(hours=1)))
    refresher = Refresher(session(1, timedelta(minutes=30)), fetch, lambda message: None, clock)
    clock.now = T0 + timedelta(minutes=30) + past_expiry
    assert refresher.seconds_to_wait() == 0.0
    refresher.tick()
    assert fetch.calls == 1


class Refused(Exception):
    pass


def test_failed_renewals_keep_the_old_session_warn_once_retry_every_30s_and_say_when_renewed() -> None:
    clock = Clock()
    old, fresh = session(1, timedelta(hours=1)), session(2, timedelta(hours=1))
    fetch = Fetches(Refused("AccessDenied"), Refused("AccessDenied"), Refused("Throttling"), fresh)
    said: List[str] = []
    refresher = Refresher(old, fetch, said.append, clock)
    # At the expiry itself the session is due by any reading of the schedule.
    failed_at = T0 + timedelta(hours=1)
    clock.now = failed_at
    refresher.tick()
    assert (fetch.calls, refresher.current(), len(said)) == (1, old, 1)
    assert "AccessDenied" in said[0] and "could not renew" in said[0]
    assert refresher.due() == failed_at + RETRY_AFTER == failed_at + timedelta(seconds=30)
    assert refresher.seconds_to_wait() == 30.0
    clock.now = failed_at + timedelta(seconds=29)
    refresher.tick()
    assert fetch.calls == 1  # not before the 30 s are up
    for retry in (1, 2):
        clock.now = failed_at + retry * RETRY_AFTER
        refresher.tick()
    assert (fetch.calls, refresher.current(), len(said)) == (3, old, 1)
    clock.now = failed_at + 3 * RETRY_AFTER
    refresher.tick()
    assert (fetch.calls, refresher.current()) == (4, fresh)
    assert len(said) == 2 and "renewed" in said[1]
    for message in said:
        assert old.secret_access_key not in message and fresh.secret_access_key not in message


def test_after_a_recovery_a_new_failure_warns_again() -> None:
    clock = Clock()
    first, second = session(1, timedelta(hours=1)), session(2, timedelta(hours=1), T0 + timedelta(hours=1))
    fetch = Fetches(Refused("down"), second, Refused("down again"))
    said: List[str] = []
    refresher = Refresher(first, fetch, said.append, clock)
    clock.now = T0 + timedelta(hours=1)
    refresher.tick()
    clock.now += RETRY_AFTER
    refresher.tick()
    clock.now = second.expiration
    refresher.tick()
    assert fetch.calls == 3 and refresher.current() == second
    assert [("could not renew" in message) for message in said] == [True, False, True]


def test_a_failing_tick_never_raises_whatever_the_fetch_raised() -> None:
    clock = Clock()
    said: List[str] = []
    refresher = Refresher(session(1, timedelta(hours=1)), Fetches(RuntimeError("boom"), KeyError("x")),
                          said.append, clock)
    clock.now = T0 + timedelta(hours=1)
    refresher.tick()
    clock.now += RETRY_AFTER
    refresher.tick()
    assert refresher.current() == session(1, timedelta(hours=1)) and len(said) == 1


# --- renewal out of process: sessions that expire seconds after they are issued ----------------


def _clean_environ(home: Path) -> Dict[str, str]:
    """What the autouse ``isolated`` fixture gives a test, for a module-scoped run."""
    prefixes, names = ("AWS_", "AWSRUN_", "GITHUB_", "GITLAB_", "CI_", "BOTO_"), ("CI", "SHELL", "XDG_CACHE_HOME")
    env = {name: value for name, value in os.environ.items() if not name.startswith(prefixes) and name not in names}
    (home / ".aws").mkdir(parents=True)
    env.update(HOME=str(home), AWS_CONFIG_FILE=str(home / ".aws" / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"), AWS_EC2_METADATA_DISABLED="true")
    return env


class Run(NamedTuple):
    """One awsrun --refresh run of POLLER against its own fake STS."""

    status: int
    stderr: str
    requests: List[StsRequest]
    polls: List[list]  # [time, AccessKeyId, Expiration] per poll


DENIED = error("AccessDenied", 403, "User is not authorized to perform: sts:AssumeRole")


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Run]:
    """Three runs at once, each child polling its endpoint for 5 s while sessions live 3-4 s:
    plain renewal; renewal refused after the first session (child exits 7); MFA."""
    scenarios = {
        "renewal": ([assume_role_issuing(SHORT_SESSION)], [], 0),
        "failing": ([assume_role_issuing(SHORT_SESSION), DENIED], [], 7),
        "mfa": ([get_session_token_ok(), assume_role_issuing(SHORT_SESSION)],
                ["--mfa-serial", SERIAL, "--mfa-code", CODE], 0),
    }
    runs: Dict[str, Run] = {}
    with ExitStack() as stack:
        started = []
        for name, (replies, extra, status) in scenarios.items():
            root = tmp_path_factory.mktemp(name)
            poller = root / "poller.py"
            poller.write_text(POLLER)
            sts = stack.enter_context(FakeSts(replies))
            process = subprocess.Popen(
                [sys.executable, "-m", "awsrun", *refresh_args(*extra), "--",
                 sys.executable, str(poller), str(POLL_SECONDS), str(status)],
                env={**_clean_environ(root / "home"), **SOURCE, "AWS_ENDPOINT_URL_STS": sts.url}, cwd=root,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True,
            )
            started.append((name, process, sts))
        for name, process, sts in started:
            try:
                stdout, stderr = process.communicate(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            polls = child_report(stdout)["polls"] if stdout.strip() else []
            runs[name] = Run(process.returncode, stderr, list(sts.requests), polls)
    return runs


def action(request: StsRequest) -> str:
    return request.form.get("Action", "")


def keys(run: Run) -> List[str]:
    return sorted({key for _, key, _ in run.polls})


def key_changes(polls: List[list]) -> List[Tuple[float, str, str]]:
    """(first time seen, key, the previous key's Expiration) for each key after the first."""
    changes = []
    for previous, poll in zip(polls, polls[1:]):
        if poll[1] != previous[1]:
            changes.append((poll[0], poll[1], previous[2]))
    return changes


def test_a_short_session_is_renewed_while_the_child_runs(short_sessions: Dict[str, Run]) -> None:
    run = short_sessions["renewal"]
    assert run.status == 0, run.stderr
    assert len(keys(run)) >= 2
    assert len([request for request in run.requests if action(request) == "AssumeRole"]) >= 2
    assert "warning" not in run.stderr


def test_a_short_session_is_replaced_well_before_it_expires(short_sessions: Dict[str, Run]) -> None:
    """Renewal is due at half-life (1.5-2 s before expiry here): the child must see the new
    key before the old one's Expiration, with room to spare."""
    run = short_sessions["renewal"]
    changes = key_changes(run.polls)
    assert changes, run.stderr
    for seen_at, key, old_expiration in changes:
        expires = datetime.strptime(old_expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        assert expires - seen_at >= 0.75, f"{key} first served {expires - seen_at:+.2f}s before the old session expired"


def test_a_failing_renewal_keeps_serving_the_old_session_warns_once_and_spares_the_child(
    short_sessions: Dict[str, Run],
) -> None:
    run = short_sessions["failing"]
    assert run.status == 7, run.stderr  # the child ran its 5 s to the end and chose its status
    assert run.polls and keys(run) == ["ASIAFAKESTSRENEW0001"]
    assert len(run.requests) >= 2  # a renewal was tried
    warnings = [line for line in run.stderr.splitlines() if "could not renew" in line]
    assert len(warnings) == 1, run.stderr
    assert warnings[0].startswith("awsrun: warning: ")
    assert "fakeRenewedSecret" not in run.stderr and SOURCE_SECRET not in run.stderr


def test_with_mfa_the_code_is_used_once_and_every_renewal_assumes_from_that_session(
    short_sessions: Dict[str, Run],
) -> None:
    run = short_sessions["mfa"]
    assert run.status == 0, run.stderr
    assert len(keys(run)) >= 2
    mfa = [request for request in run.requests if action(request) == "GetSessionToken"]
    assumed = [request for request in run.requests if action(request) == "AssumeRole"]
    assert len(mfa) == 1 and len(assumed) >= 2 and len(mfa) + len(assumed) == len(run.requests)
    assert run.requests[0] is mfa[0]
    assert (mfa[0].form.get("SerialNumber"), mfa[0].form.get("TokenCode")) == (SERIAL, CODE)
    assert f"Credential={SOURCE_KEY_ID}/" in mfa[0].authorization
    for request in assumed:
        assert "TokenCode" not in request.form and "SerialNumber" not in request.form
        assert f"Credential={MFA_SESSION_KEY_ID}/" in request.authorization
        assert request.headers.get("x-amz-security-token") == MFA_SESSION_TOKEN


# --- refused combinations --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, env",
    [
        (["--refresh", "--export"], {}),
        (["--refresh", "--export", "--format", "fish"], {}),
        (["--refresh", "--credential-process"], {}),
        (["--refresh", "--unset"], {}),
        (["--export"], {"AWSRUN_REFRESH": "true"}),
    ],
    ids=["export", "export-fish", "credential-process", "unset", "env-refresh-export"],
)
def test_refresh_with_an_output_mode_fails_in_one_line(args: List[str], env: Dict[str, str]) -> None:
    with FakeSts([error("AccessDenied", 403)]) as sts:
        result = run_awsrun([*args, "--role", ROLE_ARN], env={**SOURCE, **env, "AWS_ENDPOINT_URL_STS": sts.url})
        assert sts.requests == []
    assert result.returncode == 125
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--refresh" in lines[0], result.stderr
