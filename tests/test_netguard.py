"""The suite's own promise: no request leaves 127.0.0.1, in this process or any it starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AWS_CLI, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun


@pytest.fixture
def own_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of this test's own, so that the refusals it provokes do not fail it."""
    log = tmp_path / "provoked.log"
    monkeypatch.setenv("NETGUARD_LOG", str(log))
    return log


def test_in_process_lookup_of_a_public_name_is_refused_and_logged(own_log: Path) -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("sts.amazonaws.com", 443)
    assert "sts.amazonaws.com" in own_log.read_text()


def test_in_process_connection_to_a_public_address_is_refused_and_logged(own_log: Path) -> None:
    with socket.socket() as sock, pytest.raises(OSError):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: would leave the machine
    assert "192.0.2.1" in own_log.read_text()


def test_loopback_stays_allowed(own_log: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    assert not own_log.exists()


def test_child_processes_load_the_guard(own_log: Path) -> None:
    code = "import socket\ntry:\n socket.create_connection(('192.0.2.1', 443), timeout=1)\nexcept OSError as e: print(e)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "netguard" in result.stdout
    assert "192.0.2.1" in own_log.read_text()


def test_awsrun_without_a_local_endpoint_is_caught(own_log: Path) -> None:
    """Were a test to forget AWS_ENDPOINT_URL_STS, its STS call would be refused and reported."""
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", "--", "true"],
                        {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET})
    assert result.returncode == 125
    assert "amazonaws.com" in own_log.read_text()


def test_the_aws_cli_is_the_test_venvs_own() -> None:
    assert AWS_CLI is not None, "the [test] extra installs the AWS CLI into the test venv"
    assert os.path.dirname(AWS_CLI) == os.path.dirname(sys.executable)
    found = subprocess.run(["sh", "-c", "command -v aws"], capture_output=True, text=True).stdout.strip()
    assert os.path.realpath(found) == os.path.realpath(AWS_CLI)  # through the suite's folder of only `aws`
