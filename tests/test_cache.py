"""The credential cache: reuse, --fresh, --no-cache, --min-ttl, CI, private folder, sound entries, one STS call per key.

Most tests run awsrun as a real process against tests/fake_sts.py, which records every
AssumeRole: the number of recorded requests says whether a run was a hit or a miss. Each
test gets its own cache folder ($XDG_CACHE_HOME in tmp_path). The last tests drive
awsrun.session.cache and awsrun.session.cachekey in-process, with an injected clock.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import pytest

from awsrun.session import cachekey
from awsrun.session.cache import Cache, Entry, cached, open_cache
from awsrun.session.cachekey import cache_key, source_fingerprint
from awsrun.cli import _parse
from awsrun.credentials import Credentials
from awsrun.config.envfile import EnvFiles
from awsrun.config.settings import resolve
from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun
from tests.fake_sts import ISSUED_KEY_ID, ISSUED_SECRET, ISSUED_TOKEN, FakeSts, Reply, assume_role_ok, raw, slow

ACCOUNT = "123456789012"
ASSUMED_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/session"
OTHER_SOURCE_KEY_ID = "AKIAI44QH8DHBEXAMPLE"
SECOND_KEY_ID = "ASIAFAKESTSISSUED002"
PLANTED_KEY_ID = "ASIAPLANTEDEXAMPLE01"  # in entries a test writes itself: never from STS
SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
OTHER_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/bob"
SECRETS = (SOURCE_SECRET, ISSUED_SECRET, ISSUED_TOKEN)
ROLE = ("--role", ROLE_ARN)
CREDENTIAL_PROCESS = (*ROLE, "--credential-process")
RUN_CHILD = (*ROLE, "--", sys.executable, str(CHILD))
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_ONLY = pytest.mark.skipif(not IS_ROOT, reason="giving a file to another user needs root")
NOT_ROOT = pytest.mark.skipif(IS_ROOT, reason="root writes into a 0500 folder anyway")


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's cache folder: $XDG_CACHE_HOME/awsrun inside tmp_path, not yet created."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "awsrun"


@pytest.fixture
def sts() -> Iterator[FakeSts]:
    with FakeSts([assume_role_ok()]) as server:
        yield server


def session(key_id: str = ISSUED_KEY_ID, expires_in: timedelta = timedelta(hours=1)) -> Reply:
    """An AssumeRole answer issuing ``key_id`` (with the usual fake secret and token)."""
    return raw(assume_role_ok(expires_in).body.replace(ISSUED_KEY_ID, key_id))


def source_env(url: str) -> Dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET, "AWS_ENDPOINT_URL_STS": url}


def awsrun(url: str, *args: str, env: Optional[Dict[str, str]] = None, **kwargs: object) -> subprocess.CompletedProcess:
    """awsrun with the source keys and STS at ``url``; no secret may ever reach its stderr."""
    result = run_awsrun(list(args), env={**source_env(url), **(env or {})}, **kwargs)
    assert not [secret for secret in SECRETS if secret in result.stderr], result.stderr
    return result


def issued(result: subprocess.CompletedProcess) -> str:
    """The key id a --credential-process run printed."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["AccessKeyId"]


def entry_path(folder: Path, url: str, *args: str) -> Path:
    """Where ``awsrun(url, *args)`` keeps its entry: the key computed in-process as the run computes it.

    Planting an entry there spares a test the seeding run (a miss costs a botocore import);
    test_a_sound_planted_entry_is_used checks that the run agrees.
    """
    environ = {**os.environ, **source_env(url)}
    return folder / f"{cache_key(resolve(_parse(list(args)), environ, EnvFiles()), environ, {}, None)}.session"


def plant(path: Path, content: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(content)
    path.chmod(mode)


def entry_files(folder: Path) -> List[Path]:
    return sorted(folder.glob("*.session")) if folder.is_dir() else []


# An entry as awsrun writes it (session/cache.py), told here independently: its fields joined by
# NUL in this order, the first "awsrun-session/VERSION".
ENTRY_FIELDS = ("version", "key", "access_key_id", "secret_access_key", "session_token", "expiration",
                "assumed_role_arn", "region")


def encoded(document: dict) -> bytes:
    """``document`` as an entry file's bytes; a field it lacks is left out, a None one is empty."""
    fields = [f"awsrun-session/{document[name]}" if name == "version" else str(document[name] or "")
              for name in ENTRY_FIELDS if name in document]
    return "\0".join(fields).encode()


def decoded(data: bytes) -> dict:
    fields = data.decode("utf-8").split("\0")
    assert len(fields) == len(ENTRY_FIELDS) and fields[0].startswith("awsrun-session/"), fields[:2]
    document = dict(zip(ENTRY_FIELDS, fields))
    document["version"] = int(fields[0].split("/")[1])
    return document


def stored(path: Path) -> dict:
    """An entry file, checked to be a private regular file holding a sound entry for its own name."""
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode), f"{path} is not a regular file"
    assert stat.S_IMODE(info.st_mode) == 0o600
    document = decoded(path.read_bytes())
    assert document["version"] == 2 and document["key"] == path.stem
    return document


def the_entry(folder: Path) -> Tuple[Path, dict]:
    (path,) = entry_files(folder)
    return path, stored(path)


def planted(key: str, **changes: object) -> dict:
    """A sound-looking entry for ``key`` that STS never issued (PLANTED_KEY_ID), valid for a day."""
    expiration = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "version": 2, "key": key, "access_key_id": PLANTED_KEY_ID, "secret_access_key": "plantedSecret",
        "session_token": "plantedToken", "expiration": expiration, "assumed_role_arn": ASSUMED_ARN,
        "region": "us-east-1",
    }
    document.update(changes)
    return document


