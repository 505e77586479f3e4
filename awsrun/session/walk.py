"""Load the source credentials, settle the region, and walk the planned hops through STS, MFA included.

``prepare`` loads the source (botocore's chain or a profile's) and plans the hops (chain.py);
``assume_all`` assumes them one after another. botocore loads when the source is made (source.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, List, Mapping, NamedTuple, Optional, Protocol, Sequence, Tuple

from awsrun.config import configfiles, profiles, validate
from awsrun.config.profiles import ProfileChain
from awsrun.config.roottask import RootTask
from awsrun.config.settings import Settings
from awsrun.credentials import Credentials
from awsrun.errors import ConfigError, InvalidValue, StsError
from awsrun.session import mfa, sts
from awsrun.session import source as source_credentials
from awsrun.session.chain import Hop, checked, plan, without_mfa

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["Prepared", "StsClients", "prepare", "assume_all", "assume_root", "mfa_session", "without_mfa", "MFA_ATTEMPTS", "DEFAULT_REGION"]

MFA_ATTEMPTS = 3
DEFAULT_REGION = "us-east-1"


class StsClients(Protocol):
    """What makes the STS clients of a walk: a Source, or fanout's clients shared between threads."""

    def client(self, region: str, connect_timeout: float, read_timeout: float,
               credentials: Optional[Credentials] = None) -> BaseClient: ...


class Prepared(NamedTuple):
    """Everything needed to call STS: the source, the region and the hops."""

    source: source_credentials.Source
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
    source = source_credentials.Source(dotenv_credentials, ignore_environment_keys, settings.profile)
    chain = None
    if settings.profile:
        known = source.profiles()
        try:
            chain = profiles.resolve(known, settings.profile)
        except profiles.ProfileNotFound as exc:  # say the files botocore read, and who named the profile
            raise exc.told(configfiles.files_read(os.environ), settings.sources.get("profile")) from None
        spec = chain.source
        keys = profiles.own_keys(known[spec.profile]) if spec.own_keys and spec.profile else None
        if keys is None and spec.profile and not spec.credential_source and spec.profile in known:
            # credential_process = awsrun-keys get NAME: the same key, without a second Python.
            from awsrun.keys import keysource  # keyring and its store: only runs from a profile load them

            keys = keysource.profile_keys(known[spec.profile], os.environ)
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
        checked(settings.profile or "default", validate.region_partition, region)
        region_origin = (f"the region of profile {settings.profile or 'default'}" if configured
                         else "awsrun's default (no --region, $AWS_REGION or profile region)")
        for role in settings.roles:
            validate.check_partition(role, region, region_origin)
    hops = plan(settings, chain, validate.region_partition(region))
    if settings.root and settings.root.partition not in (None, validate.region_partition(region)):
        raise ConfigError(f"--task-policy {settings.root.task_policy_arn('')} is not in partition "
                          f"{validate.region_partition(region)} of region {region} (from {region_source})")
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
        if settings.root:
            say(f"then AssumeRoot in {settings.root.account} for "
                f"{settings.root.task_policy_arn(validate.region_partition(region))}, {settings.root.duration}s")
    return Prepared(source, region, hops, chain, region_origin)


def assume_all(
    source: StsClients,
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
                lambda code: sts.assume_role(client, hop.request, code),
            )
        except StsError as exc:
            if len(hops) == 1:
                raise
            fields = {key: value for key, value in exc.fields.items() if key != "detail"}
            raise StsError(f"{hop.label}: {exc}", **fields) from None
    assert credentials is not None  # plan() never returns an empty chain
    return credentials


def assume_root(source: StsClients, root: RootTask, region: str, timeouts: Tuple[float, float],
                credentials: Optional[Credentials]) -> Credentials:
    """AssumeRoot with the last hop's session (or the source's, with no hops), in ``region``'s
    regional endpoint: the Source's botocore session asks for regional STS endpoints."""
    client = source.client(region, *timeouts, credentials=credentials)
    return sts.assume_root(client, root, validate.region_partition(region))


def mfa_session(
    source: StsClients,
    serial: str,
    region: str,
    timeouts: Tuple[float, float],
    mfa_code: Optional[str],
    ask_code: Callable[[str, int], str],
    warn: Callable[[str], None],
) -> Credentials:
    """An MFA-authenticated session of the source (GetSessionToken), to assume from later
    without asking for another code: --refresh re-walks the chain many times per run."""
    client = source.client(region, *timeouts)
    return _with_code(serial, mfa_code, ask_code, warn, lambda code: sts.get_session_token(client, serial, code))


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
