"""--refresh keeps the command out of awsrun: no reading its memory or environment, no pinned
endpoint threads, no question asked once the command runs, and a terminal left as found."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pexpect
import pytest

from awsrun.deliver import server as server_module
from awsrun.credentials import Credentials
from awsrun.deliver.server import PATH, CredentialServer
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.test_refresh import SERVED, ask

SERIAL = "arn:aws:iam::123456789012:mfa/alice"
UNREACHABLE = {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9"}  # nothing listens: a call would fail, not leave

# Reads its parent's environment and memory, and its own environment as a control.
READER = r"""
import os, sys
parent = os.getppid()
for name in ("environ", "mem"):
    try:
        with open(f"/proc/{parent}/{name}", "rb") as stream:
            if name == "mem":
                stream.seek(0x400000)
            data = stream.read(65536)
        print(name, "read", sys.argv[1].encode() in data)
    except OSError as exc:
        print(name, "refused", type(exc).__name__)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(16, parent, 0, 0) == 0:  # PTRACE_ATTACH
    os.waitpid(parent, 0)
    libc.ptrace(17, parent, 0, 0)  # PTRACE_DETACH
    print("ptrace attached")
else:
    print("ptrace refused", os.strerror(ctypes.get_errno()))
with open("/proc/self/environ", "rb") as stream:
    print("self", "read", b"AWS_CONTAINER_CREDENTIALS_FULL_URI" in stream.read())
"""


def as_an_ordinary_user(tmp_path: Path) -> Tuple[List[str], Dict[str, str], Path]:
    """A prefix and environment that run awsrun and its command as one ordinary user.

    Root (as in CI) may read any process, and so may a root command even without
    CAP_SYS_PTRACE (/proc/PID/environ of an undumpable process stays readable to root):
    there, both run as the unprivileged user 65534, which is what the protection is for.
    """
    if os.geteuid() != 0:
        return [], {}, tmp_path
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not installed to run as an ordinary user")
    home = Path(tempfile.mkdtemp(prefix="awsrun-nobody-"))
    (home / ".aws").mkdir()
    for path in (home, home / ".aws"):
        os.chown(path, 65534, 65534)
    env = {"HOME": str(home), "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials")}
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"], env, home


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_DUMPABLE) is Linux's")
def test_the_command_cannot_read_the_source_secret_out_of_awsrun(source_env: Dict[str, str], tmp_path: Path) -> None:
    prefix, user_env, home = as_an_ordinary_user(tmp_path)
    # The reader needs only the standard library: any Python the user may run.
    python = (shutil.which("python3", path="/usr/bin:/bin") or sys.executable) if prefix else sys.executable
    reader = home / "reader.py"
    reader.write_text(READER)
    reader.chmod(0o644)
    try:
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "awsrun", "--refresh", "--no-cache", "--role", ROLE_ARN, "--",
             python, str(reader), SOURCE_SECRET],
            env={**os.environ, **source_env, **user_env}, cwd=home, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
    finally:
        if prefix:
            shutil.rmtree(home, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "environ refused PermissionError", "mem refused PermissionError", "ptrace refused Operation not permitted",
        "self read True"]


def test_a_child_started_by_undumpable_awsrun_is_dumpable_again(source_env: Dict[str, str]) -> None:
    probe = "import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # PR_GET_DUMPABLE
    result = run_awsrun(["--refresh", "--no-cache", "--role", ROLE_ARN, "--", sys.executable, "-c", probe],
                        env=source_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"  # the command's own core dumps and debuggers still work


# --- the endpoint closes what stays idle or half-sent -------------------------------------------

@pytest.fixture
def quick_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[CredentialServer]:
    monkeypatch.setattr(server_module, "IDLE_SECONDS", 0.5)
    server = CredentialServer(lambda: SERVED).start()
    yield server
    server.stop()


def connect(server: CredentialServer) -> socket.socket:
    host, port = server.url.split("//")[1].split("/")[0].split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes ``sock`` (it sends nothing to a request it never got)."""
    started = time.monotonic()
    assert sock.recv(1024) == b""
    return time.monotonic() - started


