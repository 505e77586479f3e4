"""Credentials as text for a shell to evaluate, or for a credential_process consumer.

Pure functions: they return the text; the caller prints it to stdout. These are the only
places where awsrun writes secrets, and only because the user asked for them.
"""

from __future__ import annotations

import json
from typing import Dict, Iterable, List, Mapping, Optional

from awsrun.credentials import Credentials, iso8601
from awsrun.config.variables import ASSUMED_KEY_VARIABLE, ASSUMED_ROLE_VARIABLE
from awsrun.deliver.environment import REMOVED, REMOVED_PREFIXES

__all__ = ["FORMATS", "SAVED_VARIABLE", "export_lines", "unset_lines", "credential_process", "exported_names", "shell_names"]

# What the shell had before --export, of the settings it replaced (never a secret), as JSON
# {name: value}; --unset gives them back and removes it.
SAVED_VARIABLE = "AWSRUN_EXPORT_SAVED"
# The settings an export replaces that --unset gives back: the region and account id it sets, and the
# removed variables that name a profile, file or endpoint. Keys, tokens and the variables
# that hold them are not here: what --export replaced of those stays gone.
RESTORED = (
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCOUNT_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SDK_LOAD_CONFIG",
    "AWS_CREDENTIAL_FILE", "AWS_CREDENTIAL_PROFILES_FILE", "BOTO_CONFIG", "BOTO_PATH",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)


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
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCOUNT_ID", ASSUMED_ROLE_VARIABLE, ASSUMED_KEY_VARIABLE,
    ]


def _values(credentials: Credentials, region: str) -> Dict[str, str]:
    values = [
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token,
        iso8601(credentials.expiration), region, region, credentials.account_id, credentials.assumed_role_arn,
        credentials.access_key_id,
    ]
    # No account id (an ARN without one): none is set, and an inherited one is unset.
    return {name: value for name, value in zip(exported_names(), values) if value is not None}


def shell_names(names: Iterable[str]) -> List[str]:
    """The names that are shell variable names ([A-Za-z_][A-Za-z0-9_]*), in order.

    Every name written as shell code passes here: a name from the environment is anyone's
    text (``AWS_BEARER_TOKEN_X;touch${IFS}/tmp/p;#``), and eval would run it. No shell can
    hold a variable of another name, so there is nothing else to unset.
    """
    import re

    return [name for name in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name, re.ASCII)]


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
    if unset_line:  # a format --unset can undo records what it will give back
        values[SAVED_VARIABLE] = json.dumps(_saved(environ, values), sort_keys=True, separators=(",", ":"))
    lines = [unset_line(name) for name in shell_names(_to_remove(environ, values))] if unset_line else []
    lines += [set_line(name, values[name]) for name in shell_names(values)]
    return "\n".join(lines) + "\n"


def _saved(environ: Mapping[str, str], values: Mapping[str, str]) -> Dict[str, str]:
    """The settings this export replaces, as the shell had them before the first export: a
    shell that switches roles keeps the record of the export it switched from."""
    if SAVED_VARIABLE in environ:
        try:
            return _restorable(json.loads(environ[SAVED_VARIABLE]))
        except ValueError:  # not ours to trust; record the shell as it is now
            pass
    replaced = set(values) | set(_to_remove(environ, values))
    return _restorable({name: environ[name] for name in replaced if name in environ})


def _restorable(saved: object) -> Dict[str, str]:
    """Only the named settings, as text: a record is never a way to set anything else."""
    if not isinstance(saved, dict):
        return {}
    return {name: value for name, value in saved.items() if name in RESTORED and isinstance(value, str)}


def unset_lines(fmt: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """Lines that remove everything an export set and give back the settings it replaced
    (recorded in ``environ``'s SAVED_VARIABLE by that export)."""
    set_line, unset_line = FORMATS[fmt]
    if unset_line is None:
        raise ValueError(fmt)
    try:
        saved = _restorable(json.loads((environ or {}).get(SAVED_VARIABLE, "{}")))
    except ValueError:
        saved = {}
    lines = [unset_line(name) for name in shell_names((*exported_names(), SAVED_VARIABLE))]
    lines += [set_line(name, saved[name]) for name in shell_names(RESTORED) if name in saved]
    return "\n".join(lines) + "\n"


def credential_process(credentials: Credentials) -> str:
    """The JSON the AWS SDKs expect from a credential_process command."""
    document: Dict[str, Optional[object]] = {
        "Version": 1,
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": iso8601(credentials.expiration),
    }
    if credentials.account_id:
        document["AccountId"] = credentials.account_id
    return json.dumps(document) + "\n"


