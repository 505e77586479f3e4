"""Which environment variables hold source credentials, and which mark a session awsrun issued.

Pure names and one predicate, shared by the cache key, the source and the child's environment.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["SOURCE_CREDENTIAL_KEYS", "ASSUMED_ROLE_VARIABLE", "ASSUMED_KEY_VARIABLE", "holds_issued_credentials"]

# Keys a .env may hold as the source credentials; they are never passed to the child.
SOURCE_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")

ASSUMED_ROLE_VARIABLE = "AWSRUN_ASSUMED_ROLE_ARN"
# The key id awsrun issued, so that a later awsrun can tell its own session from a real source.
ASSUMED_KEY_VARIABLE = "AWSRUN_ASSUMED_KEY_ID"


def holds_issued_credentials(environ: Mapping[str, str]) -> bool:
    """Whether the key variables hold a session awsrun itself issued (exec or export)."""
    key_id = environ.get("AWS_ACCESS_KEY_ID")
    return bool(key_id) and environ.get(ASSUMED_KEY_VARIABLE) == key_id and bool(environ.get(ASSUMED_ROLE_VARIABLE))
