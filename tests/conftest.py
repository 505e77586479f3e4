"""Fixtures shared by every test: isolation from the machine's AWS setup, moto's STS, awsrun as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence

import pytest

if TYPE_CHECKING:
    from tests.fake_sts import FakeSts, Reply

# Obviously fake long-lived source keys; every test that needs keys uses these.
SOURCE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SOURCE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET"
ROLE_ARN = "arn:aws:iam::123456789012:role/Deploy"
CHILD = Path(__file__).with_name("child.py")
NETGUARD = Path(__file__).with_name("netguard")
ORIGINAL_PATH = os.environ.get("PATH", os.defpath)  # as the suite was started; every folder of it stays
# The AWS CLI the tests use is the one installed into the test venv ([test] extra), never
# whichever `aws` happens to be on the machine.
_VENV_BIN = os.path.dirname(sys.executable)
AWS_CLI: Optional[str] = os.path.join(_VENV_BIN, "aws") if os.access(os.path.join(_VENV_BIN, "aws"), os.X_OK) else None
# A command that is not there: what `aws` runs when the test venv has no AWS CLI of its own.
_NO_AWS_CLI = """#!/bin/sh
echo "aws: the AWS CLI is not installed in the test venv (pip install -e '.[test]'); no other aws is used" >&2
exit 127
"""
needs_aws_cli = pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI is not installed in the test venv (pip install -e '.[test]')")

sys.path.insert(0, str(NETGUARD))
import awsguard_net  # noqa: E402

awsguard_net.install()  # this process too: no request may leave 127.0.0.1

_ISOLATED_PREFIXES = ("AWS_", "AWSRUN_", "GITHUB_", "GITLAB_", "CI_", "BOTO_")
_ISOLATED_NAMES = ("CI", "SHELL", "XDG_CONFIG_HOME")


@pytest.fixture(scope="session")
def aws_cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only `aws`: a link to the venv's AWS CLI (or a stub that fails with 127 without one).

    It goes first on the tests' PATH, so `aws` is the venv's wherever else an `aws` is installed
    (Debian's awscli puts one in /usr/bin), and the system folders stay on PATH.
    """
    folder = tmp_path_factory.mktemp("aws-cli")
    if AWS_CLI:
        (folder / "aws").symlink_to(AWS_CLI)
    else:
        (folder / "aws").write_text(_NO_AWS_CLI)
        (folder / "aws").chmod(0o755)
    return folder


def suite_path(original: str, aws_cli_dir: Path) -> str:
    """The PATH every test runs with: the venv's AWS CLI, then the venv's tools, then the original PATH, whole."""
    rest = [d for d in original.split(os.pathsep) if d and d not in (_VENV_BIN, str(aws_cli_dir))]
    return os.pathsep.join([str(aws_cli_dir), _VENV_BIN, *rest])


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_cli_dir: Path) -> Iterator[Path]:
    """Remove every AWS/awsrun/CI variable, point HOME and the AWS files into tmp_path, cd there."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES) or name in _ISOLATED_NAMES:
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    # Never probe instance metadata (it would be a real network call).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Every Python process a test starts (awsrun, the AWS CLI, children) loads the network
    # guard; what it refused is logged here and fails the test below.
    netlog = tmp_path / "network.log"
    monkeypatch.setenv("NETGUARD_LOG", str(netlog))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NETGUARD), os.environ.get("PYTHONPATH")])))
    # The venv's AWS CLI and tools come first; the machine's own folders (/usr/bin, /bin) stay.
    monkeypatch.setenv("PATH", suite_path(os.environ.get("PATH", os.defpath), aws_cli_dir))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work
    if netlog.exists() and netlog.read_text().strip():
        pytest.fail("a request tried to leave 127.0.0.1:\n" + netlog.read_text())


@pytest.fixture(scope="session")
def moto_sts() -> Iterator[str]:
    """moto's server on 127.0.0.1, on a free port; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def source_env(moto_sts: str) -> Dict[str, str]:
    """The variables a user with long-lived keys would have, pointed at moto."""
    return {
        "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
        "AWS_ENDPOINT_URL_STS": moto_sts,
    }


def run_awsrun(
    args: Sequence[str],
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[Path] = None,
    **kwargs: object,
) -> subprocess.CompletedProcess:
    """Run awsrun as a real process with the (isolated) environment plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "awsrun", *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def trust_env_file(path: str | Path = ".env") -> None:
    """Trust ``path`` as it is now, as ``awsrun --trust-env-file`` does (in this test's HOME)."""
    from awsrun.config.trust import trust_files

    trust_files(os.environ, [str(path)])


def child_report(stdout: str) -> dict:
    """The JSON line tests/child.py printed: its pid, argv and environment."""
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture
def fake_sts() -> Iterator[Callable[[Sequence["Reply"]], "FakeSts"]]:
    """Start fake STS servers (tests/fake_sts.py) with a script; every one is stopped after the test."""
    from tests.fake_sts import FakeSts

    servers: List[FakeSts] = []

    def start(script: Sequence["Reply"]) -> FakeSts:
        servers.append(FakeSts(script).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
