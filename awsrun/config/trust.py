"""Which .env files the user trusts: a pure decision, a small private store, and the one
bounded read of a .env's bytes (what is hashed is what is parsed).

A ``./.env`` may come from anyone (a cloned repository, a shared folder), and its keys
would pick the role, silence awsrun and load code into the command. Like direnv and mise,
awsrun reads a .env it finds by itself only once the user ran ``awsrun --trust-env-file``
there, which records the file's absolute path and the SHA-256 of its bytes. An edit makes
the file untrusted again. The store is one JSON file, 0600 in a 0700 folder under
$XDG_CONFIG_HOME/awsrun (or ~/.config/awsrun); a store that is a symlink, someone else's,
or open to others trusts nothing. Nothing here imports botocore, and hashlib is imported
only when a .env is checked or trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from awsrun.errors import ConfigError
from awsrun.files import NOT_REGULAR, read_bounded, size_text, write_text, xdg_folder

__all__ = [
    "TRUSTED", "UNTRUSTED", "CHANGED", "store_path", "digest", "verdict", "entries", "load", "ignored_message",
    "read_bytes", "trust_files", "forget_files",
]

STORE_NAME = "trusted-env-files.json"
_VERSION = 1
TRUSTED, UNTRUSTED, CHANGED = "trusted", "untrusted", "changed"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def store_dir(environ: Mapping[str, str]) -> str:
    return os.path.join(xdg_folder(environ, "XDG_CONFIG_HOME", ".config"), "awsrun")


def store_path(environ: Mapping[str, str]) -> str:
    return os.path.join(store_dir(environ), STORE_NAME)


def digest(content: bytes) -> str:
    """The SHA-256 of ``content`` in hex (hashlib loads OpenSSL: only on the .env paths)."""
    import hashlib

    return hashlib.sha256(content).hexdigest()


def verdict(trusted: Mapping[str, str], path: str, content: bytes) -> str:
    """TRUSTED when ``path`` was trusted with exactly ``content``; CHANGED or UNTRUSTED otherwise."""
    expected = trusted.get(path)
    if expected is None:
        return UNTRUSTED
    return TRUSTED if digest(content) == expected else CHANGED


def shown(path: str) -> str:
    """A path as it can be printed on one line without steering the terminal."""
    return path if path.isprintable() else ascii(path)


def ignored_message(path: str, why: str) -> str:
    """The one-line warning for a ./.env that is not read, naming the command that trusts it."""
    folder = shown(os.path.dirname(path))
    if why == CHANGED:
        return (f"ignoring {shown(path)}: it changed since you trusted it "
                f"(run 'awsrun --trust-env-file' in {folder} to trust it as it is now)")
    return f"ignoring untrusted {shown(path)} (run 'awsrun --trust-env-file' in {folder} to use it)"


# --- the store ---------------------------------------------------------------------------------

def _problem(info: os.stat_result, folder: bool) -> Optional[str]:
    """Why a store folder or file must not decide what is trusted, or None when it is ours alone."""
    if not (stat.S_ISDIR if folder else stat.S_ISREG)(info.st_mode):
        return "it is not a plain folder" if folder else "it is not a regular file"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"it is owned by user id {info.st_uid}, not you"
    loose, fix = (0o022, "chmod 700 it") if folder else (0o077, "chmod 600 it")
    if info.st_mode & loose:
        return f"it is open to group or others (mode {stat.S_IMODE(info.st_mode):o}; {fix})"
    return None


@contextlib.contextmanager
def _open_folder(folder: str, create: bool) -> Iterator[Optional[int]]:
    """The store folder's fd (None when absent), checked private; ConfigError when it is not."""
    if create:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {shown(folder)} ({exc.strerror or exc})") from None
    try:
        fd = os.open(folder, os.O_RDONLY | _NOFOLLOW | _DIRECTORY)
    except FileNotFoundError:
        yield None
        return
    except OSError as exc:  # a symlink (ELOOP / ENOTDIR) or unreadable
        raise ConfigError(f"the trusted .env list's folder {shown(folder)} is not a plain folder "
                          f"you can read ({exc.strerror or exc})") from None
    try:
        problem = _problem(os.fstat(fd), folder=True)
        if problem:
            raise ConfigError(f"the trusted .env list's folder {shown(folder)} is refused: {problem}")
        yield fd
    finally:
        os.close(fd)


