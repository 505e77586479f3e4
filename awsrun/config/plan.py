"""The plan of one run: what every delivery shares, resolved once and locally (no botocore).

runner.py builds a ``Plan`` from the settings; exec mode, the output modes, --refresh and
--each-role all read it. The pieces here decide which profile AWS_PROFILE names, which
source credentials a .env may give, and where the region came from.
"""

from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from awsrun.config.envfile import EnvFiles
from awsrun.config.settings import Settings
from awsrun.config.validate import region_partition
from awsrun.config.variables import SOURCE_CREDENTIAL_KEYS, holds_issued_credentials

__all__ = ["Plan", "with_aws_profile", "dotenv_credentials", "region_from"]


class Plan(NamedTuple):
    """What every delivery of one run shares: settings, command, environments, region, source."""

    config: Settings  # --role's hops, then each role's, for --each-role
    command: List[str]  # empty in the output modes
    shell: bool  # no command was named: it is the user's $SHELL, for switching context by hand
    child_base: Mapping[str, str]  # the environment the command starts from: awsrun's, .env merged
    environ: Mapping[str, str]  # awsrun's own environment, its credential_process loop marker set
    shown: Mapping[str, str]  # what --dry-run diffs against: the environment awsrun was given
    region: Optional[str]
    region_source: Optional[str]  # where the region came from, for messages
    issued: Optional[str]  # the role ARN of an awsrun-issued session in the environment, if any
    dotenv_credentials: Mapping[str, str]  # the .env's source keys, when the environment has none


def dotenv_credentials(environ: Mapping[str, str], files: EnvFiles, issued: bool) -> Dict[str, str]:
    """The .env's source credentials, used only when the real environment has none.

    An awsrun-issued session in the environment does not count as having some.
    """
    selectors = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if issued else SOURCE_CREDENTIAL_KEYS + ("AWS_DEFAULT_PROFILE",)
    if any(environ.get(key) for key in selectors):
        return {}
    return {key: files.values[key] for key in SOURCE_CREDENTIAL_KEYS if files.values.get(key)}


def with_aws_profile(config: Settings, environ: Mapping[str, str], files: EnvFiles) -> Settings:
    """AWS_PROFILE (then AWS_DEFAULT_PROFILE; else the .env's AWS_PROFILE) as the AWS CLI reads it.

    With no --profile and no --role it names the profile. With --role it is the source the
    roles are assumed from, its own role_arn chain included, unless static keys in the
    environment or .env come first, as they do in botocore's chain.
    """
    if config.profile:
        return config
    issued = holds_issued_credentials(environ)
    name = next((key for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if environ.get(key)), None)
    if name:
        selected, origin = environ[name], f"${name}"
    else:
        dotenv = dotenv_credentials(environ, files, issued)
        if not dotenv.get("AWS_PROFILE"):
            return config
        selected, origin = dotenv["AWS_PROFILE"], f"AWS_PROFILE in {files.origin['AWS_PROFILE']}"
    if config.roles:
        keys_in_env = bool(environ.get("AWS_ACCESS_KEY_ID")) and not issued
        if keys_in_env or (not name and files.values.get("AWS_ACCESS_KEY_ID")):
            return config
    return config._replace(profile=selected, profile_is_source=bool(config.roles),
                           sources={**config.sources, "profile": origin}, shown={**config.shown, "profile": selected})


def region_from(config: Settings, env: Mapping[str, str], environ: Mapping[str, str],
                dotenv_origin: Mapping[str, str]) -> Tuple[Optional[str], Optional[str]]:
    """The region and where it came from: the flag, the environment or a .env file."""
    if config.region:
        return config.region, config.sources.get("region", "--region")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            region_partition(env[name])
            from_dotenv = name not in environ and name in dotenv_origin
            return env[name], f"{name} in {dotenv_origin[name]}" if from_dotenv else f"${name}"
    return None, None
