"""Turn AWS CLI profiles (as botocore loaded them) into a source and a chain of roles.

Pure: takes the ``profiles`` mapping of botocore's ``full_config``; reads no file itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from awsrun.config.typos import closest
from awsrun.errors import ConfigError

if TYPE_CHECKING:
    from awsrun.config.configfiles import ConfigValue

    # One profile's settings, from configfiles or botocore's full_config.
    Profile = Mapping[str, ConfigValue]

__all__ = ["ProfileHop", "SourceSpec", "ProfileChain", "ProfileNotFound", "resolve", "own_keys",
           "CREDENTIAL_SOURCES"]

# credential_source values and the botocore provider that serves each.
CREDENTIAL_SOURCES = {"Environment": "env", "Ec2InstanceMetadata": "iam-role", "EcsContainer": "container-role"}
# Keys that make a profile without role_arn a usable source of credentials.
_CREDENTIAL_KEYS = ("aws_access_key_id", "credential_process", "sso_session", "sso_start_url", "login_session")


class ProfileHop(NamedTuple):
    """One role a profile asks to assume, with the profile's own settings for it."""

    profile: str
    role_arn: str
    external_id: Optional[str] = None
    mfa_serial: Optional[str] = None
    duration_seconds: Optional[str] = None
    role_session_name: Optional[str] = None


class SourceSpec(NamedTuple):
    """Where the first hop's credentials come from.

    ``profile``: botocore loads that profile's own credentials (keys, SSO, process, web
    identity); ``own_keys``: its static keys, handed over as they are (the profile names itself
    as source_profile, or is a source whose keys end the chain before its other settings);
    ``credential_source``: one of CREDENTIAL_SOURCES. All None: botocore's default chain.
    ``web_identity``: ``profile`` has role_arn and web_identity_token_file; its role is the
    first hop, assumed by awsrun with AssumeRoleWithWebIdentity and the token in ``token_file``.
    """

    profile: Optional[str] = None
    own_keys: bool = False
    credential_source: Optional[str] = None
    web_identity: bool = False
    mfa_serial: Optional[str] = None  # a source-only profile's own MFA device, for --role
    token_file: Optional[str] = None  # web identity: the first hop is assumed with this token


class ProfileChain(NamedTuple):
    source: SourceSpec
    hops: Tuple[ProfileHop, ...]  # in the order they are assumed
    region: Optional[str]


class ProfileNotFound(ConfigError):
    """A profile (named by the user, or a source_profile) that neither AWS file holds.

    Raised knowing only the profiles; ``told`` adds what the caller knows: the files that
    were read and where the name came from.
    """

    def __init__(self, name: str, referrer: Optional[str], known: Iterable[str]) -> None:
        self.name, self.referrer = name, referrer
        self.known = sorted(str(other) for other in known)
        super().__init__(self.said())

    def said(self, files: Sequence[Tuple[str, bool]] = (), origin: Optional[str] = None) -> str:
        """One line: the name, where it came from, the files read (each path, and whether it
        exists), and the closest profile they do hold."""
        if self.referrer is not None:
            why = f" (source_profile of {self.referrer!r})"
        elif origin and origin != "--profile":  # a name the user did not type here: say who gave it
            why = f" (from {origin})"
        else:
            why = ""
        where = " or ".join(path if present else f"{path} (no such file)" for path, present in files)
        hint = closest(self.name, self.known) or (" (the files hold no profile)" if files and not self.known else "")
        return f"profile {self.name!r}{why} not found in {where or 'the AWS config or credentials file'}{hint}"

    def told(self, files: Sequence[Tuple[str, bool]], origin: Optional[str]) -> ConfigError:
        return ConfigError(self.said(files, origin))


def _hop(name: str, profile: Profile) -> ProfileHop:
    return ProfileHop(
        profile=name,
        role_arn=profile["role_arn"],
        external_id=profile.get("external_id"),
        mfa_serial=profile.get("mfa_serial"),
        duration_seconds=profile.get("duration_seconds"),
        role_session_name=profile.get("role_session_name"),
    )


# Keys awsrun reads from a profile: each must be a single value, not a nested section.
_SCALAR_KEYS = ("role_arn", "source_profile", "credential_source", "region", "duration_seconds", "mfa_serial",
                "external_id", "role_session_name", "web_identity_token_file") + _CREDENTIAL_KEYS