def _read_entries(folder_fd: int, path: str) -> Dict[str, str]:
    """The entries of the store file in ``folder_fd``; {} when there is none yet."""
    try:
        if os.open in os.supports_dir_fd:  # the folder checked is the folder read, whatever is renamed since
            fd = os.open(STORE_NAME, os.O_RDONLY | _NOFOLLOW, dir_fd=folder_fd)
        else:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"the trusted .env list {shown(path)} is refused: "
                          f"it is not a regular file you can read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as stream:
        problem = _problem(os.fstat(stream.fileno()), folder=False)
        if problem:
            raise ConfigError(f"the trusted .env list {shown(path)} is refused: {problem}")
        try:
            document = json.loads(stream.read())
            files = document["files"]
            if document["version"] != _VERSION or not all(
                isinstance(name, str) and os.path.isabs(name) and isinstance(value, str) and len(value) == 64
                for name, value in files.items()
            ):
                raise ValueError("not an entry")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"the trusted .env list {shown(path)} is not as awsrun writes it; "
                              f"remove it and trust your .env files again") from None
    return dict(files)


def entries(environ: Mapping[str, str]) -> Dict[str, str]:
    """Trusted absolute path -> SHA-256; ConfigError when the store cannot be trusted."""
    path = store_path(environ)
    with _open_folder(os.path.dirname(path), create=False) as folder_fd:
        return {} if folder_fd is None else _read_entries(folder_fd, path)


def load(environ: Mapping[str, str], warn: Callable[[str], None]) -> Dict[str, str]:
    """``entries``, or {} after a warning when the store cannot be trusted."""
    try:
        return entries(environ)
    except ConfigError as exc:
        warn(f"{exc}; no .env file is trusted")
        return {}


def _write_entries(folder: str, files: Mapping[str, str]) -> None:
    """Replace the store through the one writer: 0600, fsync, atomic, never through a link."""
    document = json.dumps({"version": _VERSION, "files": dict(sorted(files.items()))}, indent=1)
    write_text(os.path.join(folder, STORE_NAME), document + "\n", sync=True)  # WriteError is a ConfigError


@contextlib.contextmanager
def _editing(environ: Mapping[str, str]) -> Iterator[Dict[str, str]]:
    """The store's entries to change in place, written back when the block ends without error.

    Two runs editing at once take turns on a lock of the folder, so neither loses an entry.
    """
    path = store_path(environ)
    folder = os.path.dirname(path)
    with _open_folder(folder, create=True) as folder_fd:
        if folder_fd is None:  # removed again since it was made
            raise ConfigError(f"cannot create {shown(folder)} (it went away)")
        try:
            import fcntl

            fcntl.flock(folder_fd, fcntl.LOCK_EX)  # released when the folder fd closes
        except (ImportError, OSError):  # Windows, or a file system without locks: last writer wins
            pass
        current = _read_entries(folder_fd, path)
        before = dict(current)
        yield current
        if current != before:
            _write_entries(folder, current)


# --- reading a .env, and trusting or forgetting one as it is now -----------------------------

# A .env file holds a few settings: 1 MiB is far more, and /dev/zero cannot fill memory.
MAX_ENV_FILE_BYTES = 1 << 20


def read_bytes(path: str) -> bytes:
    """The file's bytes, read once: what is hashed for trust is exactly what is parsed.
    Read through the bounded reader: a regular file of at most MAX_ENV_FILE_BYTES."""

    def refuse(why: str) -> ConfigError:
        problem = "not a regular file" if why == NOT_REGULAR else f"larger than {size_text(MAX_ENV_FILE_BYTES)}"
        return ConfigError(f"cannot read env file {path!r}: {problem}")

    try:
        return read_bounded(path, MAX_ENV_FILE_BYTES, refuse)
    except FileNotFoundError:
        raise ConfigError(f"cannot read env file {path!r}: no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"cannot read env file {path!r}: {getattr(exc, 'strerror', None) or exc}") from None


def trust_files(environ: Mapping[str, str], paths: Sequence[str]) -> List[Tuple[str, str]]:
    """Trust each file as it is now; its absolute path and SHA-256. All are read before any is stored."""
    trusted = [(os.path.abspath(path), digest(read_bytes(path))) for path in paths]
    with _editing(environ) as store:
        store.update(trusted)
    return trusted


def forget_files(environ: Mapping[str, str], paths: Sequence[str]) -> List[Tuple[str, bool]]:
    """Stop trusting each file; its absolute path and whether it was trusted."""
    with _editing(environ) as store:
        return [(path, store.pop(path, None) is not None) for path in map(os.path.abspath, paths)]
