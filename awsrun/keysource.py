"""Recognise a profile whose credential_process is ``awsrun-keys get NAME``, and read NAME's key in-process.

awsrun uses this for a source profile so that the cold path does not start a second Python
for awsrun-keys: the result is the same key, read from the same keyring.
"""

from __future__ import annotations

import shlex
from typing import Any, Dict, Optional

__all__ = ["COMMAND", "keyring_name", "read_keys"]

COMMAND = "awsrun-keys"


def keyring_name(credential_process: str) -> Optional[str]:
    """NAME when ``credential_process`` is exactly ``awsrun-keys get NAME``, else None."""
    if COMMAND not in credential_process:
        return None
    try:
        parts = shlex.split(credential_process)
    except ValueError:
        return None
    return parts[2] if len(parts) == 3 and parts[:2] == [COMMAND, "get"] else None


def read_keys(name: str, backend: Any = None) -> Dict[str, str]:
    """AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the key stored as ``name``; raises KeyringFailure."""
    from awsrun.keys.store import KeyringFailure, open_store

    store = open_store(backend)
    item = store.get(name)
    if item is None:
        raise KeyringFailure(f"no key named {name!r} in the keyring ({store.name}); see 'awsrun-keys list'")
    return {"AWS_ACCESS_KEY_ID": item.key_id, "AWS_SECRET_ACCESS_KEY": item.secret}
