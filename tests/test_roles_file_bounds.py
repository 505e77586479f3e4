"""--each-role @FILE goes through the bounded reader: anything but a regular file of at most
1 MiB is refused at once, unread, with one line and 125 naming the file and the limit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.fake_sts import closed_port_url

SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "roles.fifo"
    os.mkfifo(path)
    return str(path)


def _big(tmp_path: Path) -> str:
    path = tmp_path / "roles.txt"
    line = b"arn:aws:iam::123456789012:role/ReadOnly\n"
    path.write_bytes(line * ((2 << 20) // len(line) + 1))  # 2 MiB of valid roles
    return str(path)


def _sparse(tmp_path: Path) -> str:
    path = tmp_path / "sparse.txt"
    with open(path, "wb") as stream:  # 1 GiB that costs no disk
        stream.truncate(1 << 30)
    return str(path)


@pytest.mark.parametrize("make, problem", [
    (lambda tmp_path: "/dev/zero", "not a regular file"),
    (_fifo, "not a regular file"),
    (lambda tmp_path: str(tmp_path), "not a regular file"),
    (_big, "larger than 1 MiB"),
    (_sparse, "larger than 1 MiB"),
], ids=["/dev/zero", "FIFO", "directory", "2 MiB file", "1 GiB sparse file"])
def test_a_roles_file_that_is_not_a_small_regular_file_is_refused_at_once(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    started = time.monotonic()
    # timeout: a FIFO nobody writes to would hang forever, /dev/zero would fill memory
    result = run_awsrun(["--each-role", f"@{path}", "--", "true"],
                        env={**SOURCE, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    assert time.monotonic() - started < 15
    assert result.returncode == 125, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"awsrun: --each-role @{path}: ") and problem in line, line


def test_a_roles_file_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "roles.txt"
    role = "arn:aws:iam::123456789012:role/ReadOnly\n"
    path.write_text(role + "#" * ((1 << 20) - len(role) - 1) + "\n")
    assert path.stat().st_size == 1 << 20
    result = run_awsrun(["--dry-run", "--each-role", f"@{path}", "--", "true"], env=SOURCE)
    assert result.returncode == 0, result.stderr
    assert "would assume arn:aws:iam::123456789012:role/ReadOnly" in result.stdout


@pytest.mark.parametrize("make, problem", [
    (lambda tmp_path: "/dev/zero", "not a regular file"),
    (_fifo, "not a regular file"),
    (_big, "larger than 1 MiB"),
], ids=["/dev/zero", "FIFO", "2 MiB file"])
def test_an_env_file_goes_through_the_same_reader(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    result = run_awsrun(["--env-file", path, "-r", "123456789012:ReadOnly", "--", "true"],
                        env={**SOURCE, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    assert result.returncode == 125, result.stderr
    (line,) = result.stderr.splitlines()
    assert line == f"awsrun: cannot read env file {path!r}: {problem}", line


@pytest.mark.parametrize("make", [lambda tmp_path: "/dev/zero", _fifo], ids=["/dev/zero", "FIFO"])
def test_an_aws_config_file_that_is_not_a_regular_file_is_skipped_at_once(tmp_path: Path, make) -> None:
    # botocore skips a config file that is not a regular file; so does the command's neutral copy.
    path = make(tmp_path)
    started = time.monotonic()
    result = run_awsrun(["--dry-run", "-r", "123456789012:ReadOnly", "--", "true"],
                        env={**SOURCE, "AWS_CONFIG_FILE": path})
    assert time.monotonic() - started < 15
    assert result.returncode == 0, result.stderr
    assert "would assume arn:aws:iam::123456789012:role/ReadOnly" in result.stdout
