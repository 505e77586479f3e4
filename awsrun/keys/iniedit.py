"""A careful editor for the AWS config and credentials files: change one key, keep every other byte.

Reading values is botocore's job; this module only finds the lines to change, the way
configparser (which botocore uses) reads them: a section header or a key starts in the
first column; an indented line continues the value above it (botocore's nested
sub-sections, e.g. ``s3 =`` then ``  max_concurrent_requests = 20``); # and ; start
comments. Line endings (LF or CRLF), comments, order and a missing final newline are kept.
Writing goes through awsrun.files: a temporary file beside the target, then a rename,
permissions kept, never through a link at the target.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

from awsrun.errors import ConfigError
from awsrun.files import PRIVATE, NewFile, WriteError, write_bytes

__all__ = ["Section", "find", "set_value", "remove_keys", "key_of", "Edit", "write_all"]

_HEADER = re.compile(r"\[(?P<header>.+)\]")


class Section(NamedTuple):
    """Lines [start, end) of one section; start is the header line."""

    start: int
    end: int


def _lines(text: str) -> List[str]:
    return text.splitlines(keepends=True)


def _newline(lines: Sequence[str]) -> str:
    for line in lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
    return "\n"


def _header(line: str) -> Optional[str]:
    if line[:1] in (" ", "\t"):
        return None
    match = _HEADER.match(line.strip())
    return match.group("header") if match else None


def key_of(line: str) -> Optional[str]:
    """The (lower-cased) key a first-column ``key = value`` line sets, else None."""
    if not line.strip() or line[:1] in (" ", "\t", "#", ";", "["):
        return None
    match = re.match(r"([^=:]*?)\s*[=:]", line)
    return match.group(1).strip().lower() if match else None


def _matches(header: str, kind: str, name: str) -> bool:
    """Whether a header names profile ``name``: [profile NAME] or [default] in config, [NAME] in credentials."""
    if kind == "credentials":
        return header == name
    if header == "default":
        return name == "default"
    if not header.startswith("profile"):
        return False
    try:
        parts = shlex.split(header)  # as botocore splits it
    except ValueError:
        return False
    return len(parts) == 2 and parts[0] == "profile" and parts[1] == name


def find(text: str, kind: str, name: str, path: str = "") -> Optional[Section]:
    """The section of profile ``name``; a profile given twice is refused (botocore cannot read it either)."""
    lines = _lines(text)
    starts = [index for index, line in enumerate(lines) if _header(line) is not None]
    found = [index for index in starts if _matches(_header(lines[index]) or "", kind, name)]
    if kind == "config" and name == "default" and len(found) == 2:
        # [default] and [profile default] may both exist; botocore merges them, we edit [default].
        found = [index for index in found if _header(lines[index]) == "default"] or found[:1]
    if len(found) > 1:
        numbers = " and ".join(str(index + 1) for index in found)
        raise ConfigError(f"profile {name!r} appears more than once in {path or kind} (lines {numbers}); merge them first")
    if not found:
        return None
    following = [index for index in starts if index > found[0]]
    return Section(found[0], following[0] if following else len(lines))


def _key_lines(lines: Sequence[str], section: Section, keys: Iterable[str]) -> List[Tuple[int, int]]:
    """Spans [first, last) of each wanted key's line and its indented continuation lines."""
    wanted = {key.lower() for key in keys}
    spans = []
    index = section.start + 1
    while index < section.end:
        key = key_of(lines[index])
        end = index + 1
        while end < section.end and lines[end][:1] in (" ", "\t") and lines[end].strip():
            end += 1
        if key in wanted:
            spans.append((index, end))
        index = end
    return spans


def _header_line(kind: str, name: str) -> str:
    if kind == "credentials" or name == "default":
        return f"[{name}]"
    return f"[profile {name}]"


def set_value(text: str, kind: str, name: str, key: str, value: str, path: str = "") -> str:
    """``key = value`` in the section of ``name``: replacing the key's line, or after the section's
    last setting, or in a new section at the end of the file."""
    lines = _lines(text)
    newline = _newline(lines)
    section = find(text, kind, name, path)
    setting = f"{key} = {value}"
    if section is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        gap = [newline] if lines and lines[-1].strip() else []
        return "".join([*lines, *gap, _header_line(kind, name) + newline, setting + newline])
    spans = _key_lines(lines, section, [key])
    if spans:
        first, last = spans[0]
        ending = lines[last - 1][len(lines[last - 1].rstrip("\r\n")):] or ""
        lines[first:last] = [setting + ending]
        for first, last in reversed(spans[1:]):  # configparser keeps the last; leave one
            del lines[first:last]
        return "".join(lines)
    # After the last non-blank, non-comment line of the section, so trailing comments and
    # blank lines (which usually belong to the next section) stay where they are.
    at = section.start + 1
    for index in range(section.start + 1, section.end):
        if lines[index].strip() and lines[index].lstrip()[:1] not in ("#", ";"):
            at = index + 1
    if not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += newline
        return "".join([*lines[:at], setting, *lines[at:]])  # the file had no final newline
    return "".join([*lines[:at], setting + newline, *lines[at:]])


