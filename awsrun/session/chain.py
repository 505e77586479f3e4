"""Plan the roles to assume (from --role and profiles) and walk them, MFA included.

``plan`` is pure: it merges the settings with a profile chain, hop by hop, and checks
what AWS would refuse. ``assume_all`` walks the plan through an STS source.
"""

from __future__ import annotations

import os
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from awsrun.session import hopchecks

from awsrun.config import validate
from awsrun.credentials import Credentials
from awsrun.errors import ConfigError, InvalidValue, StsError, UsageError
from awsrun.config.profiles import ProfileChain, ProfileHop
from awsrun.config.settings import Settings
from awsrun.session.sts import AssumeRoleRequest, assume_role

__all__ = ["Hop", "Prepared", "prepare", "plan", "assume_all", "mfa_session", "without_mfa", "MFA_ATTEMPTS"]

MFA_ATTEMPTS = 3
DEFAULT_REGION = "us-east-1"


class Hop(NamedTuple):
    """One AssumeRole of the chain and where each of its values came from."""

    label: str
    request: AssumeRoleRequest
    origins: Mapping[str, str]

    def explain(self) -> str:
        r = self.request
        parts = [f"{r.role_arn} (from {self.origins['role']})",
                 f"session name {r.session_name} (from {self.origins['session-name']})",
                 f"duration {r.duration} (from {self.origins['duration']})"]
        if r.external_id:
            parts.append(f"external id (from {self.origins['external-id']})")
        if r.mfa_serial:
            parts.append(f"MFA {r.mfa_serial} (from {self.origins['mfa-serial']})")
        return f"{self.label}: " + ", ".join(parts)


def _checked(profile: str, check: Callable[[str], Any], value: str) -> Any:
    try:
        return check(value)
    except InvalidValue as exc:
        raise ConfigError(f"profile {profile!r}: {exc}") from None


def _pick(name: str, settings: Settings, flag_value: Any, profile_hop: Optional[ProfileHop],
          profile_value: Optional[str], check: Callable[[str], Any], flag_wins: bool) -> Tuple[Any, str]:
    """A hop's value: the user's if it applies to this hop, else the profile's, else the default."""
    if flag_wins and settings.given(name):
        return flag_value, settings.sources[name]
    if profile_hop is not None and profile_value:
        return _checked(profile_hop.profile, check, profile_value), f"profile {profile_hop.profile}"
    if flag_value is None:
        return None, "unset"
    return flag_value, settings.sources.get(name, "default")


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
            role = _checked(profile_hop.profile, validate.role, role_arn)
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


class Prepared(NamedTuple):
    """Everything needed to call STS: the source, the region and the hops."""

    source: Any
    region: str
    hops: List[Hop]
    profile_chain: Optional[ProfileChain] = None  # to plan more final roles from (--each-role)
    region_origin: Optional[str] = None  # where the region came from, as a refusal says it


