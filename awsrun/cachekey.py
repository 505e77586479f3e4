"""What a cached session depends on, hashed into its cache key. Never the MFA code.

Everything is read from settings, the environment and file metadata: computing the key
must not need botocore, or a cache hit would cost as much as a miss.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional

from awsrun.environment import holds_issued_credentials

try:  # importing hashlib loads OpenSSL: a sixth of a cache hit's time. BLAKE2 is built in.
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's built-in module
    from hashlib import blake2b
from awsrun.settings import Settings

__all__ = ["cache_key", "source_fingerprint"]

# Variables through which botocore's chain picks the source principal.
_SOURCE_SELECTORS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_EC2_METADATA_DISABLED",
)
# Variables that decide which STS endpoint answers.
_ENDPOINT_SETTINGS = (
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
)


def _file_identity(path: Optional[str]) -> Optional[list]:
    """Any edit of a config, credentials or token file gives a new key."""
    if not path:
        return None
    try:
        info = os.stat(os.path.expanduser(path))
    except OSError:
        return None
    return [path, info.st_ino, info.st_size, info.st_mtime_ns]


def source_fingerprint(environ: Mapping[str, str], dotenv_credentials: Mapping[str, str]) -> Dict[str, Any]:
    """Who the source principal is, as far as can be told without loading credentials.

    Static keys are named by their key id; profiles, SSO and web identity by the files
    behind them. awsrun's own issued session in the environment is not a source.
    """
    issued = holds_issued_credentials(environ)
    selectors = {
        name: environ[name] for name in _SOURCE_SELECTORS
        if name in environ and not (issued and name == "AWS_ACCESS_KEY_ID")
    }
    home = environ.get("HOME", "~")
    return {
        "environment": selectors,
        "dotenv": {key: value for key, value in dotenv_credentials.items() if key in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE")},
        "config": _file_identity(environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config")),
        "credentials": _file_identity(
            environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials")
        ),
        "token": _file_identity(environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")),
        "uid": os.geteuid() if hasattr(os, "geteuid") else None,
    }


def cache_key(settings: Settings, environ: Mapping[str, str], dotenv_credentials: Mapping[str, str],
              region_hint: Optional[str]) -> str:
    """The hash of everything that changes the session awsrun would get from STS."""
    material = {
        "version": 1,
        "source": source_fingerprint(environ, dotenv_credentials),
        "profile": settings.profile,
        # -p P --role X replaces P's role; AWS_PROFILE=P --role X assumes X after it.
        "profile_is_source": settings.profile_is_source,
        "roles": [[role.partition, role.account, role.path_and_name] for role in settings.roles],
        "session_name": [settings.session_name, settings.given("session-name")],
        "duration": [settings.duration, settings.given("duration")],
        "external_id": settings.external_id,
        "mfa_serial": settings.mfa_serial,
        "source_identity": settings.source_identity,
        "tags": [list(pair) for pair in settings.tags],
        "transitive_tags": list(settings.transitive_tags),
        "policy": settings.policy,
        "policy_arns": list(settings.policy_arns),
        "region": region_hint,
        "endpoint": {name: environ[name] for name in _ENDPOINT_SETTINGS if name in environ},
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return blake2b(text.encode("utf-8"), digest_size=32).hexdigest()
