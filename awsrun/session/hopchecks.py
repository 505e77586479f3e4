"""Checks of a planned chain against what its calls can issue: --expect, web identity.

Pure: they read the planned hops and the settings, and refuse before any STS call.
"""

from __future__ import annotations

from typing import Optional

from awsrun.config import validate
from awsrun.config.profiles import ProfileHop
from awsrun.config.settings import Settings
from awsrun.errors import ConfigError
from awsrun.session.hops import Hop

__all__ = ["check_expect", "check_web_identity"]

def check_expect(expect: int, wanted: str, final: Hop, chained: bool) -> None:
    """--expect: refuse at once a session that would end before the command does."""
    if chained and expect > validate.MAX_CHAINED_DURATION:
        raise ConfigError(
            f"{wanted} is longer than {final.label} can last: it is assumed with another role's "
            f"session, and AWS caps such sessions at {validate.MAX_CHAINED_DURATION}s; pass --refresh "
            "(renews the session while the command runs)"
        )
    duration = final.request.duration
    if expect > duration:
        raise ConfigError(
            f"{wanted} is longer than the session's {duration}s (duration from {final.origins['duration']}): "
            f"raise --duration to at least {expect} (seconds) or pass --refresh (renews the session while the command runs)"
        )


def check_web_identity(settings: Settings, profile_hop: Optional[ProfileHop], mfa_serial: Optional[str],
                        mfa_origin: str, external_id: Optional[str], external_origin: str, last: bool) -> None:
    """What AssumeRoleWithWebIdentity cannot carry is refused before any call."""
    name = profile_hop.profile if profile_hop else settings.profile
    unsupported = [(what, origin) for what, origin, value in (
        ("an MFA device", mfa_origin, mfa_serial), ("an external id", external_origin, external_id),
        ("session tags", settings.sources.get("tag"), last and settings.tags),
        ("transitive tags", settings.sources.get("transitive-tag"), last and settings.transitive_tags),
        ("a source identity", settings.sources.get("source-identity"), last and settings.source_identity),
    ) if value]
    if unsupported:
        what, origin = unsupported[0]
        raise ConfigError(
            f"profile {name!r} is assumed with web identity, which cannot carry {what} "
            f"(from {origin}): chain another role after it with --role to use it"
        )
