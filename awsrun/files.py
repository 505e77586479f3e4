"""The one writer of every file awsrun and awsrun-keys create, the one bounded reader of the
files the user names, and where awsrun's folders are (and how their stale copies go).

A file is written to a temporary file beside its target, created new (O_EXCL, no link
followed) with its final mode, synced when losing it would matter, and then renamed over the
target: a reader sees the old file or the new one, never half of one, and a failure leaves
nothing behind. A target that is a symbolic link or not a regular file is refused, never
written through or replaced. Cheap to import: the cache-hit path goes through here.

A file the user names (--policy FILE, --each-role @FILE, .env files) is read only if it is a
regular file of at most a stated size, checked before a byte is read: /dev/zero would never
end, a FIFO would hang, a directory is no file, a huge file would fill memory.
"""

from __future__ import annotations

import os
import stat
from typing import IO, Callable, Mapping, Optional

from awsrun.errors import ConfigError

__all__ = ["WriteError", "PRIVATE", "PUBLIC", "NewFile", "write_bytes", "write_text", "refuse_unsafe_target",
           "open_lock", "xdg_folder", "cache_dir", "STALE_AFTER", "prune", "touch", "NOT_REGULAR", "TOO_LARGE",
           "read_bounded", "size_text"]

PRIVATE = 0o600  # credentials, caches, the trust store: the user alone
PUBLIC = 0o666  # reports and --output-dir files: what any new file gets, less the umask
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC


def _shown(path: str) -> str:
    return path if path.isprintable() else ascii(path)


class WriteError(ConfigError):
    """A file could not be written; one line naming it. ``reason`` is the why alone."""

    def __init__(self, path: str, reason: str, refused: bool = False) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{'refusing to write' if refused else 'cannot write'} {_shown(path)}: {reason}")


def _oserror(path: str, exc: OSError) -> WriteError:
    return WriteError(path, exc.strerror or exc.__class__.__name__)


def refuse_unsafe_target(path: str) -> None:
    """Raise WriteError when ``path`` is a symbolic link or something other than a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _oserror(path, exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise WriteError(path, "it is a symbolic link, which awsrun never writes through or replaces", refused=True)
    if not stat.S_ISREG(info.st_mode):
        raise WriteError(path, "it is not a regular file", refused=True)


class NewFile:
    """A temporary file beside ``path`` that becomes ``path`` on commit(), or goes on discard().

    ``mode`` is set at creation: PRIVATE (0600), PUBLIC (0666 less the umask), or an exact
    mode (an edited file keeps its own). ``sync`` fsyncs the data and the folder. As a context
    manager it commits when the block ends without an exception and discards otherwise.
    """

    def __init__(self, path: str, mode: int = PRIVATE, sync: bool = False, exact: bool = False) -> None:
        self.path, self.sync = path, sync
        refuse_unsafe_target(path)
        folder, name = os.path.split(path)
        self.folder = folder or "."
        # Created 0600 and widened before any byte is in it when the mode is exact (the umask
        # must not narrow an edited file's mode); else the kernel applies the umask.
        fd = -1
        for _ in range(100):
            self.temporary = os.path.join(self.folder, f".{name}.{os.urandom(6).hex()}.tmp")
            try:
                fd = os.open(self.temporary, _NEW, PRIVATE if exact else mode)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise _oserror(path, exc) from None
        if fd < 0:
            raise WriteError(path, "no unused temporary name in its folder")
        try:
            if exact:
                os.fchmod(fd, mode)
            self.stream: IO[bytes] = os.fdopen(fd, "wb")
        except BaseException as exc:
            os.close(fd)
            self._remove()
            if isinstance(exc, OSError):
                raise _oserror(path, exc) from None
            raise

    def fileno(self) -> int:
        return self.stream.fileno()

    def commit(self) -> None:
        """Make the written data the target; WriteError (and nothing left behind) if that fails."""
        try:
            self.stream.flush()
            if self.sync:
                os.fsync(self.stream.fileno())
            self.stream.close()
            refuse_unsafe_target(self.path)  # planted while we wrote: refused, not replaced
            os.replace(self.temporary, self.path)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                raise _oserror(self.path, exc) from None
            raise
        if self.sync:
            _sync_folder(self.folder)

    def discard(self) -> None:
        """Close and remove the temporary file; the target stays as it was."""
        try:
            self.stream.close()
        except OSError:
            pass
        self._remove()

    def _remove(self) -> None:
        try:
            os.unlink(self.temporary)
        except OSError:
            pass

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable; best effort (not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str, data: bytes, mode: int = PRIVATE, sync: bool = False, exact: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically (see NewFile); WriteError when it cannot."""
    new = NewFile(path, mode, sync, exact)
    try:
        new.stream.write(data)
    except BaseException as exc:
        new.discard()
        if isinstance(exc, OSError):
            raise _oserror(path, exc) from None
        raise
    new.commit()