def remove_keys(text: str, kind: str, name: str, keys: Iterable[str], path: str = "",
                drop_emptied: bool = False) -> str:
    """The text without ``keys`` (and their continuation lines) in the section of ``name``.

    ``drop_emptied``: when those were the section's only keys, its header goes too (with the
    blank lines it held; a comment it held stays). A section that keeps a key, or that had
    none of ``keys``, stays.
    """
    lines = _lines(text)
    section = find(text, kind, name, path)
    if section is None:
        return text
    spans = _key_lines(lines, section, keys)
    for first, last in reversed(spans):
        del lines[first:last]
    if drop_emptied and spans:
        end = section.end - sum(last - first for first, last in spans)
        _drop_if_empty(lines, Section(section.start, end))
    return "".join(lines)


def _drop_if_empty(lines: List[str], section: Section) -> None:
    """Remove a section that holds no setting: all of it when only blank lines are left, else
    just its header (its comments stay, as every comment does)."""
    body = lines[section.start + 1:section.end]
    if any(line.strip() and line.lstrip()[:1] not in ("#", ";") for line in body):
        return
    if any(line.strip() for line in body):
        del lines[section.start]
        return
    start = section.start
    if section.end == len(lines):  # the last section: the blank lines that led to it go too
        while start > 0 and not lines[start - 1].strip():
            start -= 1
    del lines[start:section.end]  # the line before a header always ended: the file still does


def value_lines(text: str, kind: str, name: str, key: str) -> List[str]:
    """The raw lines that set ``key`` in the section of ``name`` (for tests and messages)."""
    lines = _lines(text)
    section = find(text, kind, name)
    if section is None:
        return []
    return ["".join(lines[first:last]) for first, last in _key_lines(lines, section, [key])]


def read(path: str) -> str:
    """A file's text exactly (no newline translation); '' when it does not exist."""
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            return stream.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}") from None


class Edit(NamedTuple):
    """New text for a file; ``sensitive`` when the old text held a secret (so no backup is kept)."""

    path: str
    old: str
    new: str
    sensitive: bool = False


def write_all(edits: Sequence[Edit]) -> List[str]:
    """Apply every edit, or none: each file replaced atomically, restored from its old bytes if a
    later one fails. Returns the backups kept (FILE.awsrun-keys.bak, one per edited file that
    held no secret)."""
    changed = [edit for edit in edits if edit.new != edit.old]
    staged: List[Tuple[Edit, str, NewFile]] = []  # (edit, real path, the new file not yet in place)
    replaced: List[Tuple[str, str, Optional[bytes], int]] = []  # (real path, backup, old bytes, mode)
    try:
        for edit in changed:
            real = os.path.realpath(edit.path)  # a symlinked dotfile keeps its link
            staged.append((edit, real, _stage(real, edit.new)))
        for edit, real, new in staged:
            old, mode = _current(real)
            backup = ""
            if old is not None:
                backup = real + ".awsrun-keys.bak"
                write_bytes(backup, old, mode, sync=True, exact=True)
            new.commit()
            replaced.append((real, backup, old, mode))
    except (OSError, WriteError) as exc:
        for real, backup, old, mode in reversed(replaced):
            _restore(real, backup, old, mode)
        for _, _, new in staged:
            new.discard()
        what = str(exc) if isinstance(exc, WriteError) else f"could not write {exc.filename or 'the AWS config'}: {exc.strerror or exc}"
        raise ConfigError(f"{what}; nothing was changed") from None
    kept = []
    for (edit, _, _), (real, backup, _, _) in zip(staged, replaced):
        if not backup:
            continue
        if edit.sensitive:  # a backup would be one more plaintext copy of the key
            os.unlink(backup)
        else:
            kept.append(backup)
    return kept


def _current(real: str) -> Tuple[Optional[bytes], int]:
    """A file's bytes (None when absent) and the permissions its replacement keeps."""
    try:
        with open(real, "rb") as stream:
            return stream.read(), stat.S_IMODE(os.fstat(stream.fileno()).st_mode)
    except FileNotFoundError:
        return None, PRIVATE


def _stage(real: str, text: str) -> NewFile:
    """The new text in a temporary file beside ``real``, with ``real``'s permissions (0600 if new)."""
    folder = os.path.dirname(real) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.lstat(real).st_mode)
    except FileNotFoundError:
        mode = PRIVATE
    new = NewFile(real, mode, sync=True, exact=True)  # refuses anything but a regular file
    try:
        new.stream.write(text.encode("utf-8"))
    except BaseException:
        new.discard()
        raise
    return new


def _restore(real: str, backup: str, old: Optional[bytes], mode: int) -> None:
    """Undo one replaced file (best effort: the error being reported is the first one)."""
    try:
        if old is None:
            os.unlink(real)
        else:
            write_bytes(real, old, mode, sync=True, exact=True)
            if backup:
                os.unlink(backup)
    except (OSError, WriteError):
        pass
