"""The one bounded reader for files the user names (--policy FILE, --each-role @FILE, .env files).

Anything but a regular file of at most ``limit`` bytes is refused before a byte is read:
/dev/zero would never end, a FIFO would hang, a directory is no file, a huge file would
fill memory. No botocore here; the fast paths use it.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Callable

__all__ = ["NOT_REGULAR", "TOO_LARGE", "read_bounded", "size_text"]

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


def _check(info: Any, limit: int, refuse: Callable[[str], Exception]) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise refuse(NOT_REGULAR)
    if info.st_size > limit:
        raise refuse(TOO_LARGE)