def write_text(path: str, text: str, encoding: str = "utf-8", mode: int = PRIVATE, sync: bool = False,
               exact: bool = False) -> None:
    """``write_bytes`` of ``text`` in ``encoding``, no newline translation."""
    write_bytes(path, text.encode(encoding), mode, sync, exact)


def open_lock(path: str) -> int:
    """A 0600 lock file's descriptor, read-write, created if absent, never through a symlink.

    Not data: only its lock (and the holder's pid) matters, so it is opened in place.
    """
    return os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, PRIVATE)


def xdg_folder(environ: Mapping[str, str], variable: str, fallback: str) -> str:
    """$``variable`` when it is an absolute path, else ~/``fallback``: the XDG base directory
    spec calls a relative value invalid, to be ignored (it would name a folder of the working
    directory, which may be anyone's)."""
    value: Optional[str] = environ.get(variable)
    if value and os.path.isabs(value):
        return value
    return os.path.join(environ.get("HOME") or os.path.expanduser("~"), fallback)


def cache_dir(environ: Mapping[str, str]) -> str:
    """$XDG_CACHE_HOME/awsrun (or ~/.cache/awsrun): the credential cache and its copies."""
    return os.path.join(xdg_folder(environ, "XDG_CACHE_HOME", ".cache"), "awsrun")


# A content-addressed file of the folder (a neutral config copy, a profiles memo) that no run
# has used for this long is removed when a newer one of its kind is written.
STALE_AFTER = 30 * 86400


def prune(folder: str, prefix: str, keep: str) -> None:
    """Remove ``prefix``* files of ``folder`` other than ``keep`` that no run has used for
    STALE_AFTER, and temporary ones a killed run left. Each edit of the AWS config makes new
    content-addressed copies; the old ones are reused (and touched) while a command still
    holds them, so only long-unused ones go. Best effort: a file that cannot go stays."""
    import time

    limit = time.time() - STALE_AFTER
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name == keep or not (name.startswith(prefix) or name.startswith("." + prefix)):
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < limit:
                os.unlink(path)
        except OSError:
            pass


def touch(path: str) -> None:
    """Mark a content-addressed file as used now, so that prune keeps it."""
    try:
        os.utime(path)
    except OSError:
        pass


# The bounded reader.

NOT_REGULAR = "not a regular file"
TOO_LARGE = "too large"


def size_text(limit: int) -> str:
    """1048576 -> '1 MiB', 65536 -> '64 KiB'."""
    if limit >= 1 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit >= 1 << 10 and limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"


def read_bounded(path: str, limit: int, refuse: Callable[[str], Exception]) -> bytes:
    """The bytes of the regular file ``path`` if it holds at most ``limit`` of them.

    Otherwise ``refuse(NOT_REGULAR)`` or ``refuse(TOO_LARGE)`` is raised, before reading.
    A missing or unreadable file raises the OSError the OS gave.
    """
    _check(os.stat(path), limit, refuse)
    # O_NONBLOCK: a FIFO swapped in after the stat cannot hang the open; fstat says what opened.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        _check(os.fstat(fd), limit, refuse)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:  # grew after the fstat
        raise refuse(TOO_LARGE)
    return b"".join(chunks)


def _check(info: os.stat_result, limit: int, refuse: Callable[[str], Exception]) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise refuse(NOT_REGULAR)
    if info.st_size > limit:
        raise refuse(TOO_LARGE)
