"""Recognise a profile whose credential_process is ``awsrun-keys get NAME``, and read NAME's key in-process.

awsrun uses this for a source profile so that the cold path does not start a second Python
for awsrun-keys: the result is the same key, read from the same keyring.
"""

from __future__ import annotations

import re
import shlex
from typing import Dict, Mapping, Optional

from awsrun.errors import InvalidValue
from awsrun.keys.store import Backend, KeyringFailure, open_store

__all__ = ["COMMAND", "keyring_name", "read_keys", "check_name", "profile_keys"]

COMMAND = "awsrun-keys"
# The first key of each way botocore would find a profile's credentials before its credential_process.
_BEFORE_PROCESS = ("role_arn", "web_identity_token_file", "sso_session", "sso_start_url", "aws_access_key_id", "login_session")


def check_name(name: str) -> str:
    """A NAME safe in a credential_process line and as a keyring item; InvalidValue otherwise."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@+=,-]{0,63}", name):
        raise InvalidValue("name", name, "use 1-64 of A-Z a-z 0-9 . _ @ + = , - starting with a letter or digit")
    return name


def profile_keys(profile: Mapping[str, object], environ: Mapping[str, str]) -> Optional[Dict[str, str]]:
    """The key botocore would get by running the profile's ``awsrun-keys get NAME``, read in-process;
    None when botocore would use something else first, or the keyring library is missing."""
    name = keyring_name(str(profile.get("credential_process") or ""))
    if not name or any(profile.get(key) for key in _BEFORE_PROCESS):
        return None
    try:
        import keyring  # noqa: F401
    except ImportError:  # awsrun-keys lives elsewhere (another environment): let botocore run it
        return None
    return read_keys(check_name(name), environ=environ)


def keyring_name(credential_process: str) -> Optional[str]:
    """NAME when ``credential_process`` is exactly ``awsrun-keys get NAME``, else None."""
    if COMMAND not in credential_process:
        return None
    try:
        parts = shlex.split(credential_process)
    except ValueError:
        return None
    return parts[2] if len(parts) == 3 and parts[:2] == [COMMAND, "get"] else None


def read_keys(name: str, backend: Optional[Backend] = None, environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the key stored as ``name``; raises KeyringFailure."""
    store = open_store(backend, environ)
    item = store.get(name)
    if item is None and store.hinted:  # the remembered backend may no longer be keyring's choice
        store = open_store(backend, environ, use_hint=False)
        item = store.get(name)
    if item is None:
        raise KeyringFailure(f"no key named {name!r} in the keyring ({store.name}); see 'awsrun-keys list'")
    return {"AWS_ACCESS_KEY_ID": item.key_id, "AWS_SECRET_ACCESS_KEY": item.secret}
