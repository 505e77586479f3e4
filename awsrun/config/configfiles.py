"""The AWS config and credentials files read the way botocore reads them, without botocore.

The cache key and shell completion's profile names use this: a cache hit must not import
botocore (its configloader alone pulls in the botocore package, several times what this
costs), yet the key must follow the profiles a run resolves. Everything that calls STS still reads the files
through botocore (source.Source.profiles). This mirrors botocore.configloader's
raw_config_parse and build_profile_map and Session.full_config's merge of the two files.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Tuple, Union

from awsrun.files import WriteError, prune, touch, write_text

__all__ = ["ConfigValue", "Section", "AwsFiles", "read", "sections", "paths", "files_read"]

# A value of a section: text, or a nested section's ``key = value`` lines (botocore's shapes).
ConfigValue = Union[str, Dict[str, str]]
Section = Dict[str, ConfigValue]


class AwsFiles:
    """The sections of the two files, by kind. (Not a NamedTuple: making one costs a cache
    hit more than everything else this module does when the files are absent.)"""

    __slots__ = ("profiles", "sso_sessions", "services")

    def __init__(self) -> None:
        self.profiles: Dict[str, Section] = {}
        self.sso_sessions: Dict[str, Section] = {}
        self.services: Dict[str, Section] = {}


def sections(raw: bytes) -> List[Tuple[str, Section]]:
    """The sections as botocore's ``raw_config_parse`` reads them, in file order.

    Mirrors botocore.configloader (a RawConfigParser with its defaults, reading text as
    open() does; a value starting with a newline is a nested section of ``key = value``
    lines) without importing botocore, which would cost a cache hit more than Python's own
    start. Raises ValueError where botocore raises ConfigParseError.
    """
    import configparser
    import io

    parser = configparser.RawConfigParser()
    try:
        parser.read_file(io.TextIOWrapper(io.BytesIO(raw)))
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    found = []
    for name in parser.sections():
        values: Section = {}
        for key in parser.options(name):
            value = parser.get(name, key)
            if value.startswith("\n"):
                nested = {}
                for line in value.splitlines():
                    if line.strip():
                        sub, equals, item = line.strip().partition("=")
                        if not equals:
                            raise ValueError(f"[{name}] {key}: nested line without '='")
                        nested[sub.strip()] = item.strip()
                values[key] = nested
            else:
                values[key] = value
        found.append((name, values))
    return found


def _raw(path: str) -> Dict[str, Section]:
    """A file's sections by name (a missing file has none)."""
    path = os.path.expanduser(os.path.expandvars(path))
    if not os.path.isfile(path):
        return {}
    with open(path, "rb") as stream:
        return dict(sections(stream.read()))


def _named(section: str) -> Optional[str]:
    """'profile dev' -> 'dev' (botocore splits the name with shlex, for quoted names)."""
    if '"' in section or "'" in section:
        import shlex

        try:
            parts = shlex.split(section)
        except ValueError:
            return None
    else:
        parts = section.split()
    return parts[1] if len(parts) == 2 else None


