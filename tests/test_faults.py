"""Faults: an STS that never answers, one that answers late, a hundred parallel runs on one
cache, and a disk that fills up while the cache is written.

Every test runs awsrun as a real process against tests/fake_sts.py (or a socket the test
holds) on 127.0.0.1. test_sts_errors.py already proves what each failure says; here the
point is the bound: how long awsrun can take, how many calls it makes, what it leaves on disk.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import pytest

from awsrun.config.settings import DEFAULTS
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET
from tests.fake_sts import ISSUED_KEY_ID, ISSUED_SECRET, ISSUED_TOKEN, FakeSts, assume_role_ok, hang, slow

README = Path(__file__).resolve().parent.parent / "README.rst"
SECRETS = (SOURCE_SECRET, ISSUED_SECRET, ISSUED_TOKEN)
CREDENTIAL_PROCESS = ("--role", ROLE_ARN, "--credential-process")
ATTEMPTS = 3  # botocore's standard retry mode, as README and --help say


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's cache folder: $XDG_CACHE_HOME/awsrun inside tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "awsrun"


def environ_for(url: str) -> Dict[str, str]:
    """The (isolated) environment plus the fake source keys and STS at ``url``."""
    return {**os.environ, "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
            "AWS_ENDPOINT_URL_STS": url}


def timed_awsrun(url: str, *args: str, prefix: Sequence[str] = ()) -> Tuple[subprocess.CompletedProcess, float]:
    """awsrun (after an optional launcher ``prefix``) with STS at ``url``; its result and wall time."""
    command = [*prefix] if prefix else [sys.executable, "-m", "awsrun"]
    started = time.monotonic()
    result = subprocess.run([*command, *args], env=environ_for(url), capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    assert not [secret for secret in SECRETS if secret in result.stderr], result.stderr
    return result, elapsed


def issued(result: subprocess.CompletedProcess) -> str:
    """The key id a --credential-process run printed."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["AccessKeyId"]


def assert_sound_entry(path: Path) -> None:
    """A private regular file holding a complete entry for the key it is named after."""
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, path
    # awsrun-session/2, the key, the key id, the secret, the token, the expiry, the ARN, the region
    fields = path.read_bytes().decode("utf-8").split("\0")
    assert len(fields) == 8 and fields[:2] == ["awsrun-session/2", path.stem]
    assert fields[2] == ISSUED_KEY_ID and fields[4] == ISSUED_TOKEN


def leftovers(folder: Path) -> List[str]:
    """Temporary files a write left behind."""
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp")) if folder.is_dir() else []


