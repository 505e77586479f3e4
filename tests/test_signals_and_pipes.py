"""The command starts with the signal state it would have without awsrun; awsrun's own
output into a closed pipe stops quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Callable, Dict, List, Optional

import pytest

from tests.conftest import ROLE_ARN, run_awsrun

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")

STATUS_COMMAND = ["grep", "^Sig\\(Ign\\|Blk\\):", "/proc/self/status"]


def _signal_lines(stdout: str) -> List[str]:
    return [line for line in stdout.splitlines() if line.startswith(("SigIgn", "SigBlk"))]


def _ignore_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup does


@pytest.mark.parametrize("preexec", [None, _ignore_sighup], ids=["plain", "nohup"])
def test_command_gets_the_signal_state_it_would_have_without_awsrun(
    source_env: Dict[str, str], preexec: Optional[Callable[[], None]]
) -> None:
    without = subprocess.run(STATUS_COMMAND, capture_output=True, text=True, timeout=10, preexec_fn=preexec)
    result = run_awsrun(["--no-cache", "-q", "-r", ROLE_ARN, "--", *STATUS_COMMAND], env=source_env,
                        preexec_fn=preexec)
    assert result.returncode == 0, result.stderr
    assert _signal_lines(result.stdout) == _signal_lines(without.stdout)
    mask = {line.split(":")[0]: int(line.split()[1], 16) for line in _signal_lines(result.stdout)}
    assert not mask["SigIgn"] & (1 << (signal.SIGPIPE - 1))
    assert bool(mask["SigIgn"] & (1 << (signal.SIGHUP - 1))) == (preexec is not None)


def test_yes_into_head_dies_of_sigpipe_as_without_awsrun(source_env: Dict[str, str]) -> None:
    awsrun = f"{sys.executable} -m awsrun --no-cache -q -r {ROLE_ARN} --"
    script = "set -o pipefail; {} yes | head -1"
    env = {**os.environ, **source_env}
    without = subprocess.run(["bash", "-c", script.format("")], capture_output=True, text=True, env=env, timeout=30)
    result = subprocess.run(["bash", "-c", script.format(awsrun)], capture_output=True, text=True, env=env, timeout=60)
    assert without.returncode == 141
    assert (result.returncode, result.stdout, result.stderr) == (141, "y\n", "")


def _into_closed_pipe(args: List[str], env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run awsrun with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "awsrun", *args], stdout=write_end, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, text=True, timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["--unset"],
        ["-r", ROLE_ARN, "--dry-run", "--", "true"],
        ["--no-cache", "-q", "-r", ROLE_ARN, "--export"],
        ["--no-cache", "-q", "-r", ROLE_ARN, "--credential-process"],
    ],
    ids=["help", "version", "unset", "dry-run", "export", "credential-process"],
)
def test_output_into_a_closed_pipe_stops_quietly(source_env: Dict[str, str], args: List[str]) -> None:
    result = _into_closed_pipe(args, source_env)
    assert (result.returncode, result.stderr) == (141, "")


def test_help_into_head_in_a_shell_is_quiet() -> None:
    result = subprocess.run(["bash", "-o", "pipefail", "-c", f"{sys.executable} -m awsrun --help | head -1"],
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.startswith("awsrun: ")
    assert result.stderr == ""
    assert result.returncode in (0, 141)  # 0 when all of it fit in the pipe before head left
