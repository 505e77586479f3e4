"""Credentials as text for a shell to evaluate, or for a credential_process consumer.

Pure functions: they return the text; the caller prints it to stdout. These are the only
places where awsrun writes secrets, and only because the user asked for them.
"""

from __future__ import annotations

import json
from typing import Dict, Iterable, List, Mapping, Optional

from awsrun.credentials import Credentials, iso8601
from awsrun.environment import ASSUMED_KEY_VARIABLE, ASSUMED_ROLE_VARIABLE, REMOVED, REMOVED_PREFIXES

__all__ = ["FORMATS", "export_lines", "unset_lines", "credential_process", "exported_names"]


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# PowerShell ends a single-quoted string at any of these; doubling one escapes it.
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


def _powershell_quote(value: str) -> str:
    return "'" + "".join(c + c if c in _POWERSHELL_QUOTES else c for c in value) + "'"


def _dotenv_quote(value: str) -> str:
    """A value python-dotenv reads back unchanged (it decodes \\\\ and \\' in single quotes)."""
    if value.endswith("\\"):
        # Its parser takes a final backslash and the closing quote for an escaped quote.
        raise ValueError("a credential value ending in a backslash, which dotenv format cannot hold")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# format -> (set line, unset line or None)
FORMATS: Dict[str, tuple] = {
    "sh": (lambda n, v: f"export {n}={_sh_quote(v)}", lambda n: f"unset {n}"),
    # fish's `set -e` of an unset name fails with 4; `or true` keeps `| source; and ...` working.
    "fish": (lambda n, v: f"set -gx {n} {_fish_quote(v)}", lambda n: f"set -e {n}; or true"),
    "powershell": (
        lambda n, v: f"$env:{n} = {_powershell_quote(v)}",
        lambda n: f"Remove-Item Env:{n} -ErrorAction SilentlyContinue",
    ),
    "dotenv": (lambda n, v: f"{n}={_dotenv_quote(v)}", None),
}


def exported_names() -> List[str]:
    """Every variable an export sets, in the order it sets them."""
    return [
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
        "AWS_REGION", "AWS_DEFAULT_REGION", ASSUMED_ROLE_VARIABLE, ASSUMED_KEY_VARIABLE,
    ]


def _values(credentials: Credentials, region: str) -> Dict[str, str]:
    values = [
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token,
        iso8601(credentials.expiration), region, region, credentials.assumed_role_arn, credentials.access_key_id,
    ]
    return dict(zip(exported_names(), values))


def _to_remove(environ: Mapping[str, str], keep: Iterable[str]) -> List[str]:
    """The credential variables exec mode would remove: the named list, and prefixed ones present."""
    keep = set(keep)
    present = {name for name in environ if name.startswith(REMOVED_PREFIXES[0])}
    return sorted((set(REMOVED) | present) - keep)


def export_lines(credentials: Credentials, region: str, fmt: str, environ: Mapping[str, str]) -> str:
    """Lines that give a shell the role's credentials and region, and drop other credentials.

    The shared-credentials file and instance metadata are left alone: they are where the next
    switch finds the user's original source again.
    """
    set_line, unset_line = FORMATS[fmt]
    values = _values(credentials, region)
    lines = [unset_line(name) for name in _to_remove(environ, values)] if unset_line else []
    lines += [set_line(name, value) for name, value in values.items()]
    return "\n".join(lines) + "\n"


def unset_lines(fmt: str) -> str:
    """Lines that remove everything an export set."""
    _, unset_line = FORMATS[fmt]
    if unset_line is None:
        raise ValueError(fmt)
    return "\n".join(unset_line(name) for name in exported_names()) + "\n"


def credential_process(credentials: Credentials) -> str:
    """The JSON the AWS SDKs expect from a credential_process command."""
    document: Dict[str, Optional[object]] = {
        "Version": 1,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": iso8601(credentials.expiration),
    }
    return json.dumps(document) + "\n"


