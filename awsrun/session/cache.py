"""A credential cache that wraps the STS call: private files, atomic writes, one fetch per key.

Entries live in $XDG_CACHE_HOME/awsrun (or ~/.cache/awsrun), a 0700 folder of 0600 files
named by the hash of everything that shapes the session. Nothing here imports botocore: a
hit must cost no more than starting Python.

An entry is its fields joined by NUL, in a fixed order (FIELDS). A NUL cannot be in any of
them: STS answers in XML, which cannot carry U+0000, and put() refuses one anyway. So a hit
needs no parser, and no json: importing it would be a sixth of a hit's own work.
"""

from __future__ import annotations

import contextlib
import os
import stat
from types import ModuleType
from typing import Callable, Iterator, Mapping, NamedTuple, Optional

from awsrun.credentials import Credentials, datetime, iso8601, timedelta, timezone
from awsrun.files import WriteError, cache_dir, open_lock, write_text

__all__ = ["Entry", "Cache", "open_cache", "cached", "DEFAULT_MIN_TTL"]

DEFAULT_MIN_TTL = 900
LOCK_NOTICE = 1.0  # seconds of waiting on another run's lock before saying so
FORMAT = "awsrun-session/2"  # the first field; /1 was a JSON document in KEY.json
FIELDS = ("format", "key", "access_key_id", "secret_access_key", "session_token", "expiration",
          "assumed_role_arn", "region")


class Entry(NamedTuple):
    """A cached session: the final role's credentials and the region they were issued for."""

    credentials: Credentials
    region: str


def _folder_problem(path: str) -> Optional[str]:
    """Why a folder must not hold credentials, or None when it is ours alone."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot create it ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "it is not a plain folder"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"it is owned by user id {info.st_uid}, not you"
    if info.st_mode & 0o022:
        return f"it is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}; chmod 700 it)"
    return None


class Cache:
    """The entries of one folder, already checked to be private."""

    def __init__(self, folder: str, warn: Callable[[str], None]) -> None:
        self.folder, self.warn = folder, warn

    def path(self, key: str) -> str:
        return os.path.join(self.folder, f"{key}.session")

    def get(self, key: str, min_ttl: int, now: Optional[datetime] = None) -> Optional[Entry]:
        """The entry for ``key`` if it is sound and has at least ``min_ttl`` seconds left."""
        try:
            fd = os.open(self.path(key), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # absent, or a symlink: never read through it
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or (
                hasattr(os, "geteuid") and info.st_uid != os.geteuid()
            ):
                return None
            with os.fdopen(fd, "rb") as stream:
                fd = -1
                entry = _entry(stream.read(65536), key)
        except (OSError, ValueError):
            return None  # corrupt, truncated or foreign: the next write replaces it
        finally:
            if fd >= 0:
                os.close(fd)
        now = now or datetime.now(timezone.utc)
        if entry.credentials.expiration - now < timedelta(seconds=min_ttl):
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Write atomically (temporary file, fsync, replace); a failure only warns."""
        credentials = entry.credentials
        fields = (FORMAT, key, credentials.access_key_id, credentials.secret_access_key, credentials.session_token,
                  iso8601(credentials.expiration), credentials.assumed_role_arn, entry.region)
        if any("\0" in field or not field for field in fields):
            self.warn("the session STS returned has an empty field or a NUL in one; it was not cached")
            return
        try:
            write_text(self.path(key), "\0".join(fields), sync=True)  # 0600, atomic, never through a link
        except WriteError as exc:
            self.warn(f"could not write the credential cache in {self.folder} ({exc.reason}); went on without it")
            return
        _drop_json_entries(self.folder)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock on ``key`` so that parallel runs make one STS call, not one each."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; parallel runs each call STS
            yield
            return
        try:
            fd = open_lock(os.path.join(self.folder, f"{key}.lock"))
        except OSError as exc:
            self.warn(f"could not lock the credential cache ({exc.strerror}); went on without the lock")
            yield
            return
        try:
            self._wait_for(fd, fcntl)
            with contextlib.suppress(OSError):  # who holds it, for the next run's message
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _wait_for(self, fd: int, fcntl: ModuleType) -> None:
        """Take the lock; when another run holds it past LOCK_NOTICE seconds, say so once."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        import threading

        # Queue in flock(2) at once, as before; a timer speaks if the wait is long. Ctrl-C
        # and SIGTERM still interrupt the wait in the main thread.
        notice = threading.Timer(LOCK_NOTICE, self._say_waiting, (fd,))
        notice.daemon = True
        notice.start()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            notice.cancel()

    def _say_waiting(self, fd: int) -> None:
        try:
            holder = int(os.pread(fd, 16, 0).decode("ascii").strip())
        except (OSError, ValueError):
            holder = 0
        self.warn(f"waiting for another awsrun{f' (pid {holder})' if holder > 0 else ''} that holds the cache "
                  "lock for this session (perhaps at its MFA prompt); Ctrl-C to stop, --no-cache to skip the cache")


def _entry(data: bytes, key: str) -> Entry:
    """Rebuild an entry, or raise ValueError for anything not exactly as put() writes it."""
    fields = data.decode("utf-8").split("\0")
    if len(fields) != len(FIELDS) or fields[0] != FORMAT or fields[1] != key:
        raise ValueError("not this key's entry")
    text = dict(zip(FIELDS, fields))
    if not all(fields):
        raise ValueError("a field is empty")
    expiration = datetime.fromisoformat(text["expiration"].replace("Z", "+00:00"))
    if expiration.tzinfo is None:
        raise ValueError("an expiry without a time zone")
    credentials = Credentials(
        text["access_key_id"], text["secret_access_key"], text["session_token"], expiration, text["assumed_role_arn"]
    )
    return Entry(credentials, text["region"])


def _drop_json_entries(folder: str) -> None:
    """Remove the KEY.json entries an earlier awsrun wrote (format /1): no run reads them, and they
    hold a session's secret until they are gone. Best effort, on a write (a cache miss) only."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        stem, dot, suffix = name.partition(".")
        if suffix == "json" and len(stem) == 64 and all(c in "0123456789abcdef" for c in stem):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


def open_cache(environ: Mapping[str, str], warn: Callable[[str], None]) -> Optional[Cache]:
    """The cache, or None (with a warning) when its folder is not private."""
    folder = cache_dir(environ)
    problem = _folder_problem(folder)
    if problem:
        warn(f"not using the credential cache {folder}: {problem}")
        return None
    return Cache(folder, warn)


def cached(cache: Optional[Cache], key: str, min_ttl: int, fresh: bool, fetch: Callable[[], Entry]) -> Entry:
    """Reuse a sound entry, or fetch under the key's lock and store the result."""
    if cache is None:
        return fetch()
    if not fresh:
        hit = cache.get(key, min_ttl)
        if hit:
            return hit
    with cache.lock(key):
        if not fresh:  # another run may have fetched while this one waited
            hit = cache.get(key, min_ttl)
            if hit:
                return hit
        entry = fetch()
        cache.put(key, entry)
        return entry
