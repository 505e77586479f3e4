"""The suite's own set-up on a real machine: a system `aws` (Debian's awscli in /usr/bin) neither hides
the system's tools nor stands in for the test venv's AWS CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, List

import pytest

from tests.conftest import AWS_CLI, ORIGINAL_PATH, needs_aws_cli

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_AWS = "#!/bin/sh\necho 'SYSTEM AWS'\nexit 3\n"

# Run by a pytest of its own, with the PATH a case gives, through the suite's conftest.
INNER = '''
import os, subprocess, sys
from tests.conftest import AWS_CLI, ROLE_ARN, run_awsrun

def test_inner(isolated):
    path = os.environ["PATH"].split(os.pathsep)
    for folder in {original!r}:
        assert folder in path, f"{{folder}} was dropped from PATH: {{path}}"
    assert subprocess.run(["true"]).returncode == 0
    assert subprocess.run(["bash", "-c", "exit 0"]).returncode == 0
    found = subprocess.run(["sh", "-c", "command -v aws"], capture_output=True, text=True).stdout.strip()
    assert os.path.realpath(found) == os.path.realpath(AWS_CLI)
    version = subprocess.run(["aws", "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, "SYSTEM AWS" in version.stdout) == (0, False), version
    assert "aws-cli/" in version.stdout + version.stderr
    dry = run_awsrun(["-r", ROLE_ARN, "--dry-run", "--", "true"],
                     {{"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40}})
    assert dry.returncode == 0, dry.stderr
'''


def debian_usr_bin(tmp: Path) -> List[str]:
    """One folder like Debian's /usr/bin with awscli installed: the system's tools and an `aws` beside them."""
    folder = tmp / "usr-bin"
    folder.mkdir()
    for tool in os.scandir("/usr/bin"):
        if tool.name != "aws":
            (folder / tool.name).symlink_to(tool.path)
    (folder / "aws").write_text(SYSTEM_AWS)
    (folder / "aws").chmod(0o755)
    return [str(folder)]


def aws_first(tmp: Path) -> List[str]:
    """A system-looking folder holding an `aws` ahead of /usr/bin and /bin."""
    folder = tmp / "fakesys"
    folder.mkdir()
    (folder / "aws").write_text(SYSTEM_AWS)
    (folder / "aws").chmod(0o755)
    return [str(folder), "/usr/bin", "/bin"]


@needs_aws_cli
@pytest.mark.parametrize("make_path", [debian_usr_bin, aws_first], ids=["debian-awscli-in-usr-bin", "system-aws-first"])
def test_the_suite_keeps_system_folders_and_runs_the_venvs_aws(tmp_path: Path,
                                                               make_path: Callable[[Path], List[str]]) -> None:
    original = make_path(tmp_path)
    inner = tmp_path / "inner" / "test_inner_path.py"
    inner.parent.mkdir()
    inner.write_text(INNER.format(original=original))
    env = {**os.environ, "PATH": os.pathsep.join(original)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(inner.parent), "-c", os.devnull, str(inner)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_the_suites_aws_is_the_venvs_and_the_system_folders_stay() -> None:
    """In this very run: every folder of the PATH the suite was started with is kept, and `aws` is the venv's."""
    path = os.environ["PATH"].split(os.pathsep)
    assert [folder for folder in ORIGINAL_PATH.split(os.pathsep) if folder and folder not in path] == []
    if AWS_CLI:
        assert os.path.realpath(shutil.which("aws") or "") == os.path.realpath(AWS_CLI)
