"""What a cached session depends on, hashed into its cache key. Never the MFA code.

The key follows the chain a run would resolve: every AssumeRole it would make (role ARN
in full, session name, duration, external id, MFA device, tags, policies), the AssumeRoot
after them (member account, task policy, duration), the region and
STS endpoint, and who the source principal is. Profiles are read without botocore
(configfiles.py), so a cache hit costs no botocore import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, List, Mapping, NamedTuple, Optional, Tuple

from awsrun.config.variables import holds_issued_credentials

try:  # importing hashlib loads OpenSSL: a sixth of a cache hit's time. BLAKE2 is built in.
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's built-in module
    from hashlib import blake2b
from awsrun.config import configfiles, validate
from awsrun.config.settings import Settings
from awsrun.errors import AwsrunError

if TYPE_CHECKING:
    from awsrun.config.profiles import SourceSpec

__all__ = ["effective_min_ttl", "min_ttl_in_use", "KeyPlan", "plan_key", "cache_key", "source_fingerprint"]

DEFAULT_REGION = "us-east-1"  # as walk.DEFAULT_REGION
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
# Profile values that are secrets: never key material (the key id names the principal).
_SECRET_KEYS = frozenset({"aws_secret_access_key", "aws_session_token", "aws_security_token"})


class KeyPlan(NamedTuple):
    """The run's cache key, and what the cache needs to know of the chain behind it."""

    key: str
    duration: int  # of the final session, as it would be asked for
    mfa_serial: Optional[str]  # the first hop's MFA device
    mfa_key: Optional[str]  # where the MFA session (GetSessionToken) of that device is kept


def _file_identity(path: Optional[str]) -> Optional[List[object]]:
    """A token file rewritten (a new login, a new web identity token) gives a new key."""
    if not path:
        return None
    try:
        info = os.stat(os.path.expanduser(path))
    except OSError:
        return None
    return [path, info.st_ino, info.st_size, info.st_mtime_ns]


def source_fingerprint(environ: Mapping[str, str], dotenv_credentials: Mapping[str, str],
                       profile_named: bool = False) -> Dict[str, object]:
    """The environment's part of who the source principal is.

    Static keys are named by their key id, web identity by its token file. awsrun's own
    issued session in the environment is not a source. ``profile_named``: the run uses a
    profile by name (-p, AWSRUN_PROFILE or AWS_PROFILE alike), so the variables that would
    otherwise pick one select nothing: the chain's material names it.
    """
    issued = holds_issued_credentials(environ)
    ignored = {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} if profile_named else set()
    selectors = {
        name: environ[name] for name in _SOURCE_SELECTORS
        if name in environ and name not in ignored and not (issued and name == "AWS_ACCESS_KEY_ID")
    }
    return {
        "environment": selectors,
        "dotenv": {key: value for key, value in dotenv_credentials.items()
                   if key == "AWS_ACCESS_KEY_ID" or (key == "AWS_PROFILE" and not profile_named)},
        "token": _file_identity(environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")),
        "uid": os.geteuid() if hasattr(os, "geteuid") else None,
    }


def _sso_token_file(environ: Mapping[str, str], profile: Mapping[str, object]) -> Optional[List[object]]:
    """The identity of the SSO token botocore would use: a new `aws sso login` rewrites it."""
    session = profile.get("sso_session")
    start = session or profile.get("sso_start_url")
    if not isinstance(start, str):
        return None
    try:
        from _sha1 import sha1  # built in; hashlib would load OpenSSL
    except ImportError:
        from hashlib import sha1
    home = environ.get("HOME") or os.path.expanduser("~")
    name = sha1(start.encode("utf-8")).hexdigest() + ".json"
    return _file_identity(os.path.join(home, ".aws", "sso", "cache", name))


def _profiles_material(files: configfiles.AwsFiles, environ: Mapping[str, str], name: str) -> List[object]:
    """A profile and the ones it names as source_profile: their settings (no secret), the
    SSO session and services sections they use, and their token files' identities."""
    material: List[object] = []
    seen: List[str] = []
    current: object = name
    while isinstance(current, str) and current not in seen:
        seen.append(current)
        profile = files.profiles.get(current)
        if profile is None:
            material.append([current, None])
            break
        settings = {key: value for key, value in profile.items() if key not in _SECRET_KEYS}
        session = files.sso_sessions.get(profile.get("sso_session")) if isinstance(profile.get("sso_session"), str) else None
        services = files.services.get(profile.get("services")) if isinstance(profile.get("services"), str) else None
        material.append([current, settings, session, services,
                         _sso_token_file(environ, {**(session or {}), **profile}),
                         _file_identity(profile.get("web_identity_token_file"))
                         if isinstance(profile.get("web_identity_token_file"), str) else None])
        current = profile.get("source_profile")
    return material


def _digest(material: Mapping[str, object]) -> str:
    """BLAKE2b of the material's canonical text: repr of plain values, every mapping as its items
    sorted by key. repr is unambiguous for these values (str, int, bool, None and their lists),
    and json would cost a cache hit a sixth of its own work to import."""
    return blake2b(repr(_canonical(material)).encode("utf-8"), digest_size=32).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, dict):
        return [(str(key), _canonical(item)) for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))]
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def plan_key(settings: Settings, environ: Mapping[str, str], dotenv_credentials: Mapping[str, str],
             region_hint: Optional[str], memo_folder: Optional[str] = None) -> Optional[KeyPlan]:
    """The key of the session this run would get, or None where the chain cannot be
    resolved here (the run then goes without the cache, and fails or succeeds on its own)."""
    try:
        files = configfiles.read(environ, memo_folder)
        # The profile botocore's session is made for (source.py): the named one, else as botocore picks.
        active = (settings.profile or dotenv_credentials.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE")
                  or environ.get("AWS_PROFILE") or "default")
        if settings.profile:
            planned = _profile_hops(settings, files, region_hint)
        else:
            configured = files.profiles.get(active, {}).get("region")
            region = region_hint or (configured if isinstance(configured, str) and configured else DEFAULT_REGION)
            planned = _flag_hops(settings, region, validate.region_partition(region))
    except (AwsrunError, ValueError, OSError):  # the run will say what is wrong, without the cache
        return None
    spec, region, hops, duration, serial = planned
    if spec is not None and spec.profile:
        chain_source: object = _profiles_material(files, environ, spec.profile)
    else:  # botocore's default chain, or a credential_source with the active profile's settings
        chain_source = [spec and spec.credential_source, _profiles_material(files, environ, active)]
    source = {**source_fingerprint(environ, dotenv_credentials, bool(settings.profile)), "chain": chain_source}
    endpoint = {name: environ[name] for name in _ENDPOINT_SETTINGS if name in environ}
    # -p P --role X replaces P's role; AWS_PROFILE=P --role X assumes X after it.
    material = {"version": 3, "source": source, "hops": hops, "region": region, "endpoint": endpoint,
                "profile_is_source": settings.profile_is_source}
    if settings.root:  # the member account, the task policy and the root session's length
        root = settings.root
        material["root"] = [root.account, root.task_policy_arn(validate.region_partition(region)), root.duration]
        duration = root.duration
    key = _digest(material)
    mfa_key = _digest({"version": 3, "mfa": serial, "source": source, "region": region,
                       "endpoint": endpoint}) if serial else None
    return KeyPlan(key, duration, serial, mfa_key)


