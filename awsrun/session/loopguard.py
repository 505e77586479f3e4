"""Refuse, at once, to be one's own source: ``credential_process = awsrun ...`` loops.

With ``[profile cp] credential_process = awsrun --role ROLE --credential-process`` and
``AWS_PROFILE=cp``, the awsrun the SDK starts inherits ``AWS_PROFILE=cp`` and asks botocore
for that profile's credentials, which starts awsrun again: without end, or stuck on the
cache lock its own parent holds. Before it lets botocore load a source, awsrun adds the
profile it asks for to a variable its credential_process children inherit (the AWS CLI
guards its own recursion the same way); an awsrun that finds its own profile there is
such a child and fails before it takes any lock. A run with the same profile and the
same environment can only make the same request again, so this never stops a chain
that could finish.
"""

from __future__ import annotations

import os
from typing import List, Mapping, Optional

from awsrun.errors import ConfigError

__all__ = ["MARKER", "LOOP", "source_profile", "check", "mark"]

# AWSRUN_*: scrubbed from every command awsrun starts, so an awsrun run *by* the command
# (not by botocore) starts clean.
MARKER = "AWSRUN_SOURCE_PROFILES"
LOOP = "credential_process loop"


def source_profile(profile: Optional[str], environ: Mapping[str, str], dotenv: Mapping[str, str]) -> str:
    """The profile botocore is asked for: -p's, else the environment's (as botocore reads it)."""
    return (profile or environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE")
            or dotenv.get("AWS_PROFILE") or "default")


def _chain(environ: Mapping[str, str]) -> List[str]:
    return [name for name in environ.get(MARKER, "").split("\n") if name]


def check(name: str, environ: Mapping[str, str]) -> None:
    """Fail if an awsrun up the process tree is already asking botocore for ``name``."""
    if name in _chain(environ):
        raise ConfigError(
            f"{LOOP}: awsrun is running as the credential_process of profile {name!r} and would "
            f"take its own source credentials from that same profile; name the source with "
            f"-p SOURCE (a profile with keys, SSO or another source)"
        )


def mark(name: str, environ: Mapping[str, str]) -> None:
    """Tell credential_process children that this process asks botocore for ``name``.

    Only the real process environment is changed (botocore's children inherit it); the
    command's environment is built from a copy taken before and drops every AWSRUN_*.
    """
    if environ is os.environ and name not in _chain(environ):
        os.environ[MARKER] = "\n".join(_chain(environ) + [name])


def innermost(message: str) -> Optional[str]:
    """From a credential_process failure botocore reports, the nested loop error, if any."""
    if LOOP not in message:
        return None
    return " ".join(message[message.index(LOOP):].split())
