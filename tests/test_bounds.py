"""Bounds: a --policy FILE is refused unread when it cannot be a policy, and a run waiting
on another run's cache lock says so instead of waiting silently.

awsrun runs as a real process; where no STS call may happen, STS is a closed port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.fake_sts import ISSUED_KEY_ID, FakeSts, assume_role_ok, closed_port_url

SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "policy.fifo"
    os.mkfifo(path)
    return str(path)


def _huge(tmp_path: Path) -> str:
    path = tmp_path / "huge.json"
    with open(path, "wb") as stream:  # sparse: 1 GiB that costs no disk
        stream.truncate(1 << 30)
    return str(path)


def _just_over(tmp_path: Path) -> str:
    text = json.dumps(POLICY, indent=1)
    path = tmp_path / "over.json"
    path.write_text(text[:-1] + " " * (64 * 1024 - len(text) + 1) + "}")  # valid JSON, 64 KiB + 1 byte
    return str(path)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda tmp_path: "/dev/zero", "not a regular file"),
        (_fifo, "not a regular file"),
        (lambda tmp_path: str(tmp_path), "not a regular file"),
        (_huge, "larger than 64 KiB"),
        (_just_over, "larger than 64 KiB"),
    ],
    ids=["/dev/zero", "FIFO", "directory", "1 GiB file", "64 KiB + 1 of whitespace"],
)
def test_policy_file_that_cannot_be_a_policy_is_refused_unread(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    started = time.monotonic()
    result = run_awsrun(["-r", ROLE_ARN, "--policy", path, "--", "true"],
                        env={**SOURCE, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    assert time.monotonic() - started < 20  # a FIFO nobody writes to would hang forever
    assert result.returncode == 125, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"awsrun: invalid policy {path!r}: ") and problem in line, line


def test_policy_file_of_64_kib_of_whitespace_is_read(tmp_path: Path) -> None:
    text = json.dumps(POLICY, indent=1)
    path = tmp_path / "spaced.json"
    path.write_text(text[:-1] + " " * (64 * 1024 - len(text)) + "}")
    assert path.stat().st_size == 64 * 1024
    result = run_awsrun(["--dry-run", "-r", ROLE_ARN, "--policy", str(path), "--", "true"], env=SOURCE)
    assert result.returncode == 0, result.stderr
    assert "would assume " + ROLE_ARN in result.stdout


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_waiting_on_another_runs_lock_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "awsrun"
    with FakeSts([assume_role_ok()]) as sts:
        env = {**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url}
        args = ["-r", ROLE_ARN, "--credential-process"]
        first = run_awsrun(args, env=env)
        assert first.returncode == 0, first.stderr
        assert "waiting" not in first.stderr  # a free lock is taken without a word
        (lock,) = folder.glob("*.lock")
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), "2.5"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            started = time.monotonic()
            run = subprocess.Popen([sys.executable, "-m", "awsrun", *args, "--fresh"], env={**os.environ, **env},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert run.stderr is not None
            notice = run.stderr.readline()
            said = time.monotonic() - started
            stdout, stderr = run.communicate(timeout=30)
        finally:
            holder.kill()
            holder.wait()
    assert notice.startswith(f"awsrun: warning: waiting for another awsrun (pid {holder.pid}) that holds the cache lock")
    assert 0.9 < said < 2.4  # after about a second, while the other still holds it
    assert run.returncode == 0 and json.loads(stdout)["AccessKeyId"] == ISSUED_KEY_ID, stderr
    assert len(sts.requests) == 2
