"""Plan the roles to assume, hop by hop, from --role and the profile chain: pure, no botocore.

``plan`` merges the settings with a profile chain and checks what AWS would refuse
(hopchecks.py); walk.py loads the source and assumes the planned hops through STS.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

from awsrun.config import validate
from awsrun.config.profiles import ProfileChain, ProfileHop
from awsrun.config.settings import Settings
from awsrun.errors import ConfigError, InvalidValue, UsageError
from awsrun.session import hopchecks
from awsrun.session.hops import AssumeRoleRequest, Hop

__all__ = ["Hop", "plan", "checked", "without_mfa"]

T = TypeVar("T")


def checked(profile: str, check: Callable[[str], T], value: str) -> T:
    """``check(value)``, its refusal told as the profile's."""
    try:
        return check(value)
    except InvalidValue as exc:
        raise ConfigError(f"profile {profile!r}: {exc}") from None


def _pick(name: str, settings: Settings, flag_value: Optional[T], profile_hop: Optional[ProfileHop],
          profile_value: Optional[str], check: Callable[[str], T], flag_wins: bool) -> Tuple[Optional[T], str]:
    """A hop's value: the user's if it applies to this hop, else the profile's, else the default."""
    if flag_wins and settings.given(name):
        return flag_value, settings.sources[name]
    if profile_hop is not None and profile_value:
        return checked(profile_hop.profile, check, profile_value), f"profile {profile_hop.profile}"
    if flag_value is None:
        return None, "unset"
    return flag_value, settings.sources.get(name, "default")


# The options of an AssumeRole call that AssumeRoot has no place for.
ROLE_SESSION_OPTIONS = ("policy", "policy-arn", "tag", "transitive-tag", "source-identity", "external-id")


def plan(settings: Settings, chain: Optional[ProfileChain], partition: str) -> List[Hop]:
    """The roles to assume in order; the last hop's session is what the command gets."""
    profile_hops: List[Optional[ProfileHop]] = list(chain.hops) if chain else []
    web_identity = chain.source.token_file if chain and chain.source.web_identity else None
    roles: List[Tuple[str, str]] = []
    if settings.roles:
        # --role takes the place of the named profile's own role_arn; its sources stay below
        # it. Of the profile's values only the MFA device (the person's, not the role's) carries
        # over to the first --role; so does a source-only profile's device. A profile that is
        # the source (AWS_PROFILE with --role, as in the AWS CLI) keeps its role, and so does a
        # web identity profile: its token is for that role only.
        device: Optional[str] = None
        keeps_role = settings.profile_is_source or (web_identity is not None and len(profile_hops) == 1)
        if chain and chain.hops and chain.hops[-1].profile == settings.profile and not keeps_role:
            device = profile_hops.pop().mfa_serial  # type: ignore[union-attr]
        elif chain and not chain.hops:
            device = chain.source.mfa_serial
        taken_over = ProfileHop(profile=settings.profile or "", role_arn="", mfa_serial=device) if device else None
        roles = [(hop.role_arn, f"profile {hop.profile}") for hop in profile_hops]  # type: ignore[union-attr]
        roles += [(role.arn(partition), settings.sources["role"]) for role in settings.roles]
        profile_hops += [taken_over] + [None] * (len(settings.roles) - 1)
    else:
        roles = [(hop.role_arn, f"profile {hop.profile}") for hop in profile_hops]  # type: ignore[union-attr]
    if not roles and settings.root:  # AssumeRoot straight from the source: no role before it
        unused = [f"--{name}" for name in ROLE_SESSION_OPTIONS if settings.given(name)]
        if unused:  # a session policy or tag the user counts on would silently not apply
            raise UsageError(f"{', '.join(unused)} shape{'s' if len(unused) == 1 else ''} the role sessions before "
                             "--assume-root, and this run assumes no role: the root session takes none of them; "
                             "drop " + ("it" if len(unused) == 1 else "them") + " or add --role ARN")
        return []
    if not roles and chain is not None:
        raise UsageError(
            f"profile {settings.profile!r} has no role_arn: pass --role ARN to assume a role with its credentials"
        )
    if not roles:
        raise UsageError("no role given: pass --role ARN, set AWSRUN_ROLE, or --profile a profile with role_arn")

    hops = []
    count = len(roles)
    for index, ((role_arn, role_origin), profile_hop) in enumerate(zip(roles, profile_hops)):
        first, last = index == 0, index == count - 1
        label = f"role {index + 1} of {count}"
        if profile_hop is not None:
            role = checked(profile_hop.profile, validate.role, role_arn)
            if role.partition is None:
                raise ConfigError(
                    f"profile {profile_hop.profile!r}: role_arn {role_arn!r} must be a full ARN, "
                    "arn:PARTITION:iam::ACCOUNT:role/NAME"
                )
            if role.partition != partition:
                raise ConfigError(f"profile {profile_hop.profile!r}: role {role_arn} is not in partition {partition} of the region")
        session_name, session_origin = _pick(
            "session-name", settings, settings.session_name, profile_hop,
            profile_hop and profile_hop.role_session_name, validate.session_name, flag_wins=True)
        duration, duration_origin = _pick(
            "duration", settings, settings.duration, profile_hop,
            profile_hop and profile_hop.duration_seconds, validate.duration, flag_wins=last or profile_hop is None)
        external_id, external_origin = _pick(
            "external-id", settings, settings.external_id if last else None, profile_hop,
            profile_hop and profile_hop.external_id, validate.external_id, flag_wins=last)
        mfa_serial, mfa_origin = _pick(
            "mfa-serial", settings, settings.mfa_serial if first else None, profile_hop,
            profile_hop and profile_hop.mfa_serial, validate.mfa_serial, flag_wins=first)
        if not first:
            try:
                validate.chained_duration(duration, f"{label} (duration from {duration_origin})")
            except InvalidValue as exc:
                raise ConfigError(str(exc)) from None
        if first and web_identity:
            hopchecks.check_web_identity(settings, profile_hop, mfa_serial, mfa_origin, external_id, external_origin, last)
        request = AssumeRoleRequest(
            role_arn=role_arn,
            session_name=session_name,
            duration=duration,
            external_id=external_id,
            mfa_serial=mfa_serial,
            # What scopes the final session applies to the final hop only.
            source_identity=settings.source_identity if last else None,
            tags=settings.tags if last else (),
            transitive_tags=settings.transitive_tags if last else (),
            policy=settings.policy if last else None,
            policy_arns=settings.policy_arns if last else (),
            web_identity_token_file=web_identity if first else None,
        )
        origins = {"role": role_origin, "session-name": session_origin, "duration": duration_origin,
                   "external-id": external_origin, "mfa-serial": mfa_origin}
        hops.append(Hop(label if count > 1 else "role", request, origins))
    if settings.expect and not settings.refresh:
        wanted = f"--expect {settings.shown.get('expect', settings.expect)} (from {settings.sources.get('expect')})"
        hopchecks.check_expect(settings.expect, wanted, hops[-1], chained=count > 1)
    return hops


def without_mfa(hops: Sequence[Hop]) -> List[Hop]:
    """The hops as assumed from an MFA session: the code was given once, for that session."""
    return [hop._replace(request=hop.request._replace(mfa_serial=None)) for hop in hops]