# --- a silent STS: three attempts, each bounded by its timeout ----------------------------------


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """A port whose listen queue is full and never drained: a connect there can only time out.

    Linux drops the SYNs of a full queue, so the client waits for its own connect timeout.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers: List[socket.socket] = []
    try:
        for _ in range(8):
            probe = socket.socket()
            probe.settimeout(0.3)
            try:
                probe.connect(("127.0.0.1", port))
            except OSError:  # the queue is full: this is the state the test needs
                probe.close()
                break
            fillers.append(probe)
        else:
            pytest.skip("this system completes connections beyond a listen backlog, so no connect can hang")
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        server.close()


# (what STS does, the timeout option set to 1 s, whether its requests can be counted)
SILENT = [
    pytest.param("accepts, never answers", "--read-timeout", True, id="read-timeout"),
    pytest.param("never accepts (full backlog)", "--connect-timeout", False, id="connect-timeout"),
]


@pytest.mark.parametrize("behaviour, option, countable", SILENT)
def test_a_silent_sts_is_given_up_after_three_bounded_attempts(
    request: pytest.FixtureRequest, folder: Path, behaviour: str, option: str, countable: bool
) -> None:
    if countable:
        sts = FakeSts([hang()]).start()
        request.addfinalizer(sts.stop)
        url = sts.url
    else:
        url = request.getfixturevalue("full_backlog")
    result, elapsed = timed_awsrun(url, option, "1", *CREDENTIAL_PROCESS)
    assert result.returncode == 125, result.stderr
    assert result.stderr == f"awsrun: STS at {url} did not answer in time, after retries\n"
    assert result.stdout == ""
    if countable:
        assert len(sts.requests) == ATTEMPTS  # not fewer, and never more than the stated three
    # Each attempt waits its whole timeout; the backoff between them adds at most 1 + 2 s.
    assert ATTEMPTS * 1 <= elapsed < 10, f"{behaviour}: gave up after {elapsed:.1f} s"
    assert not folder.exists() or not [path.name for path in folder.iterdir() if path.suffix == ".session"]


# (seconds STS waits before its answer, awsrun's options)
SLOW_BUT_IN_TIME = [
    pytest.param(1.0, ["--read-timeout", "2"], id="half the read timeout"),
    # The connect timeout bounds connecting only, never the wait for the answer.
    pytest.param(1.0, ["--connect-timeout", "0.5", "--read-timeout", "2"], id="longer than the connect timeout"),
]


@pytest.mark.parametrize("delay, options", SLOW_BUT_IN_TIME)
def test_a_slow_answer_within_the_timeout_succeeds_without_a_retry(delay: float, options: List[str]) -> None:
    with FakeSts([slow(delay, assume_role_ok())]) as sts:
        result, elapsed = timed_awsrun(sts.url, *options, *CREDENTIAL_PROCESS)
    assert issued(result) == ISSUED_KEY_ID
    assert len(sts.requests) == 1  # answered in time: no second attempt
    assert elapsed >= delay
    assert result.stderr.startswith("awsrun: assumed ") and len(result.stderr.splitlines()) == 1


def test_readme_worst_case_agrees_with_the_defaults() -> None:
    """README's "roughly N s with the defaults" must lie between the attempts' timeouts and their sum plus backoff."""
    from botocore.retries.standard import DEFAULT_MAX_ATTEMPTS

    section = " ".join(README.read_text(encoding="utf-8").split("The STS call\n", 1)[1].split("\n\n", 2)[1].split())
    assert "3 attempts" in section and "--connect-timeout" in section and "--read-timeout" in section
    stated = re.search(r"worst case[^.]*?roughly (\d+(?:\.\d+)?) s with the defaults", section)
    assert stated, f"no worst-case figure in README's 'The STS call': {section!r}"
    seconds = float(stated.group(1))
    connect, read = float(DEFAULTS["connect-timeout"]), float(DEFAULTS["read-timeout"])
    assert DEFAULT_MAX_ATTEMPTS == ATTEMPTS
    # botocore's jitter before attempt n+1 is at most 2**(n-1) seconds (capped at 20).
    max_backoff = sum(min(2 ** (n - 1), 20) for n in range(1, ATTEMPTS))
    low, high = ATTEMPTS * read, ATTEMPTS * (connect + read) + max_backoff
    assert low <= seconds <= high, f"README says {seconds:g} s; the defaults give {low:g} to {high:g} s"
    # The defaults counted here are the ones --help promises.
    from awsrun.cli import __doc__ as usage

    text = " ".join((usage or "").split())
    assert f"--connect-timeout SECONDS Give up connecting to STS after this long. Default: {DEFAULTS['connect-timeout']}." in text
    assert f"Default: {DEFAULTS['read-timeout']}. Each is per attempt, 3 attempts at most." in text


# --- a hundred parallel runs on one cache folder ----------------------------------------------

SESSIONS = [f"parallel-{index}" for index in range(5)]
RUNS = 100


def test_a_hundred_parallel_runs_make_one_sts_call_per_key(folder: Path) -> None:
    with FakeSts([slow(0.5, assume_role_ok())]) as sts:
        environ = environ_for(sts.url)
        started = time.monotonic()
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "awsrun", "--session-name", SESSIONS[index % len(SESSIONS)], *CREDENTIAL_PROCESS],
                env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for index in range(RUNS)
        ]
        results = [(*run.communicate(timeout=90), run.returncode) for run in runs]
        elapsed = time.monotonic() - started
    for stdout, stderr, status in results:
        assert status == 0, stderr
        assert json.loads(stdout)["AccessKeyId"] == ISSUED_KEY_ID
        assert not [secret for secret in SECRETS if secret in stderr]
        # One line each, besides the notice of a run that waited over a second for the lock.
        said = [line for line in stderr.splitlines() if not line.startswith("awsrun: warning: waiting for another awsrun")]
        assert len(said) == 1, stderr
    assert collections.Counter(sent.form["RoleSessionName"] for sent in sts.requests) == {name: 1 for name in SESSIONS}
    assert sum(stderr.startswith("awsrun: assumed ") for _, stderr, _ in results) == len(SESSIONS)
    names = sorted(path.name for path in folder.iterdir())
    entries = [folder / name for name in names if name.endswith(".session")]
    locks = [folder / name for name in names if name.endswith(".lock")]
    assert len(entries) == len(locks) == len(SESSIONS) and len(names) == 2 * len(SESSIONS), names
    for entry in entries:
        assert_sound_entry(entry)
        assert entry.with_suffix(".lock") in locks
    for lock in locks:
        # A lock file holds nothing but the pid of its last holder, for the waiting notice.
        assert lock.read_text().isdigit() and stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert leftovers(folder) == []
    assert elapsed < 60


# --- a write that fails half-way: a warning, the credentials, no temporary file ----------------------


def _tmpfs_full(xdg: Path, request: pytest.FixtureRequest) -> List[str]:
    """$XDG_CACHE_HOME on a 64 KiB tmpfs filled to the last page: the entry's write gets ENOSPC."""
    mount = shutil.which("mount")
    if not mount:
        pytest.skip("no mount(8) here to put the cache on a tiny tmpfs")
    xdg.mkdir(parents=True)
    tried = subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(xdg)],
                           capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs CAP_SYS_ADMIN): {tried.stderr.strip() or tried.returncode}")
    request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(xdg)], capture_output=True))
    (xdg / "awsrun").mkdir(mode=0o700)
    with open(xdg / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC: the disk is now full
    return []


# Run awsrun in this process (exec: same PID) with files limited to 64 bytes; works as root too.
_FILE_SIZE_LIMITED = (
    "import os, resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'awsrun', *sys.argv[1:]])\n"
)


def _file_size_limit(xdg: Path, request: pytest.FixtureRequest) -> List[str]:
    """RLIMIT_FSIZE of 64 bytes: the entry's write stops part-way with EFBIG (SIGXFSZ is ignored by Python)."""
    return [sys.executable, "-c", _FILE_SIZE_LIMITED]


# (how the write is made to fail, the reason the warning must give)
WRITE_FAILURES = [
    pytest.param(_tmpfs_full, "No space left on device", id="disk full (tmpfs ENOSPC)"),
    pytest.param(_file_size_limit, "File too large", id="file size limit (EFBIG)"),
]


@pytest.mark.parametrize("make, reason", WRITE_FAILURES)
def test_a_failed_cache_write_warns_once_and_leaves_no_temporary_file(
    request: pytest.FixtureRequest, folder: Path, make: Callable[[Path, pytest.FixtureRequest], List[str]],
    reason: str,
) -> None:
    prefix = make(folder.parent, request)
    with FakeSts([assume_role_ok()]) as sts:
        result, _ = timed_awsrun(sts.url, "-q", *CREDENTIAL_PROCESS, prefix=prefix)
        assert issued(result) == ISSUED_KEY_ID
        assert result.stderr == (
            f"awsrun: warning: could not write the credential cache in {folder} ({reason}); went on without it\n"
        )
        assert len(sts.requests) == 1
        assert leftovers(folder) == []
        assert [path.name for path in folder.iterdir() if not path.name.endswith(".lock")] == []
        # Nothing half-written is reused: the next run (same limits) asks STS again and succeeds.
        again, _ = timed_awsrun(sts.url, "-q", *CREDENTIAL_PROCESS, prefix=prefix)
        assert issued(again) == ISSUED_KEY_ID and len(sts.requests) == 2
        assert leftovers(folder) == []
