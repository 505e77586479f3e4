"""Ctrl-C and SIGTERM: before the exec they stop awsrun cleanly; after it they are the command's.

Before the exec, at each point awsrun can wait (the MFA prompt, the STS call, the cache
lock), Ctrl-C exits 130 with "awsrun: interrupted" and SIGTERM 143 with "awsrun: terminated":
one stderr line, nothing on stdout (--credential-process, so half-written output would
show), no cache entry and no temporary file. awsrun runs on a pseudo-terminal (pexpect) so
that Ctrl-C is the terminal's own, sent to the foreground process group; its stdout and
stderr go to files so each can be checked alone. After the exec the command has awsrun's
PID and receives signals untouched.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional

import pexpect
import pytest

from awsrun.session.cache import Cache, Entry
from awsrun.session.cachekey import cache_key
from awsrun.cli import _parse
from awsrun.credentials import Credentials
from awsrun.config.envfile import EnvFiles
from awsrun.config.settings import resolve
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET
from tests.fake_sts import ISSUED_KEY_ID, ISSUED_SECRET, ISSUED_TOKEN, FakeSts, Reply, assume_role_ok, hang

SERIAL = "arn:aws:iam::123456789012:mfa/alice"
SECRETS = (SOURCE_SECRET, ISSUED_SECRET, ISSUED_TOKEN)
CREDENTIAL_PROCESS = ["--role", ROLE_ARN, "--credential-process"]
WAIT = 20  # seconds to reach a point or to exit; far above what any takes

# Become `python -m awsrun` in this very process (exec: same PID) with SIGINT at its default:
# a test runner started in the background (`pytest &`) passes SIGINT on as ignored, and a
# Python started with SIGINT ignored never raises KeyboardInterrupt. argv: stdout file,
# stderr file ('' keeps the stream), awsrun's arguments.
_AS_AWSRUN = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "for fd, path in ((1, sys.argv[1]), (2, sys.argv[2])):\n"
    "    if path:\n"
    "        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'awsrun', *sys.argv[3:]])\n"
)


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's cache folder: $XDG_CACHE_HOME/awsrun inside tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "awsrun"


@pytest.fixture
def sts_server() -> Iterator[Callable[[List[Reply]], FakeSts]]:
    servers: List[FakeSts] = []

    def start(script: List[Reply]) -> FakeSts:
        servers.append(FakeSts(script).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def environ_for(url: str) -> Dict[str, str]:
    return {**os.environ, "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
            "AWS_ENDPOINT_URL_STS": url}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"awsrun never got to {what}"
        time.sleep(0.02)


def entry_path(folder: Path, url: str, args: List[str]) -> Path:
    """Where a run of awsrun with ``args`` against ``url`` keeps its entry, computed as the run computes it."""
    environ = environ_for(url)
    return folder / f"{cache_key(resolve(_parse(args), environ, EnvFiles()), environ, {}, None)}.session"


def waiting_for_flock(pid: int) -> bool:
    """Whether ``pid`` is blocked in flock(2) behind another holder, as /proc/locks shows ("->")."""
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if "->" in fields:
                waiter = fields[fields.index("->") + 1:]
                if waiter[0] == "FLOCK" and waiter[3] == str(pid):
                    return True
    return False


def cache_files(folder: Path) -> List[str]:
    """Everything in the cache folder but lock files (which are empty and harmless)."""
    return sorted(path.name for path in folder.iterdir() if not path.name.endswith(".lock")) if folder.is_dir() else []


# --- before the exec: every point awsrun can wait at ---------------------------------------------


class Point(NamedTuple):
    """A point before the exec: how to get awsrun there, and how many AssumeRole calls it makes first."""

    script: List[Reply]
    options: List[str]
    holds_lock: bool  # the test holds the key's lock, so awsrun must wait for it
    calls: int

    def reached(self, child: pexpect.spawn, sts: FakeSts) -> None:
        if self.options[:1] == ["--mfa-serial"]:
            child.expect_exact(f"MFA code for {SERIAL}: ")  # on /dev/tty: the pty itself
        elif self.holds_lock:
            if os.path.exists("/proc/locks"):
                wait_until(lambda: waiting_for_flock(child.pid), "the cache lock")
            else:  # no /proc: the lock file is open, and flock() follows at once
                time.sleep(1)
        else:
            wait_until(lambda: len(sts.requests) == self.calls, "the STS call")


POINTS = [
    pytest.param(Point([assume_role_ok()], ["--mfa-serial", SERIAL], False, 0), id="at the MFA prompt"),
    pytest.param(Point([hang()], ["--read-timeout", "30"], False, 1), id="during the STS call"),
    pytest.param(Point([assume_role_ok()], [], True, 0), id="waiting for the cache lock"),
]


def _ctrl_c(child: pexpect.spawn) -> None:
    child.sendintr()  # the terminal's interrupt character: SIGINT to the foreground process group


def _sigint(child: pexpect.spawn) -> None:
    os.kill(child.pid, signal.SIGINT)


def _sigterm(child: pexpect.spawn) -> None:
    os.kill(child.pid, signal.SIGTERM)


# (how the signal is sent, awsrun's exit status, its one stderr line)
SIGNALS = [
    pytest.param(_ctrl_c, 130, "awsrun: interrupted", id="Ctrl-C"),
    pytest.param(_sigint, 130, "awsrun: interrupted", id="SIGINT"),
    pytest.param(_sigterm, 143, "awsrun: terminated", id="SIGTERM"),
]


@pytest.mark.parametrize("send, status, line", SIGNALS)
@pytest.mark.parametrize("point", POINTS)
def test_a_signal_before_the_exec_stops_awsrun_cleanly(
    sts_server: Callable[[List[Reply]], FakeSts], folder: Path, tmp_path: Path,
    point: Point, send: Callable[[pexpect.spawn], None], status: int, line: str,
) -> None:
    sts = sts_server(point.script)
    args = [*point.options, *CREDENTIAL_PROCESS]
    entry = entry_path(folder, sts.url, args)
    lock: Optional[int] = None
    if point.holds_lock:
        folder.mkdir(parents=True, mode=0o700)
        lock = os.open(entry.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    child = pexpect.spawn(sys.executable, ["-c", _AS_AWSRUN, str(out), str(err), *args],
                          env=environ_for(sts.url), encoding="utf-8", timeout=WAIT)
    child.logfile_read = io.StringIO()  # what reached the terminal, for the failure message
    try:
        point.reached(child, sts)
        time.sleep(0.1)  # settled at that point, not just arriving
        assert child.isalive(), child.logfile_read.getvalue()
        signalled = time.monotonic()
        send(child)
        child.expect(pexpect.EOF)
        child.close()
        took = time.monotonic() - signalled
    finally:
        child.close(force=True)
        if lock is not None:
            os.close(lock)
    assert (child.exitstatus, child.signalstatus) == (status, None), err.read_text()
    assert took < 3, f"awsrun took {took:.1f} s to stop"
    assert out.read_text() == ""
    assert err.read_text() == line + "\n"
    assert len(sts.requests) == point.calls  # no retry, no further call after the signal
    assert cache_files(folder) == []  # no entry, no temporary file
    assert not [secret for secret in SECRETS if secret in child.logfile_read.getvalue()]


def test_the_lock_the_interrupt_tests_hold_is_the_one_awsrun_takes(
    sts_server: Callable[[List[Reply]], FakeSts], folder: Path,
) -> None:
    """The control for 'waiting for the cache lock': the computed key is the run's, the run waits
    for that very lock, then reuses what the holder stored instead of calling STS."""
    sts = sts_server([assume_role_ok()])
    entry = entry_path(folder, sts.url, CREDENTIAL_PROCESS)
    folder.mkdir(parents=True, mode=0o700)
    lock = os.open(entry.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        run = subprocess.Popen([sys.executable, "-m", "awsrun", *CREDENTIAL_PROCESS], env=environ_for(sts.url),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if os.path.exists("/proc/locks"):
            wait_until(lambda: waiting_for_flock(run.pid), "the cache lock")
        time.sleep(0.3)
        assert run.poll() is None and sts.requests == []  # blocked, not calling STS
        holders = Credentials("ASIAPLANTEXAMPLEDER1", "plantedSecret", "plantedToken",
                              datetime.now(timezone.utc) + timedelta(hours=1), ROLE_ARN)
        Cache(str(folder), lambda message: None).put(entry.stem, Entry(holders, "us-east-1"))
    finally:
        os.close(lock)
    stdout, stderr = run.communicate(timeout=WAIT)
    assert run.returncode == 0, stderr
    assert json.loads(stdout)["AccessKeyId"] == "ASIAPLANTEXAMPLEDER1"  # read after the wait
    assert sts.requests == []
    assert stderr.startswith("awsrun: reusing cached session of ")


# --- after the exec: the command has awsrun's PID and its own signals ---------------------------------

# The command: records the signal it trapped and exits with the code it was given.
_TRAPPING_CHILD = (
    "import os, signal, sys, time\n"
    "record, code, trapped = sys.argv[1], int(sys.argv[2]), sys.argv[3:]\n"
    "def on(signum, frame):\n"
    "    with open(record, 'w') as stream:\n"
    "        stream.write(f'{signal.Signals(signum).name} {os.getpid()}')\n"
    "    sys.exit(code)\n"
    "for name in trapped:\n"
    "    signal.signal(getattr(signal, name), on)\n"
    "print(os.getpid(), os.environ['AWS_ACCESS_KEY_ID'], flush=True)\n"
    "while True:\n"
    "    time.sleep(0.05)\n"
)

# (signal sent to awsrun's PID, signals the command traps, awsrun's exit status, what the command records)
AFTER_EXEC = [
    pytest.param(signal.SIGTERM, ["SIGTERM"], 42, "SIGTERM", id="SIGTERM trapped: its exit code"),
    pytest.param(signal.SIGINT, ["SIGINT"], 42, "SIGINT", id="SIGINT trapped: its exit code"),
    pytest.param(signal.SIGTERM, [], -signal.SIGTERM, None, id="SIGTERM not trapped: killed by it"),
]


@pytest.mark.parametrize("sent, trapped, status, recorded", AFTER_EXEC)
def test_after_the_exec_the_command_gets_the_signals(
    sts_server: Callable[[List[Reply]], FakeSts], tmp_path: Path,
    sent: signal.Signals, trapped: List[str], status: int, recorded: Optional[str],
) -> None:
    sts = sts_server([assume_role_ok()])
    record = tmp_path / "record"
    run = subprocess.Popen(
        [sys.executable, "-c", _AS_AWSRUN, "", "", "--role", ROLE_ARN, "--",
         sys.executable, "-c", _TRAPPING_CHILD, str(record), "42", *trapped],
        env=environ_for(sts.url), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert run.stdout is not None
        ready = run.stdout.readline().split()  # printed once its handlers are in place
        assert ready == [str(run.pid), ISSUED_KEY_ID]  # the same PID: awsrun became the command
        run.send_signal(sent)
        stdout, stderr = run.communicate(timeout=WAIT)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == status, stderr
    assert stdout == ""
    assert stderr.startswith("awsrun: assumed ") and len(stderr.splitlines()) == 1, stderr
    if recorded:
        assert record.read_text() == f"{recorded} {run.pid}"
    else:
        assert not record.exists()