def paths(environ: Mapping[str, str]) -> Tuple[str, str]:
    """The config and credentials files botocore reads: AWS_CONFIG_FILE and
    AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials (not yet expanded)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return (environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"),
            environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"))


def files_read(environ: Mapping[str, str]) -> List[Tuple[str, bool]]:
    """Each file of ``paths`` as botocore opens it (variables and ~ expanded), and whether it is there."""
    expanded = [os.path.expanduser(os.path.expandvars(path)) for path in paths(environ)]
    return [(path, os.path.isfile(path)) for path in expanded]


def read(environ: Mapping[str, str], memo_folder: Optional[str] = None) -> AwsFiles:
    """The profiles of both files (the credentials file's values win), SSO sessions and
    services, with every secret replaced by a mark of its presence, key ids and external
    ids by a hash
    (the cache key needs no more); ValueError or OSError for a file botocore would not read.

    With ``memo_folder`` (the cache's private folder) the result is kept there (MEMO_FORMAT)
    under the hash of both files' bytes, so a cache hit with unchanged files imports no
    configparser.
    """
    config_path, credentials_path = paths(environ)
    memo = _memo_path(memo_folder, config_path, credentials_path) if memo_folder else None
    if memo:
        kept = _load_memo(memo)
        if kept is not None:
            touch(memo)  # in use: not stale
            return kept
    files = AwsFiles()
    for section, values in _raw(config_path).items():
        for prefix, target in (("profile", files.profiles), ("sso-session", files.sso_sessions),
                               ("services", files.services)):
            if section.startswith(prefix):
                name = _named(section)
                if name is not None:
                    target[name] = values
                break
        else:
            if section == "default":
                files.profiles["default"] = values
    for name, values in _raw(credentials_path).items():
        files.profiles.setdefault(name, {}).update(values)
    for values in files.profiles.values():
        _scrub(values)
    if memo:
        _store_memo(memo, files)
    return files


# Values the cache key must not hold: their presence is kept, their text is not.
_SECRETS = ("aws_secret_access_key", "aws_session_token", "aws_security_token")


def _hash(data: bytes) -> str:
    try:  # built in; hashlib would load OpenSSL
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b
    return blake2b(data, digest_size=20).hexdigest()


def _scrub(values: Section) -> None:
    for key in _SECRETS:
        if key in values:
            values[key] = "<secret>"
    # Shown masked everywhere else: kept only as a hash (one that still reads as a valid value).
    for key in ("aws_access_key_id", "external_id"):
        if isinstance(values.get(key), str):
            values[key] = "hash-" + _hash(values[key].encode("utf-8"))


def _memo_path(folder: str, *paths: str) -> Optional[str]:
    parts = []
    found = False
    for path in paths:
        path = os.path.expanduser(os.path.expandvars(path))
        try:
            with open(path, "rb") as stream:
                parts.append(path.encode("utf-8", "surrogateescape") + b"\0" + stream.read())
            found = True
        except FileNotFoundError:
            parts.append(path.encode("utf-8", "surrogateescape") + b"\0-")
        except (OSError, ValueError):  # unreadable: parse (and fail) as without a memo
            return None
    if not found:  # nothing to parse, nothing worth keeping
        return None
    digest = _hash(b"\1".join(parts))
    return os.path.join(folder, f"profiles-{digest}")


# The memo is NUL-separated fields, no parser needed (json would cost a cache hit a sixth of its
# own work to import): MEMO_FORMAT, then one record per section ("[", table, name), per value
# ("=", table, name, key, value), per nested value (">", table, name, key, subkey, value) and per
# empty nested section ("{", table, name, key), in file order. A NUL in a name or value (which
# no AWS config has any use for) leaves the files without a memo: they are parsed each run.
MEMO_FORMAT = "awsrun-profiles/2"
_MEMO_TABLES = ("profiles", "sso_sessions", "services")
_MEMO_FIELDS = {"[": 2, "=": 4, ">": 5, "{": 3}  # fields after the kind


def _load_memo(path: str) -> Optional[AwsFiles]:
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or (
                hasattr(os, "geteuid") and info.st_uid != os.geteuid()):
            return None
        with os.fdopen(fd, "rb") as stream:
            fd = -1
            return _memo_files(stream.read(1 << 20).decode("utf-8").split("\0"))
    except (OSError, ValueError, KeyError, TypeError):  # unreadable or not as _memo_text writes it
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def _memo_files(fields: List[str]) -> AwsFiles:
    """The AwsFiles a memo's fields describe; ValueError (or KeyError) for anything else."""
    if fields[0] != MEMO_FORMAT:
        raise ValueError("not a memo of this format")
    files = AwsFiles()
    at = 1
    while at < len(fields):
        kind = fields[at]
        record = fields[at + 1:at + 1 + _MEMO_FIELDS[kind]]
        if len(record) != _MEMO_FIELDS[kind] or record[0] not in _MEMO_TABLES:
            raise ValueError("a truncated or unknown record")
        at += 1 + len(record)
        table: Dict[str, Section] = getattr(files, record[0])
        if kind == "[":
            table[record[1]] = {}
            continue
        section = table[record[1]]
        if kind == "=":
            section[record[2]] = record[3]
            continue
        nested = section.setdefault(record[2], {})
        if not isinstance(nested, dict):
            raise ValueError("a key both plain and nested")
        if kind == ">":
            nested[record[3]] = record[4]
    return files


def _memo_text(files: AwsFiles) -> Optional[str]:
    """The memo of ``files`` (see MEMO_FORMAT), or None when a NUL would make it ambiguous."""
    fields = [MEMO_FORMAT]
    for table in _MEMO_TABLES:
        for name, section in getattr(files, table).items():
            fields += ["[", table, name]
            for key, value in section.items():
                if isinstance(value, str):
                    fields += ["=", table, name, key, value]
                elif not value:
                    fields += ["{", table, name, key]
                for subkey, item in (value.items() if isinstance(value, dict) else ()):
                    fields += [">", table, name, key, subkey, item]
    return None if any("\0" in field for field in fields) else "\0".join(fields)


def _store_memo(path: str, files: AwsFiles) -> None:
    """Written as the cache writes (files.write_text: 0600, atomic, never through a link)."""
    text = _memo_text(files)
    if text is None:
        return
    try:
        write_text(path, text)
    except WriteError:
        return
    prune(os.path.dirname(path), "profiles-", os.path.basename(path))