def no_leftovers(folder: Path) -> None:
    assert not [path.name for path in folder.iterdir() if path.name.endswith(".tmp")]


def warnings_in(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if line.startswith("awsrun: warning: ")]


# --- reuse, --no-cache, --fresh, --min-ttl ---------------------------------------------------


def test_second_run_reuses_the_session(sts: FakeSts, folder: Path) -> None:
    first = awsrun(sts.url, *RUN_CHILD)
    second = awsrun(sts.url, *RUN_CHILD)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert len(sts.requests) == 1
    keys = [child_report(run.stdout)["env"]["AWS_ACCESS_KEY_ID"] for run in (first, second)]
    assert keys == [ISSUED_KEY_ID, ISSUED_KEY_ID]
    assert f"awsrun: assumed {ASSUMED_ARN}, expires " in first.stderr
    assert f"awsrun: reusing cached session of {ASSUMED_ARN}, expires " in second.stderr
    assert the_entry(folder)[1]["access_key_id"] == ISSUED_KEY_ID


@pytest.mark.parametrize(
    "flags, notice",
    [
        (["-v"], f"awsrun: reusing cached session of {ASSUMED_ARN}"),
        ([], f"awsrun: reusing cached session of {ASSUMED_ARN}"),
        (["-q"], None),
    ],
    ids=["verbose", "default", "quiet"],
)
def test_a_hit_says_it_reused_the_session(sts: FakeSts, flags: List[str], notice: Optional[str]) -> None:
    assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID
    hit = awsrun(sts.url, *flags, *CREDENTIAL_PROCESS)
    assert issued(hit) == ISSUED_KEY_ID and len(sts.requests) == 1
    if notice:
        assert notice in hit.stderr and "awsrun: assumed" not in hit.stderr
    else:
        assert hit.stderr == ""


@pytest.mark.parametrize(
    "flags, env",
    [(["--no-cache"], {}), ([], {"AWSRUN_NO_CACHE": "true"})],
    ids=["flag", "AWSRUN_NO_CACHE=true"],
)
def test_no_cache_neither_reads_nor_writes(sts: FakeSts, folder: Path, flags: List[str], env: Dict[str, str]) -> None:
    for _ in range(2):
        assert issued(awsrun(sts.url, *flags, *CREDENTIAL_PROCESS, env=env)) == ISSUED_KEY_ID
    assert len(sts.requests) == 2
    assert not folder.exists()  # not even the folder
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    plant(path, encoded(planted(path.stem)))  # a sound entry...
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert issued(awsrun(sts.url, *flags, *CREDENTIAL_PROCESS, env=env)) == ISSUED_KEY_ID  # ...neither read...
    assert len(sts.requests) == 3
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # ...nor rewritten
    assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == PLANTED_KEY_ID  # the control: a cached run reads it
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_fresh_assumes_again_and_replaces_the_entry(folder: Path) -> None:
    with FakeSts([session(ISSUED_KEY_ID), session(SECOND_KEY_ID)]) as sts:
        assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID
        fresh = awsrun(sts.url, "--fresh", *CREDENTIAL_PROCESS)
        assert issued(fresh) == SECOND_KEY_ID and f"awsrun: assumed {ASSUMED_ARN}" in fresh.stderr
        assert len(sts.requests) == 2
        assert the_entry(folder)[1]["access_key_id"] == SECOND_KEY_ID
        assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == SECOND_KEY_ID  # the new entry is the one reused
        assert len(sts.requests) == 2
        no_leftovers(folder)