def prepare(
    settings: Settings,
    dotenv_credentials: Mapping[str, str],
    ignore_environment_keys: Optional[str],
    region: Optional[str],
    region_source: Optional[str],
    say: Optional[Callable[[str], None]],
    *,
    mfa_ready: bool = False,
) -> Prepared:
    """Load the source (botocore's chain or a profile's), settle the region, plan the hops.

    ``ignore_environment_keys`` names the role of an awsrun-issued session held in the
    environment: it is not a source. ``say`` is given when --verbose is on. ``mfa_ready``:
    a cached MFA session spares the first hop its code, so no terminal is needed.
    """
    from awsrun.session import mfa
    from awsrun.config import profiles
    from awsrun.session.source import Source

    source = Source(dotenv_credentials, ignore_environment_keys, settings.profile)
    chain = None
    if settings.profile:
        known = source.profiles()
        try:
            chain = profiles.resolve(known, settings.profile)
        except profiles.ProfileNotFound as exc:  # say the files botocore read, and who named the profile
            from awsrun.config.configfiles import files_read

            raise exc.told(files_read(os.environ), settings.sources.get("profile")) from None
        spec = chain.source
        keys = profiles.own_keys(known[spec.profile]) if spec.own_keys and spec.profile else None
        if keys is None and spec.profile and not spec.credential_source and spec.profile in known:
            from awsrun.keys.keysource import profile_keys

            # credential_process = awsrun-keys get NAME: the same key, without a second Python.
            keys = profile_keys(known[spec.profile], os.environ)
        source.use(
            profile=None if spec.credential_source else spec.profile,
            keys=keys,
            provider=profiles.CREDENTIAL_SOURCES.get(spec.credential_source or ""),
            web_identity=spec.token_file if spec.web_identity else None,
        )
    region_origin = region_source
    if not region:
        configured = chain.region if chain else source.configured_region()
        if configured is not None and not isinstance(configured, str):
            raise ConfigError(f"profile {settings.profile or 'default'!r}: region must be a single value")
        region, region_source = (configured, "profile") if configured else (DEFAULT_REGION, "default")
        _checked(settings.profile or "default", validate.region_partition, region)
        region_origin = (f"the region of profile {settings.profile or 'default'}" if configured
                         else "awsrun's default (no --region, $AWS_REGION or profile region)")
        for role in settings.roles:
            hopchecks.check_partition(role, region, region_origin)
    hops = plan(settings, chain, validate.region_partition(region))
    serial = next((hop.request.mfa_serial for hop in hops if hop.request.mfa_serial), None)
    if serial and not mfa_ready and not settings.mfa_code and not settings.dry_run and not mfa.has_terminal():
        raise ConfigError(
            f"an MFA code is needed for {serial} and there is no terminal to ask on: "
            "pass --mfa-code CODE or set AWSRUN_MFA_CODE"
        )
    described = source.describe()  # load the source now: its errors are not AssumeRole's
    if say:
        if not settings.region:
            say(f"region = {region} (from {region_source})")
        say(f"source credentials = {described}")
        for hop in hops:
            say(hop.explain())
    return Prepared(source, region, hops, chain, region_origin)


def assume_all(
    source: Any,
    hops: Sequence[Hop],
    region: str,
    timeouts: Tuple[float, float],
    mfa_code: Optional[str],
    ask_code: Callable[[str, int], str],
    warn: Callable[[str], None],
    start: Optional[Credentials] = None,
) -> Credentials:
    """Assume each hop with the previous hop's credentials; return the last session's.

    ``start``: credentials to assume the first hop with instead of the source's.
    """
    credentials: Optional[Credentials] = start
    for hop in hops:
        client = source.client(region, *timeouts, credentials=credentials)
        try:
            credentials = _with_code(
                hop.request.mfa_serial, mfa_code, ask_code, warn,
                lambda code: assume_role(client, hop.request, code),
            )
        except StsError as exc:
            if len(hops) == 1:
                raise
            fields = {key: value for key, value in exc.fields.items() if key != "detail"}
            raise StsError(f"{hop.label}: {exc}", **fields) from None
    assert credentials is not None  # plan() never returns an empty chain
    return credentials


def mfa_session(
    source: Any,
    serial: str,
    region: str,
    timeouts: Tuple[float, float],
    mfa_code: Optional[str],
    ask_code: Callable[[str, int], str],
    warn: Callable[[str], None],
) -> Credentials:
    """An MFA-authenticated session of the source (GetSessionToken), to assume from later
    without asking for another code: --refresh re-walks the chain many times per run."""
    from awsrun.session.sts import get_session_token

    client = source.client(region, *timeouts)
    return _with_code(serial, mfa_code, ask_code, warn, lambda code: get_session_token(client, serial, code))


def without_mfa(hops: Sequence[Hop]) -> List[Hop]:
    """The hops as assumed from an MFA session: the code was given once, for that session."""
    return [hop._replace(request=hop.request._replace(mfa_serial=None)) for hop in hops]


def _with_code(serial: Optional[str], given_code: Optional[str], ask_code: Callable[[str, int], str],
               warn: Callable[[str], None], call: Callable[[Optional[str]], Credentials]) -> Credentials:
    """A code given up front is tried once; one asked at the terminal up to three times."""
    if not serial:
        return call(None)
    if given_code:
        return call(given_code)
    for attempt in range(1, MFA_ATTEMPTS + 1):
        code = ask_code(serial, attempt)
        try:
            return call(validate.mfa_code(code))
        except InvalidValue as exc:
            problem: Exception = exc
        except StsError as exc:
            if exc.fields.get("code") != "MfaRejected":
                raise
            problem = exc
        if attempt == MFA_ATTEMPTS:
            raise problem
        warn(str(problem))
    raise AssertionError("unreachable")