@pytest.mark.parametrize("sent", [b"", b"GET /awsrun/credentials HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "half-sent"])
def test_a_connection_idle_or_half_sent_is_closed(quick_endpoint: CredentialServer, sent: bytes) -> None:
    with connect(quick_endpoint) as sock:
        sock.sendall(sent)
        assert closed_after(sock) < 3


def test_a_request_trickled_byte_by_byte_is_closed_too(quick_endpoint: CredentialServer) -> None:
    with connect(quick_endpoint) as sock:
        started = time.monotonic()
        with pytest.raises(OSError):
            for byte in b"GET /awsrun/credentials HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)  # always well within the per-read timeout
        assert time.monotonic() - started < 3


def test_many_idle_connections_neither_block_a_request_nor_keep_their_threads(
    quick_endpoint: CredentialServer,
) -> None:
    before = threading.active_count()
    idle = [connect(quick_endpoint) for _ in range(40)]
    try:
        status, _ = ask(quick_endpoint, headers={"Authorization": quick_endpoint.token})
        assert status == 200
        deadline = time.monotonic() + 5
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= before
    finally:
        for sock in idle:
            sock.close()


def test_the_idle_limit_is_a_few_seconds() -> None:
    assert 1 <= server_module.IDLE_SECONDS <= 5


# --- MFA is settled before the command starts -------------------------------------------------

def write_chain(mfa_on: str) -> None:
    """base (keys) -> first -> second, with the MFA device on the named profile."""
    first_mfa = f"mfa_serial = {SERIAL}\n" if mfa_on == "first" else ""
    second_mfa = f"mfa_serial = {SERIAL}\n" if mfa_on == "second" else ""
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n"
        f"[profile first]\nrole_arn = arn:aws:iam::123456789012:role/Jump\nsource_profile = base\n{first_mfa}"
        f"[profile second]\nrole_arn = {ROLE_ARN}\nsource_profile = first\n{second_mfa}"
    )


REFUSAL = (f"awsrun: --refresh cannot renew role 2 of 2: it needs an MFA code ({SERIAL}) and awsrun asks only "
           "before the command starts; put the MFA device on the first role, or run without --refresh")


def test_mfa_on_a_later_role_is_refused_at_start_with_refresh(tmp_path: Path) -> None:
    write_chain("second")
    marker = tmp_path / "started"
    result = run_awsrun(["--refresh", "--no-cache", "--profile", "second", "--mfa-code", "123456", "--",
                         "touch", str(marker)], env=UNREACHABLE)
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == [REFUSAL]
    assert not marker.exists()


def test_on_a_terminal_mfa_on_a_later_role_is_refused_before_any_prompt(tmp_path: Path) -> None:
    write_chain("second")
    marker = tmp_path / "started"
    awsrun = pexpect.spawn(sys.executable, ["-m", "awsrun", "--refresh", "--no-cache", "--profile", "second", "--",
                                            "touch", str(marker)],
                           env={**os.environ, **UNREACHABLE}, encoding="utf-8", timeout=30)
    awsrun.expect(pexpect.EOF)
    awsrun.close()
    assert awsrun.exitstatus == 125
    assert awsrun.before.strip().splitlines() == [REFUSAL]
    assert not marker.exists()


@pytest.mark.parametrize("mfa_on, refresh, status", [("second", [], 0), ("first", ["--refresh"], 0),
                                                      ("second", ["--refresh"], 125)])
def test_mfa_on_a_later_role_is_refused_by_a_dry_run_too_and_only_with_refresh(
    mfa_on: str, refresh: List[str], status: int,
) -> None:
    write_chain(mfa_on)
    result = run_awsrun([*refresh, "--no-cache", "--profile", "second", "--dry-run", "--", "true"], env=UNREACHABLE)
    assert result.returncode == status, result.stderr
    assert (REFUSAL in result.stderr) == (status == 125)


def test_the_renewal_thread_never_prompts() -> None:
    from awsrun.errors import ConfigError
    from awsrun.session.rolesession import _no_prompt

    with pytest.raises(ConfigError, match="asks only before it starts"):
        _no_prompt(SERIAL, 1)


# --- the terminal is left as it was found -----------------------------------------------------

LAUNCHER = "import os, sys; print('pid', os.getpid(), flush=True); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"


@pytest.mark.parametrize("name", ["SIGQUIT", "SIGHUP", "SIGTERM", "SIGINT"])
def test_a_signal_at_the_mfa_prompt_leaves_echo_on(name: str) -> None:
    awsrun = [sys.executable, "-c", LAUNCHER, "-m", "awsrun", "--no-cache", "--role", ROLE_ARN,
              "--mfa-serial", SERIAL, "--", "true"]
    script = shlex.join(awsrun) + "; stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo"
    env = {**os.environ, **UNREACHABLE, "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
    shell = pexpect.spawn("sh", ["-c", script], env=env, encoding="utf-8", timeout=30)
    try:
        shell.expect(r"pid (\d+)")
        pid = int(shell.match.group(1))
        shell.expect("MFA code for")
        time.sleep(0.2)  # getpass has turned echo off by now
        os.kill(pid, getattr(signal, name))
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)
    assert shell.before.split()[-1] == "echo", shell.before