def test_min_ttl_with_sts_expiration(folder: Path) -> None:
    """STS says the session ends in 12 minutes: enough for --min-ttl 600, too little for the default 900."""
    with FakeSts([session(ISSUED_KEY_ID, timedelta(minutes=12)), session(SECOND_KEY_ID)]) as sts:
        assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID
        assert issued(awsrun(sts.url, "--min-ttl", "600", *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID
        assert len(sts.requests) == 1
        refetched = awsrun(sts.url, *CREDENTIAL_PROCESS)
        assert issued(refetched) == SECOND_KEY_ID and f"awsrun: assumed {ASSUMED_ARN}" in refetched.stderr
        assert len(sts.requests) == 2
        assert the_entry(folder)[1]["access_key_id"] == SECOND_KEY_ID


@pytest.mark.parametrize(
    "left, flags, env, reused",
    [
        (timedelta(minutes=20), ["--min-ttl", "600"], {}, True),
        (timedelta(minutes=20), [], {}, True),
        (timedelta(minutes=14), [], {}, False),  # default 900 s
        (timedelta(minutes=12), [], {"AWSRUN_MIN_TTL": "600"}, True),
        (timedelta(minutes=12), ["--min-ttl", "900"], {"AWSRUN_MIN_TTL": "600"}, False),  # the flag wins
        (timedelta(hours=2), ["--min-ttl", "7500"], {}, False),
        (timedelta(seconds=-60), ["--min-ttl", "0"], {}, False),  # expired
    ],
    ids=["20min --min-ttl 600", "20min default", "14min default", "12min AWSRUN_MIN_TTL=600",
         "12min --min-ttl 900 over env", "2h --min-ttl 7500", "expired --min-ttl 0"],
)
def test_min_ttl(sts: FakeSts, folder: Path, left: timedelta, flags: List[str], env: Dict[str, str],
                 reused: bool) -> None:
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    expiration = (datetime.now(timezone.utc) + left).strftime("%Y-%m-%dT%H:%M:%SZ")
    plant(path, encoded(planted(path.stem, expiration=expiration)))
    result = awsrun(sts.url, *flags, *CREDENTIAL_PROCESS, env=env)
    assert issued(result) == (PLANTED_KEY_ID if reused else ISSUED_KEY_ID)
    assert len(sts.requests) == (0 if reused else 1)
    assert stored(path)["access_key_id"] == issued(result)  # a refetch replaced the entry


# --- on by default, off where CI is set -----------------------------------------------------------


@pytest.mark.parametrize(
    "ci, flags, env, cached_",
    [
        ("true", [], {}, False),
        ("1", [], {}, False),
        ("true", ["--cache"], {}, True),
        ("true", [], {"AWSRUN_CACHE": "true"}, True),
        ("false", [], {}, True),
        ("0", [], {}, True),
        ("", [], {}, True),
    ],
    ids=["CI=true", "CI=1", "CI=true --cache", "CI=true AWSRUN_CACHE", "CI=false", "CI=0", "CI=''"],
)
def test_ci_turns_the_cache_off_unless_asked(sts: FakeSts, folder: Path, ci: str, flags: List[str],
                                             env: Dict[str, str], cached_: bool) -> None:
    for _ in range(2):
        assert issued(awsrun(sts.url, *flags, *CREDENTIAL_PROCESS, env={"CI": ci, **env})) == ISSUED_KEY_ID
    assert len(sts.requests) == (1 if cached_ else 2)
    if cached_:
        assert the_entry(folder)[1]["access_key_id"] == ISSUED_KEY_ID
    else:
        assert not folder.exists()


# --- where the cache lives and its permissions ---------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask 022", "umask 000"])
def test_folder_0700_entry_and_lock_0600(sts: FakeSts, folder: Path, umask: int) -> None:
    assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS, umask=umask)) == ISSUED_KEY_ID
    info = folder.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
    path, _ = the_entry(folder)  # checks 0600
    lock = path.with_suffix(".lock")
    assert stat.S_ISREG(lock.lstat().st_mode) and stat.S_IMODE(lock.lstat().st_mode) == 0o600
    assert sorted(item.name for item in folder.iterdir()) == sorted([path.name, lock.name])


@pytest.mark.parametrize("xdg", ["set", "unset", "empty"])
def test_xdg_cache_home_else_home_cache(sts: FakeSts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        xdg: str) -> None:
    home_folder = Path(os.environ["HOME"]) / ".cache" / "awsrun"
    xdg_folder = tmp_path / "elsewhere" / "awsrun"
    if xdg == "set":
        monkeypatch.setenv("XDG_CACHE_HOME", str(xdg_folder.parent))
    elif xdg == "unset":
        monkeypatch.delenv("XDG_CACHE_HOME")
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", "")
    for _ in range(2):
        assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID
    assert len(sts.requests) == 1
    used, unused = (xdg_folder, home_folder) if xdg == "set" else (home_folder, xdg_folder)
    assert the_entry(used)[1]["access_key_id"] == ISSUED_KEY_ID
    assert not unused.exists()


# --- a folder that is not ours alone is refused ------------------------------------------------


def _group_writable(folder: Path, tmp_path: Path) -> Path:
    folder.mkdir(parents=True)
    folder.chmod(0o770)
    return folder


def _world_writable(folder: Path, tmp_path: Path) -> Path:
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    return folder


def _other_writable_only(folder: Path, tmp_path: Path) -> Path:
    folder.mkdir(parents=True)
    folder.chmod(0o702)
    return folder


def _another_owner(folder: Path, tmp_path: Path) -> Path:
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, 12345, 12345)
    return folder


def _symlinked(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(target)
    return target


def _parent_is_a_file(folder: Path, tmp_path: Path) -> Path:
    folder.parent.write_text("not a folder\n")  # $XDG_CACHE_HOME itself: mkdir cannot succeed, even as root
    return folder.parent


def _a_file(folder: Path, tmp_path: Path) -> Path:
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder\n")
    return folder


@pytest.mark.parametrize(
    "make, problem",
    [
        pytest.param(_group_writable, "writable by group or others (mode 770", id="group-writable 0770"),
        pytest.param(_world_writable, "writable by group or others (mode 777", id="world-writable 0777"),
        pytest.param(_other_writable_only, "writable by group or others (mode 702", id="other-writable 0702"),
        pytest.param(_another_owner, "owned by user id 12345", id="owned by uid 12345", marks=ROOT_ONLY),
        pytest.param(_symlinked, "not a plain folder", id="symlink to a 0700 folder"),
        pytest.param(_a_file, "cannot create it (File exists)", id="a regular file"),
        pytest.param(_parent_is_a_file, "cannot create it", id="XDG_CACHE_HOME is a file"),
    ],
)
def test_refused_folder_warns_once_and_runs_uncached(
    sts: FakeSts, folder: Path, tmp_path: Path, make: Callable[[Path, Path], Path], problem: str
) -> None:
    place = make(folder, tmp_path)
    before = place.lstat()
    result = awsrun(sts.url, "-q", *CREDENTIAL_PROCESS)
    assert issued(result) == ISSUED_KEY_ID and len(sts.requests) == 1
    (line,) = result.stderr.splitlines()  # -q: the warning is all there is
    assert line.startswith(f"awsrun: warning: not using the credential cache {folder}: ")
    assert problem in line
    after = place.lstat()
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)  # left as found, not "fixed"
    if place.is_dir():
        assert list(place.iterdir()) == []  # nothing written there