def _profile_hops(settings: Settings, files: configfiles.AwsFiles, region_hint: Optional[str]
                  ) -> Tuple[SourceSpec, str, List[object], int, Optional[str]]:
    """A named profile's chain, planned as chain.plan plans it: each AssumeRole it would make."""
    # Only a run with a profile plans its chain here: a hit without one imports neither module.
    from awsrun.config import profiles
    from awsrun.session import chain

    resolved = profiles.resolve(files.profiles, settings.profile or "")
    region = region_hint or (resolved.region if isinstance(resolved.region, str) and resolved.region
                             else DEFAULT_REGION)
    hops = chain.plan(settings, resolved, validate.region_partition(region))
    requests = [["request", *hop.request] for hop in hops]
    if not hops:  # a source-only profile before --assume-root: its session is the root one
        return resolved.source, region, [], 0, None
    return resolved.source, region, requests, hops[-1].request.duration, hops[0].request.mfa_serial


def _flag_hops(settings: Settings, region: str, partition: str
               ) -> Tuple[None, str, List[object], int, Optional[str]]:
    """Without a profile every role takes its values from the settings (see chain.plan): hash
    those, with each role as a full ARN. Cheaper than planning: a hit imports no chain."""
    roles = [role.arn(partition) for role in settings.roles]
    shaped = [settings.session_name, settings.duration, settings.external_id, settings.mfa_serial,
              settings.source_identity, settings.tags, settings.transitive_tags, settings.policy, settings.policy_arns]
    return None, region, [["roles", roles, shaped]], settings.duration, settings.mfa_serial


def cache_key(settings: Settings, environ: Mapping[str, str], dotenv_credentials: Mapping[str, str],
              region_hint: Optional[str]) -> str:
    """The hash of everything that changes the session awsrun would get from STS ("" when unknown)."""
    planned = plan_key(settings, environ, dotenv_credentials, region_hint)
    return planned.key if planned else ""


def effective_min_ttl(settings: Settings, duration: Optional[int]) -> int:
    """How much of a cached session must be left to reuse it: --min-ttl as given; by default
    at most half the session's life (with -d 900, a default of 900 would never reuse); at
    least --expect, which --refresh meets by renewing instead."""
    return min_ttl_in_use(settings, duration)[0]


def min_ttl_in_use(settings: Settings, duration: Optional[int]) -> Tuple[int, str]:
    """The min-ttl a cache lookup uses, in seconds, and where that value came from (for -v)."""
    min_ttl, origin = settings.min_ttl, f"from {settings.sources.get('min-ttl', 'default')}"
    if not settings.given("min-ttl") and duration is not None and duration // 2 < min_ttl:
        min_ttl, origin = duration // 2, f"half the {duration}-second session, by default"
    if not settings.refresh and (settings.expect or 0) > min_ttl:
        min_ttl = settings.expect or 0
        origin = f"--expect {settings.shown.get('expect', min_ttl)}, from {settings.sources.get('expect')}"
    return min_ttl, origin
