"""The AWS config and credentials files read the way botocore reads them, without botocore.

Only the cache key uses this: a cache hit must not import botocore (its configloader
alone pulls in the botocore package, several times what this costs), yet the key must
follow the profiles a run resolves. Everything that calls STS still reads the files
through botocore (sts.Source.profiles). This mirrors botocore.configloader's
raw_config_parse and build_profile_map and Session.full_config's merge of the two files.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

__all__ = ["AwsFiles", "read"]


class AwsFiles:
    """The sections of the two files, by kind. (Not a NamedTuple: making one costs a cache
    hit more than everything else this module does when the files are absent.)"""

    __slots__ = ("profiles", "sso_sessions", "services")

    def __init__(self) -> None:
        self.profiles: Dict[str, Dict[str, Any]] = {}
        self.sso_sessions: Dict[str, Dict[str, Any]] = {}
        self.services: Dict[str, Dict[str, Any]] = {}


def _raw(path: str) -> Dict[str, Dict[str, Any]]:
    """raw_config_parse: sections of key = value, an indented block parsed one level deep."""
    path = os.path.expanduser(os.path.expandvars(path))
    if not os.path.isfile(path):
        return {}
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read([path])
    except configparser.Error as exc:  # UnicodeDecodeError is a ValueError already
        raise ValueError(str(exc)) from None
    sections: Dict[str, Dict[str, Any]] = {}
    for section in parser.sections():
        values: Dict[str, Any] = {}
        for option in parser.options(section):
            value = parser.get(section, option)
            if value.startswith("\n"):
                nested = {}
                for line in value.splitlines():
                    if line.strip():
                        name, item = line.strip().split("=", 1)  # ValueError, as botocore's
                        nested[name.strip()] = item.strip()
                value = nested
            values[option] = value
        sections[section] = values
    return sections


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


def read(environ: Mapping[str, str]) -> AwsFiles:
    """The profiles of both files (the credentials file's values win), SSO sessions and
    services; ValueError or OSError for a file botocore would not read either."""
    home = environ.get("HOME") or os.path.expanduser("~")
    config = _raw(environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"))
    files = AwsFiles()
    for section, values in config.items():
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
    credentials = _raw(environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"))
    for name, values in credentials.items():
        files.profiles.setdefault(name, {}).update(values)
    return files