# --- a failed write is a warning ----------------------------------------------------------------


def test_entry_path_taken_by_a_folder_warns_and_runs(sts: FakeSts, folder: Path) -> None:
    # Root writes anywhere, so make the final rename fail instead: the entry's name is a folder.
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    path.mkdir(parents=True)
    folder.chmod(0o700)
    result = awsrun(sts.url, "-q", *CREDENTIAL_PROCESS)
    assert issued(result) == ISSUED_KEY_ID
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"awsrun: warning: could not write the credential cache in {folder} (")
    assert line.endswith("went on without it")
    assert len(sts.requests) == 1 and path.is_dir()
    no_leftovers(folder)


@NOT_ROOT
def test_read_only_folder_warns_and_runs(sts: FakeSts, folder: Path) -> None:
    folder.mkdir(parents=True, mode=0o700)
    folder.chmod(0o500)
    try:
        result = awsrun(sts.url, "-q", *CREDENTIAL_PROCESS)
    finally:
        folder.chmod(0o700)
    assert issued(result) == ISSUED_KEY_ID
    lines = result.stderr.splitlines()
    assert lines and lines == warnings_in(result.stderr)
    assert any("could not write the credential cache" in line for line in lines)
    assert list(folder.iterdir()) == []


# --- key separation ---------------------------------------------------------------------------

OTHER_STS = "{other}"  # stands for the URL of a second fake STS
JUMP = f"arn:aws:iam::{ACCOUNT}:role/Jump"
OTHER_JUMP = f"arn:aws:iam::{ACCOUNT}:role/OtherJump"
POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'


def _with(*args: str, **env: str) -> Tuple[Tuple[str, ...], Dict[str, str]]:
    return (*ROLE, *args), env


# A temporary source gets no MFA session from STS: each AssumeRole then carries the code.
TEMPORARY = {"AWS_SESSION_TOKEN": "FwoFAKEsourceSessionTokenEXAMPLE"}

KEY_CASES = [
    # first run, second run (awsrun options after --role, extra environment), one shared entry?
    pytest.param(_with(), _with(), True, id="identical inputs"),
    pytest.param(_with("--mfa-serial", SERIAL, "--mfa-code", "123456", **TEMPORARY),
                 _with("--mfa-serial", SERIAL, "--mfa-code", "654321", **TEMPORARY), True, id="another MFA code"),
    pytest.param(_with("--mfa-serial", SERIAL, "--mfa-code", "123456", **TEMPORARY),
                 _with("--mfa-serial", SERIAL, AWSRUN_MFA_CODE="654321", **TEMPORARY), True,
                 id="MFA code from the environment"),
    pytest.param(_with(), _with(AWS_ACCESS_KEY_ID=OTHER_SOURCE_KEY_ID), False, id="source key id"),
    pytest.param(_with(), (("--role", f"arn:aws:iam::{ACCOUNT}:role/Other"), {}), False, id="role"),
    pytest.param((("--role", JUMP, *ROLE), {}), (("--role", OTHER_JUMP, *ROLE), {}), False, id="first role of a chain"),
    pytest.param(_with("-s", "alice"), _with("-s", "bob"), False, id="session name"),
    pytest.param(_with("-d", "3600"), _with("-d", "7200"), False, id="duration"),
    pytest.param(_with("--external-id", "ext-id-one"), _with("--external-id", "ext-id-two"), False, id="external id"),
    pytest.param(_with("--region", "us-east-1"), _with("--region", "eu-west-1"), False, id="region"),
    pytest.param(_with(), _with(AWS_ENDPOINT_URL_STS=OTHER_STS), False, id="endpoint URL"),
    pytest.param(_with("--policy", POLICY), _with("--policy", POLICY.replace("GetObject", "PutObject")), False,
                 id="policy"),
    pytest.param(_with(), _with("--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"), False, id="policy ARN"),
    pytest.param(_with("--tag", "team=blue"), _with("--tag", "team=red"), False, id="tag"),
    pytest.param(_with("--tag", "team=blue"), _with("--tag", "team=blue", "--transitive-tag", "team"), False,
                 id="transitive tag"),
    pytest.param(_with("--source-identity", "alice"), _with("--source-identity", "bob"), False, id="source identity"),
    pytest.param(_with("--mfa-serial", SERIAL, "--mfa-code", "123456", **TEMPORARY),
                 _with("--mfa-serial", OTHER_SERIAL, "--mfa-code", "123456", **TEMPORARY), False, id="MFA serial"),
]


