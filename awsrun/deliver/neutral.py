"""The command's AWS config file: a copy of the user's without any way to credentials.

Every section keeps its other settings (region, output, endpoints, ``[services]``
sections, retries, CA bundle, ...); keys, ``credential_process``, SSO, ``role_arn`` and the
like are dropped, and ``[sso-session]`` sections go whole; so does ``aws_account_id``
(the command's account is the role's, in AWS_ACCOUNT_ID). The copy holds no secret, so it
is written once per distinct config into awsrun's private cache folder, named by a hash of
the user's file, and reused: a cache hit only reads and hashes the file, never parses it.
Shared by exec mode, --refresh and --each-role (runner names the copy once per run).
"""

from __future__ import annotations

import os
import re
import stat
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

from awsrun.config.configfiles import sections as _sections
from awsrun.files import NOT_REGULAR, WriteError, prune, read_bounded, size_text, touch, write_text
from awsrun.session.cache import _folder_problem

__all__ = ["CREDENTIAL_KEYS", "source_path", "neutral_text", "config_file"]

# Settings through which an SDK would find credentials (or run something that yields them).
CREDENTIAL_KEYS = frozenset({
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
    "aws_credential_expiration", "role_arn", "source_profile", "credential_source", "credential_process",
    "web_identity_token_file", "role_session_name", "external_id", "mfa_serial", "duration_seconds",
    "login_session",
    # The account SDKs pair with the keys: the command's keys are the role's, whose account is in
    # AWS_ACCOUNT_ID; any other would send its calls to another account's endpoints.
    "aws_account_id",
})
# Every SDK setting is spelled so; anything else is dropped rather than risk how it would be re-read.
_SETTING = re.compile(r"[a-z0-9][a-z0-9_.\-]*\Z")
_VERSION = b"awsrun neutral config 2\0"  # change when the output for the same input changes
# An AWS config file of hundreds of profiles is a few hundred KiB; /dev/zero must not fill memory.
MAX_CONFIG_BYTES = 16 << 20

Section = Dict[str, Union[str, Dict[str, str]]]


def source_path(environ: Mapping[str, str]) -> str:
    """The config file the command's SDKs would read: $AWS_CONFIG_FILE, else ~/.aws/config."""
    path = environ.get("AWS_CONFIG_FILE") or os.path.join("~", ".aws", "config")
    if path.startswith("~") and environ.get("HOME"):
        path = environ["HOME"] + path[1:]
    return os.path.expanduser(os.path.expandvars(path))


def _kept(key: str) -> bool:
    return bool(_SETTING.match(key)) and key not in CREDENTIAL_KEYS and not key.startswith("sso_")


def _parse(raw: bytes) -> List[Tuple[str, Section]]:
    """The sections as botocore reads them (awsrun.config.configfiles mirrors its parser)."""
    return _sections(raw)


def _profile_name(section: str) -> Optional[str]:
    """The profile a section defines for botocore, or None."""
    if section == "default":
        return "default"
    if not section.startswith("profile"):
        return None
    import shlex

    try:
        parts = shlex.split(section)
    except ValueError:
        return None
    return parts[1] if len(parts) == 2 else None


def _neutral(values: Section) -> Section:
    kept: Section = {}
    for key, value in values.items():
        if not _kept(key):
            continue
        if isinstance(value, dict):
            nested = {sub: item for sub, item in value.items() if _kept(sub)}
            if nested:
                kept[key] = nested
        elif "\n" not in value and "\r" not in value:
            kept[key] = value
    return kept


def _render(sections: List[Tuple[str, Section]]) -> str:
    lines = []
    for name, values in sections:
        lines.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, dict):
                lines.append(f"{key} =")
                lines += [f"    {sub} = {item}" for sub, item in value.items()]
            else:
                lines.append(f"{key} = {value}")
        lines.append("")
    return "\n".join(lines)


def neutral_text(raw: bytes, profile: Optional[str] = None) -> str:
    """The neutral copy of a config file's bytes.

    ``profile``: the profile awsrun ran as; its settings become the copy's [default], since
    the command runs without AWS_PROFILE. Raises ValueError for a file botocore would refuse.
    """
    sections = [(name, values) for name, values in _parse(raw) if not name.startswith("sso-session")]
    chosen = next((values for name, values in sections if profile and _profile_name(name) == profile), None)
    if chosen is not None and profile != "default":
        sections = [("default", chosen)] + [(n, v) for n, v in sections if _profile_name(n) != "default"]
    wanted = [(name, _neutral(values)) for name, values in sections]
    text = _render(wanted)
    # Whatever the values held, the copy must read back as exactly these settings.
    if _parse(text.encode(_encoding())) != wanted:
        raise ValueError("a section name or value would not read back as itself")
    return text


def _encoding() -> str:
    """The encoding open() reads text files with, as botocore and the command will."""
    import locale

    return locale.getpreferredencoding(False)


def _digest(raw: bytes, profile: Optional[str]) -> str:
    try:  # hashlib loads OpenSSL: too slow for a cache hit; BLAKE2 is built in
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    name = (profile or "").encode("utf-8", "surrogateescape")
    return blake2b(_VERSION + name + b"\0" + raw, digest_size=20).hexdigest()


def _is_ours(path: str) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and not info.st_mode & 0o077 and (
        not hasattr(os, "geteuid") or info.st_uid == os.geteuid())


def _write(path: str, text: str) -> None:
    """0600, fsync, atomic, never through a link (files.write_text); raises files.WriteError."""
    write_text(path, text, encoding=_encoding(), sync=True)


def config_file(source: str, folder: str, profile: Optional[str], warn: Callable[[str], None],
                write: bool = True) -> str:
    """The path of the neutral copy of config file ``source`` in ``folder``, written if not there yet.

    ``write=False`` (--dry-run) only names it. Where no safe copy can be had, os.devnull:
    the command then has no config file at all, which is still no way to credentials.
    """
    def refuse(why: str) -> Exception:  # not a regular file (a FIFO would hang): botocore skips it too
        return FileNotFoundError(why) if why == NOT_REGULAR else ValueError(f"larger than {size_text(MAX_CONFIG_BYTES)}")

    try:
        raw = read_bounded(source, MAX_CONFIG_BYTES, refuse)
    except OSError:  # missing or unreadable: botocore reads it as empty
        raw = b""
    except ValueError as exc:
        warn(f"the command gets no AWS config file: cannot read {source} ({exc})")
        return os.devnull
    problem = _folder_problem(folder) if write else None
    if problem:
        warn(f"the command gets no AWS config file: cannot keep its copy in {folder}: {problem}")
        return os.devnull
    path = os.path.join(folder, f"config-{_digest(raw, profile)}")
    if not write:
        return path
    if _is_ours(path):
        touch(path)  # in use again: not stale
        return path
    try:
        _write(path, neutral_text(raw, profile))
        prune(folder, "config-", os.path.basename(path))
    except ValueError as exc:
        warn(f"the command gets no AWS config file: cannot read {source} ({exc})")
        return os.devnull
    except WriteError as exc:
        warn(f"the command gets no AWS config file: cannot write its copy in {folder} ({exc.reason})")
        return os.devnull
    return path