def _checked_profile(name: str, profile: object) -> Profile:
    if not isinstance(profile, Mapping):
        raise ConfigError(f"profile {name!r} is not a section of settings")
    for key in _SCALAR_KEYS:
        if key in profile and not isinstance(profile[key], str):
            raise ConfigError(f"profile {name!r}: {key} must be a single value, not a nested section")
    return profile


def resolve(profiles: Mapping[str, Profile], name: str) -> ProfileChain:
    """Walk source_profile links from ``name`` down to where credentials come from.

    The rules every AWS SDK shares: a profile with role_arn and web_identity_token_file is
    assumed with its token (its source_profile is not read); a source profile with static
    keys ends the chain with those keys (its own role_arn is not followed).
    """
    hops: List[ProfileHop] = []
    visited: List[str] = []
    current = name
    region = _checked_profile(name, profiles[name]).get("region") if name in profiles else None
    while True:
        if current in visited:
            raise ConfigError("profile loop: " + " -> ".join(visited + [current]))
        visited.append(current)
        if current not in profiles:
            raise ProfileNotFound(current, visited[-2] if len(visited) > 1 else None, profiles)
        profile = _checked_profile(current, profiles[current])
        source_profile = profile.get("source_profile")
        credential_source = profile.get("credential_source")
        if current != name and _has_static_keys(current, profile):
            # botocore would assume this profile's own role_arn (or use its SSO or web identity)
            # if asked for it by name: its keys are handed over instead.
            return ProfileChain(SourceSpec(profile=current, own_keys=bool(set(profile) & _BEYOND_KEYS)),
                                tuple(hops), region)
        if "role_arn" not in profile:
            _has_static_keys(current, profile)  # half a key pair is refused here, not by botocore
            if not any(profile.get(key) for key in _CREDENTIAL_KEYS):
                raise ConfigError(f"profile {current!r} has neither role_arn nor credentials")
            own_device = profile.get("mfa_serial") if current == name else None
            return ProfileChain(SourceSpec(profile=current, mfa_serial=own_device), tuple(hops), region)
        if profile.get("web_identity_token_file"):
            hops.insert(0, _hop(current, profile))
            return ProfileChain(
                SourceSpec(profile=current, web_identity=True, token_file=profile["web_identity_token_file"]),
                tuple(hops), region)
        if source_profile and credential_source:
            raise ConfigError(f"profile {current!r} sets both source_profile and credential_source; keep one")
        if not source_profile and not credential_source:
            raise ConfigError(f"profile {current!r} has role_arn but neither source_profile nor credential_source")
        hops.insert(0, _hop(current, profile))
        if credential_source:
            if credential_source not in CREDENTIAL_SOURCES:
                raise ConfigError(
                    f"profile {current!r}: credential_source {credential_source!r} is not one of "
                    + ", ".join(CREDENTIAL_SOURCES)
                )
            return ProfileChain(SourceSpec(credential_source=credential_source), tuple(hops), region)
        if source_profile == current:
            if not _has_static_keys(current, profile):
                raise ConfigError(f"profile {current!r} is its own source_profile but has no aws_access_key_id")
            return ProfileChain(SourceSpec(profile=current, own_keys=True), tuple(hops), region)
        current = source_profile


# Keys through which botocore, asked for a profile by name, would not simply use its static keys.
_BEYOND_KEYS = frozenset({"role_arn", "source_profile", "credential_source", "web_identity_token_file",
                          "credential_process", "sso_session", "sso_start_url", "login_session"})


def _has_static_keys(name: str, profile: Profile) -> bool:
    """Whether the profile holds static keys (botocore: either key makes it so); both or neither."""
    present = [key for key in ("aws_access_key_id", "aws_secret_access_key") if profile.get(key)]
    if len(present) == 1:
        missing = ({"aws_access_key_id", "aws_secret_access_key"} - set(present)).pop()
        raise ConfigError(f"profile {name!r} has {present[0]} but no {missing}")
    return bool(present)


def own_keys(profile: Profile) -> Dict[str, Optional[str]]:
    """The static keys of a profile that is its own source_profile, or a source with keys."""
    return {
        "AWS_ACCESS_KEY_ID": profile.get("aws_access_key_id"),
        "AWS_SECRET_ACCESS_KEY": profile.get("aws_secret_access_key"),
        "AWS_SESSION_TOKEN": profile.get("aws_session_token"),
    }