@pytest.mark.parametrize("first, second, shared", KEY_CASES)
def test_what_the_key_covers(folder: Path, first: tuple, second: tuple, shared: bool) -> None:
    with FakeSts([assume_role_ok()]) as sts, FakeSts([assume_role_ok()]) as other:

        def start(args: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen:
            env = {name: value.replace(OTHER_STS, other.url) for name, value in env.items()}
            return subprocess.Popen(
                [sys.executable, "-m", "awsrun", *args, "--credential-process"],
                env={**os.environ, **source_env(sts.url), **env}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )

        def finish(*runs: subprocess.Popen) -> int:
            """Wait for ``runs``; return how many AssumeRole calls both servers have seen so far."""
            for run in runs:
                stdout, stderr = run.communicate(timeout=60)
                assert run.returncode == 0 and json.loads(stdout)["AccessKeyId"] == ISSUED_KEY_ID, stderr
                assert not [secret for secret in SECRETS if secret in stderr]
            return len(sts.requests) + len(other.requests)

        calls = [list(args).count("--role") for args, _ in (first, second)]  # one AssumeRole per role
        if shared:
            assert finish(start(*first)) == calls[0]
            assert finish(start(*second)) == calls[0]  # the second reused the first's entry
            assert len(entry_files(folder)) == 1
        else:
            # Both at once, which halves the wait: had they one key, its lock would make one reuse the other's.
            assert finish(start(*first), start(*second)) == sum(calls)
            assert len(entry_files(folder)) == 2
            assert finish(start(*first), start(*second)) == sum(calls)  # each kept its own entry
        for path in entry_files(folder):
            stored(path)


# --- entries that must not be used ----------------------------------------------------------------


def _document(**changes: object) -> Callable[[dict], bytes]:
    return lambda document: encoded({**document, **changes})


def _without(name: str) -> Callable[[dict], bytes]:
    return lambda document: encoded({k: v for k, v in document.items() if k != name})


CORRUPT = [
    # what the entry file holds (given a sound planted document for its key), its mode, its owner
    pytest.param(lambda document: b"\x00\xff\xfe garbage \x80", 0o600, None, id="garbage"),
    pytest.param(lambda document: encoded(document)[:60], 0o600, None, id="truncated"),
    pytest.param(lambda document: encoded(document) + b"\0more", 0o600, None, id="a field more"),
    pytest.param(lambda document: json.dumps({**document, "version": 1}).encode(), 0o600, None,
                 id="the JSON of format 1"),
    pytest.param(lambda document: b"", 0o600, None, id="empty"),
    pytest.param(lambda document: b"\0" * 7, 0o600, None, id="eight empty fields"),
    pytest.param(_document(key="0" * 64), 0o600, None, id="another key's entry"),
    pytest.param(_document(version=3), 0o600, None, id="another version"),
    pytest.param(_document(), 0o644, None, id="mode 0644"),
    pytest.param(_document(), 0o640, None, id="mode 0640"),
    pytest.param(_document(), 0o600, 12345, id="owned by uid 12345", marks=ROOT_ONLY),
    pytest.param(_without("session_token"), 0o600, None, id="no session token"),
    pytest.param(_document(expiration="tomorrow"), 0o600, None, id="expiration not a date"),
    pytest.param(_document(expiration="2099-01-01T00:00:00"), 0o600, None, id="expiration without time zone"),
    pytest.param(_document(access_key_id=None), 0o600, None, id="null key id"),
    pytest.param(_document(secret_access_key=None, session_token=None), 0o600, None, id="null secret and token"),
]


@pytest.mark.parametrize("content, mode, owner", CORRUPT)
def test_unsound_entry_is_ignored_and_replaced(sts: FakeSts, folder: Path, content: Callable[[dict], bytes],
                                               mode: int, owner: Optional[int]) -> None:
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    plant(path, content(planted(path.stem)), mode)
    if owner is not None:
        os.chown(path, owner, owner)
    result = awsrun(sts.url, *CREDENTIAL_PROCESS)
    assert issued(result) == ISSUED_KEY_ID, "the unsound entry was used"
    assert len(sts.requests) == 1
    assert stored(path)["access_key_id"] == ISSUED_KEY_ID  # replaced: a sound 0600 entry again
    assert path.lstat().st_uid == os.geteuid()
    no_leftovers(folder)


def test_a_sound_planted_entry_is_used(sts: FakeSts, folder: Path) -> None:
    """The control for the tables that plant entries: the path and the document are what awsrun uses."""
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    plant(path, encoded(planted(path.stem)))
    assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == PLANTED_KEY_ID
    assert len(sts.requests) == 0
    assert issued(awsrun(sts.url, "--fresh", *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID
    assert the_entry(folder) == (path, stored(path))  # awsrun's own entry has the same name


def test_entry_symlink_is_never_followed(sts: FakeSts, folder: Path, tmp_path: Path) -> None:
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    folder.mkdir(parents=True, mode=0o700)
    target = tmp_path / "elsewhere" / "entry"
    target.parent.mkdir()
    target.write_bytes(encoded(planted(path.stem)))
    target.chmod(0o600)
    before = target.read_bytes()
    path.symlink_to(target)
    result = awsrun(sts.url, *CREDENTIAL_PROCESS)
    assert issued(result) == ISSUED_KEY_ID and len(sts.requests) == 1  # not read through the link
    # The one writer refuses a link at the target (files.py): one warning, the link left for the user.
    assert warnings_in(result.stderr) == [f"awsrun: warning: could not write the credential cache in {folder} "
                                          "(it is a symbolic link, which awsrun never writes through or replaces); "
                                          "went on without it"]
    assert path.is_symlink() and target.read_bytes() == before and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_lock_symlink_is_never_followed(sts: FakeSts, folder: Path, tmp_path: Path) -> None:
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    folder.mkdir(parents=True, mode=0o700)
    lock = path.with_suffix(".lock")
    target = tmp_path / "elsewhere-lock"
    lock.symlink_to(target)
    result = awsrun(sts.url, "-q", *CREDENTIAL_PROCESS)  # a miss, so the lock is taken
    assert issued(result) == ISSUED_KEY_ID and len(sts.requests) == 1
    assert not target.exists()  # not created through the link
    assert all("credential cache" in line for line in result.stderr.splitlines())
    assert stored(path)["access_key_id"] == ISSUED_KEY_ID


# --- concurrency, import cost, MFA ----------------------------------------------------------------


def test_parallel_runs_make_one_sts_call(folder: Path) -> None:
    with FakeSts([slow(0.3, assume_role_ok())]) as sts:
        environ = {**os.environ, "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
                   "AWS_ENDPOINT_URL_STS": sts.url}
        runs = [
            subprocess.Popen([sys.executable, "-m", "awsrun", *CREDENTIAL_PROCESS], env=environ,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(20)
        ]
        results = [(run.communicate(timeout=60), run.returncode) for run in runs]
    for (stdout, stderr), status in results:
        assert status == 0, stderr
        assert json.loads(stdout)["AccessKeyId"] == ISSUED_KEY_ID
        assert not [secret for secret in SECRETS if secret in stderr]
    assert len(sts.requests) == 1
    assert sum("awsrun: assumed " in stderr for (_, stderr), _ in results) == 1
    assert stored(the_entry(folder)[0])["access_key_id"] == ISSUED_KEY_ID
    no_leftovers(folder)


def _importtime(url: str, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
               "AWS_ENDPOINT_URL_STS": url}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "awsrun", *args], env=environ,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_a_hit_imports_no_botocore(sts: FakeSts) -> None:
    miss = _importtime(sts.url, *CREDENTIAL_PROCESS)
    assert issued(miss) == ISSUED_KEY_ID
    assert any("botocore" in line for line in miss.stderr.splitlines())  # the control: a miss does
    hit = _importtime(sts.url, *CREDENTIAL_PROCESS)
    assert issued(hit) == ISSUED_KEY_ID and len(sts.requests) == 1
    assert not [secret for secret in SECRETS if secret in miss.stderr + hit.stderr]
    assert "import time:" in hit.stderr
    assert [line for line in hit.stderr.splitlines() if "botocore" in line] == []


def test_mfa_hit_needs_no_code_and_no_terminal(sts: FakeSts) -> None:
    first = awsrun(sts.url, *CREDENTIAL_PROCESS, "--mfa-serial", SERIAL, "--mfa-code", "123456", env=TEMPORARY)
    assert issued(first) == ISSUED_KEY_ID
    assert (sts.requests[0].form.get("SerialNumber"), sts.requests[0].form.get("TokenCode")) == (SERIAL, "123456")
    # No code and no controlling terminal (new session, stdin /dev/null): only the cache can answer.
    hit = awsrun(sts.url, *CREDENTIAL_PROCESS, "--mfa-serial", SERIAL, env=TEMPORARY, start_new_session=True)
    assert issued(hit) == ISSUED_KEY_ID and len(sts.requests) == 1
    assert "MFA code for" not in hit.stderr and "123456" not in hit.stderr.replace(ACCOUNT, "")
    # The control: without the cache the same run needs a code it cannot ask for.
    fresh = awsrun(sts.url, *CREDENTIAL_PROCESS, "--mfa-serial", SERIAL, "--fresh", env=TEMPORARY,
                   start_new_session=True)
    assert fresh.returncode == 125 and "no terminal to ask on" in fresh.stderr
    assert len(sts.requests) == 1


# --- in process: Cache, cached(), cache_key ---------------------------------------------------------

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
KEY = "a" * 64


def entry_at(expiration: datetime, key_id: str = ISSUED_KEY_ID) -> Entry:
    return Entry(Credentials(key_id, ISSUED_SECRET, ISSUED_TOKEN, expiration, ASSUMED_ARN), "eu-west-1")


def private_cache(tmp_path: Path, warnings: List[str]) -> Cache:
    cache = open_cache({"XDG_CACHE_HOME": str(tmp_path / "unit")}, warnings.append)
    assert cache is not None
    return cache


@pytest.mark.parametrize(
    "left, min_ttl, reused",
    [
        (timedelta(hours=1), 900, True),
        (timedelta(seconds=901), 900, True),
        (timedelta(seconds=900), 900, True),  # "at least min-ttl left" includes exactly
        (timedelta(seconds=899), 900, False),
        (timedelta(minutes=20), 600, True),
        (timedelta(minutes=20), 1800, False),
        (timedelta(seconds=1), 0, True),
        (timedelta(0), 0, True),
        (timedelta(seconds=-1), 0, False),  # expired
        (timedelta(hours=12), 43200, True),
    ],
)
def test_get_with_injected_now(tmp_path: Path, left: timedelta, min_ttl: int, reused: bool) -> None:
    warnings: List[str] = []
    cache = private_cache(tmp_path, warnings)
    entry = entry_at(NOW + left)
    cache.put(KEY, entry)
    assert cache.get(KEY, min_ttl, now=NOW) == (entry if reused else None)
    assert warnings == []


def test_put_writes_a_private_document_and_get_reads_it_back(tmp_path: Path) -> None:
    warnings: List[str] = []
    cache = private_cache(tmp_path, warnings)
    entry = entry_at(NOW + timedelta(hours=1))
    cache.put(KEY, entry)
    document = stored(Path(cache.path(KEY)))
    assert document["access_key_id"] == ISSUED_KEY_ID and document["expiration"] == "2030-01-01T13:00:00Z"
    assert document["region"] == "eu-west-1" and document["assumed_role_arn"] == ASSUMED_ARN
    assert cache.get(KEY, 900, now=NOW) == entry
    assert cache.get("b" * 64, 0, now=NOW) is None  # another key
    cache.put(KEY, entry_at(NOW + timedelta(hours=2), SECOND_KEY_ID))  # replaces
    assert cache.get(KEY, 900, now=NOW).credentials.access_key_id == SECOND_KEY_ID  # type: ignore[union-attr]
    assert sorted(os.listdir(cache.folder)) == [f"{KEY}.session"] and warnings == []


def test_put_failure_only_warns(tmp_path: Path) -> None:
    warnings: List[str] = []
    cache = Cache(str(tmp_path / "missing"), warnings.append)
    cache.put(KEY, entry_at(NOW + timedelta(hours=1)))  # must not raise
    (warning,) = warnings
    assert warning.startswith(f"could not write the credential cache in {tmp_path / 'missing'} (")
    assert "\n" not in warning and not [secret for secret in SECRETS if secret in warning]


def test_put_refuses_a_field_it_could_not_read_back(tmp_path: Path) -> None:
    """A NUL separates an entry's fields: a value holding one (or an empty one) is not cached."""
    warnings: List[str] = []
    cache = private_cache(tmp_path, warnings)
    for arn in (ASSUMED_ARN + "\0" + ASSUMED_ARN, ""):
        sound = entry_at(NOW + timedelta(hours=1))
        cache.put(KEY, sound._replace(credentials=sound.credentials._replace(assumed_role_arn=arn)))
    assert os.listdir(cache.folder) == []
    assert warnings == ["the session STS returned has an empty field or a NUL in one; it was not cached"] * 2


def test_the_json_entries_of_format_1_go_on_the_next_write(sts: FakeSts, folder: Path) -> None:
    """An earlier awsrun kept each session as KEY.json: never read now, removed by the next miss."""
    path = entry_path(folder, sts.url, *CREDENTIAL_PROCESS)
    old = folder / f"{path.stem}.json"
    plant(old, json.dumps({**planted(path.stem), "version": 1}).encode())
    others = [folder / "notes.json", folder / f"{'b' * 63}.json", folder / f"{'B' * 64}.json"]
    for other in others:
        plant(other, b"{}")
    assert issued(awsrun(sts.url, *CREDENTIAL_PROCESS)) == ISSUED_KEY_ID  # not read: STS was asked
    assert len(sts.requests) == 1 and not old.exists()
    assert all(other.exists() for other in others)  # not awsrun's: left alone
    assert the_entry(folder) == (path, stored(path))


def test_cache_keys_do_not_depend_on_the_order_of_a_mapping() -> None:
    first = {"version": 3, "source": {"environment": {"A": "1", "B": "2"}, "token": None}, "hops": [["x", (1, 2)]]}
    second = {"hops": [["x", [1, 2]]], "source": {"token": None, "environment": {"B": "2", "A": "1"}}, "version": 3}
    assert cachekey._digest(first) == cachekey._digest(second)
    assert cachekey._digest({"hops": ["a", "b"]}) != cachekey._digest({"hops": ["a,b"]})
    assert cachekey._digest({"hops": ["a"]}) != cachekey._digest({"hops": "['a']"})
    assert cachekey._digest({"region": None}) != cachekey._digest({"region": "None"})


def test_open_cache_refuses_a_shared_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "awsrun"
    shared.mkdir(parents=True)
    shared.chmod(0o775)
    warnings: List[str] = []
    assert open_cache({"XDG_CACHE_HOME": str(shared.parent)}, warnings.append) is None
    assert warnings == [f"not using the credential cache {shared}: it is writable by group or others "
                        "(mode 775; chmod 700 it)"]


def test_cached_fetches_on_a_miss_and_reuses_on_a_hit(tmp_path: Path) -> None:
    warnings: List[str] = []
    cache = private_cache(tmp_path, warnings)
    fetched: List[Entry] = []
    far = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)

    def fetch(key_id: str, expiration: datetime) -> Callable[[], Entry]:
        def fetch_one() -> Entry:
            fetched.append(entry_at(expiration, key_id))
            return fetched[-1]
        return fetch_one

    first = cached(cache, KEY, 900, False, fetch(ISSUED_KEY_ID, far))
    assert cached(cache, KEY, 900, False, fetch("ASIAUNUSEDEXAMPLE001", far)) == first
    assert [entry.credentials.access_key_id for entry in fetched] == [ISSUED_KEY_ID]
    fresh = cached(cache, KEY, 900, True, fetch(SECOND_KEY_ID, far))
    assert fresh.credentials.access_key_id == SECOND_KEY_ID
    assert cache.get(KEY, 900) == fresh  # --fresh replaced the entry
    assert cached(cache, KEY, 7200, False, fetch(ISSUED_KEY_ID, far)).credentials.access_key_id == ISSUED_KEY_ID
    assert len(fetched) == 3  # too little left for min-ttl 7200: fetched again
    assert cached(None, KEY, 900, False, fetch(ISSUED_KEY_ID, far)) and len(fetched) == 4  # no cache: always
    assert warnings == []


def key_for(argv: Sequence[str], environ: Mapping[str, str], region: Optional[str] = None) -> str:
    """The cache key awsrun would compute for ``argv`` in ``environ`` (no .env)."""
    config = resolve(_parse([*ROLE, *argv]), environ, EnvFiles())
    return cache_key(config, environ, {}, region)


@pytest.fixture
def base_environ(tmp_path: Path) -> Dict[str, str]:
    home = tmp_path / "keyhome"
    (home / ".aws").mkdir(parents=True)
    return {"HOME": str(home), "USER": "alice", "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}


def test_mfa_code_is_never_key_material(base_environ: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: List[bytes] = []

    real = cachekey.blake2b

    def spy(data: bytes, **options: object) -> object:
        hashed.append(data)
        return real(data, **options)

    monkeypatch.setattr(cachekey, "blake2b", spy)
    mfa = ["--mfa-serial", SERIAL]
    keys = {
        key_for(mfa, base_environ),
        key_for([*mfa, "--mfa-code", "908172"], base_environ),
        key_for([*mfa, "--mfa-code", "917263"], base_environ),
        key_for(mfa, {**base_environ, "AWSRUN_MFA_CODE": "926354"}),
    }
    assert len(keys) == 1
    assert hashed and not [data for data in hashed for code in (b"908172", b"917263", b"926354") if code in data]
    assert key_for(["--mfa-serial", OTHER_SERIAL, "--mfa-code", "908172"], base_environ) not in keys


ISSUED = {"AWSRUN_ASSUMED_KEY_ID": ISSUED_KEY_ID, "AWSRUN_ASSUMED_ROLE_ARN": ASSUMED_ARN}


@pytest.mark.parametrize(
    "first, second, same",
    [
        # environment variables over base_environ (None removes one)
        ({"AWS_ACCESS_KEY_ID": ISSUED_KEY_ID, **ISSUED},
         {"AWS_ACCESS_KEY_ID": SECOND_KEY_ID, **ISSUED, "AWSRUN_ASSUMED_KEY_ID": SECOND_KEY_ID}, True),
        ({"AWS_ACCESS_KEY_ID": ISSUED_KEY_ID, **ISSUED},
         {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, True),
        ({"AWS_ACCESS_KEY_ID": ISSUED_KEY_ID, **ISSUED}, {"AWS_ACCESS_KEY_ID": ISSUED_KEY_ID}, False),
        ({"AWS_ACCESS_KEY_ID": OTHER_SOURCE_KEY_ID, **ISSUED}, {"AWS_ACCESS_KEY_ID": ISSUED_KEY_ID, **ISSUED}, False),
        ({}, {"AWS_ACCESS_KEY_ID": OTHER_SOURCE_KEY_ID}, False),
        ({}, {"AWS_PROFILE": "other"}, False),
        ({}, {"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, False),
        ({}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, False),
        ({}, {"AWS_SECRET_ACCESS_KEY": "anotherSecretOfTheSameKey"}, True),
    ],
    ids=["two issued sessions", "issued session vs no keys", "issued vs the same key as a source",
         "key id not the issued one", "other source key id", "AWS_PROFILE", "regional endpoints", "AWS_ENDPOINT_URL",
         "same key id, another secret"],
)
def test_source_in_the_key(base_environ: Dict[str, str], first: Dict[str, Optional[str]],
                           second: Dict[str, Optional[str]], same: bool) -> None:
    def environ(changes: Dict[str, Optional[str]]) -> Dict[str, str]:
        merged: Dict[str, Optional[str]] = {**base_environ, **changes}
        return {name: value for name, value in merged.items() if value is not None}

    assert (key_for([], environ(first)) == key_for([], environ(second))) == same


def test_issued_key_id_is_not_a_source(base_environ: Dict[str, str]) -> None:
    environ = {**base_environ, "AWS_ACCESS_KEY_ID": ISSUED_KEY_ID, **ISSUED}
    assert "AWS_ACCESS_KEY_ID" not in source_fingerprint(environ, {})["environment"]
    assert source_fingerprint(base_environ, {})["environment"]["AWS_ACCESS_KEY_ID"] == SOURCE_KEY_ID


def test_key_follows_the_aws_files_and_the_region(base_environ: Dict[str, str]) -> None:
    config = Path(base_environ["HOME"]) / ".aws" / "config"
    before = key_for([], base_environ)
    config.write_text("[default]\nregion = eu-west-1\n")
    edited = key_for([], base_environ)
    config.write_text("[default]\nregion = ap-southeast-2\n")
    keys = {before, edited, key_for([], base_environ)}
    assert len(keys) == 3
    # The region, not where it was read: the same session either way.
    config.write_text("[default]\nregion = eu-west-1\n")
    assert key_for([], base_environ, "eu-west-1") == key_for([], base_environ) == edited


# --- -v names the min-ttl in use and where it came from -------------------------------------------


@pytest.mark.parametrize(
    "flags, env, in_use",
    [
        (["-d", "15m"], {}, "min-ttl in use = 450 (half the 900-second session, by default)"),
        ([], {}, "min-ttl in use = 900 (from default)"),
        (["-d", "15m", "--min-ttl", "600"], {}, "min-ttl in use = 600 (from --min-ttl)"),
        (["-d", "15m"], {"AWSRUN_MIN_TTL": "5m"}, "min-ttl in use = 300 (from $AWSRUN_MIN_TTL)"),
        (["-d", "15m", "--expect", "10m"], {}, "min-ttl in use = 600 (--expect 10m, from --expect)"),
    ],
    ids=["15m session by default", "1h session by default", "flag", "environment", "raised by --expect"],
)
def test_verbose_names_the_min_ttl_in_use(folder: Path, flags: List[str], env: Dict[str, str], in_use: str) -> None:
    with FakeSts([session(ISSUED_KEY_ID, timedelta(minutes=15)), session(SECOND_KEY_ID)]) as sts:
        assert issued(awsrun(sts.url, *flags, *CREDENTIAL_PROCESS, env=env)) == ISSUED_KEY_ID
        reused = awsrun(sts.url, "-v", *flags, *CREDENTIAL_PROCESS, env=env)
    lines = reused.stderr.splitlines()
    assert f"awsrun: {in_use}" in lines, reused.stderr
    assert "awsrun: min-ttl = 900 (from default)" not in lines  # never the bare default as if in use
    assert issued(reused) == (ISSUED_KEY_ID if "15m" in flags else SECOND_KEY_ID)
