"""Build the child's environment: copy, remove every other credential source, set the role's.

Pure functions over mappings; the one named list of what is removed lives here. Every mode
(exec, --refresh, --each-role, --dry-run's diff) builds through _scrubbed, which removes
by name and, for the source's web identity token, by value.
"""

from __future__ import annotations

import os
from typing import Collection, Dict, Mapping

from awsrun.config.variables import ASSUMED_KEY_VARIABLE, ASSUMED_ROLE_VARIABLE, SOURCE_CREDENTIAL_KEYS
from awsrun.credentials import Credentials, account_of, iso8601

__all__ = [
    "REMOVED",
    "REMOVED_PREFIXES",
    "FALLBACK_BLOCKS",
    "is_removed",
    "holds_secret",
    "merge_dotenv",
    "child_environment",
    "refresh_environment",
    "browser_environment",
]

# Every variable through which an SDK or tool could find credentials other than the role's.
REMOVED = frozenset(
    {
        # keys, under every name an SDK reads them (Java v1 and Go read the short ones)
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_SESSION_EXPIRATION",
        # profile selectors: botocore reads AWS_DEFAULT_PROFILE first, CLI v2 and Go AWS_PROFILE
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        # web identity (GitHub / GitLab OIDC)
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        # container credentials
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        # other credential files and switches that make SDKs look for them
        "AWS_CREDENTIAL_FILE",
        "BOTO_CONFIG",
        "AWS_SDK_LOAD_CONFIG",
        "AWS_CREDENTIAL_PROFILES_FILE",  # Java SDK v1's credentials file
        "BOTO_PATH",
        # older EC2 tools and Ansible
        "EC2_ACCESS_KEY",
        "EC2_SECRET_KEY",
        "EC2_SECURITY_TOKEN",
        # GitHub Actions' OIDC request pair: with it the command could mint a token and
        # assume the source role itself, outside any --policy
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        # GitLab's job tokens (JWTs) do the same; id_tokens: of any name are removed by value
        "CI_JOB_JWT",
        "CI_JOB_JWT_V1",
        "CI_JOB_JWT_V2",
        # the account SDKs pair with the keys (account-based endpoints): only the role's is set
        "AWS_ACCOUNT_ID",
    }
)
# AWS_BEARER_TOKEN_<SERVICE> are long-lived keys; AWSRUN_* are awsrun's own settings.
REMOVED_PREFIXES = ("AWS_BEARER_TOKEN_", "AWSRUN_")

# Set by default so that no tool falls back to the long-lived keys or the instance role.
# The JavaScript SDK v2 honours AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE only with
# AWS_SDK_LOAD_CONFIG set; without it, it reads ~/.aws/credentials.
FALLBACK_BLOCKS = {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_SDK_LOAD_CONFIG": "1"}

def is_removed(name: str) -> bool:
    return name in REMOVED or name.startswith(REMOVED_PREFIXES)


def merge_dotenv(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> Dict[str, str]:
    """The environment plus .env keys it does not set already, like `dotenv run`.

    awsrun's own settings and the .env's source credentials stay out.
    """
    merged = dict(environ)
    for name, value in dotenv.items():
        if name not in merged and name not in SOURCE_CREDENTIAL_KEYS and not name.startswith("AWSRUN_"):
            merged[name] = value
    return merged


def holds_secret(value: str, secrets: Collection[str]) -> bool:
    """Whether ``value`` is one of ``secrets`` (stripped: a token file's newline changes nothing)."""
    return bool(secrets) and value.strip() in secrets


def _scrubbed(base: Mapping[str, str], region: str, assumed_role_arn: str, block_fallbacks: bool,
              config_file: str, secrets: Collection[str]) -> Dict[str, str]:
    """``base`` without any credential source, with the region and the role named.

    ``config_file`` replaces AWS_CONFIG_FILE unless fallbacks are allowed: the neutral copy
    of awsrun.deliver.neutral, or os.devnull. A variable holding one of ``secrets`` (the source's web
    identity tokens, stripped), whatever its name, is removed too. AWS_ACCOUNT_ID is the role
    session's account, or absent.
    """
    env = {name: value for name, value in base.items() if not is_removed(name) and not holds_secret(value, secrets)}
    if block_fallbacks:
        env.update(FALLBACK_BLOCKS)
        env["AWS_CONFIG_FILE"] = config_file
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region, ASSUMED_ROLE_VARIABLE: assumed_role_arn})
    account = account_of(assumed_role_arn)
    if account:  # else none at all: an inherited one is of another account
        env["AWS_ACCOUNT_ID"] = account
    return env


def child_environment(
    base: Mapping[str, str],
    credentials: Credentials,
    region: str,
    block_fallbacks: bool = True,
    config_file: str = os.devnull,
    secrets: Collection[str] = (),
) -> Dict[str, str]:
    """``base`` with every other credential source removed and the role's credentials set.

    The builder of exec mode's and --each-role's environment; ``config_file`` as for --refresh.
    """
    env = _scrubbed(base, region, credentials.assumed_role_arn, block_fallbacks, config_file, secrets)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "AWS_SESSION_TOKEN": credentials.session_token,
            "AWS_CREDENTIAL_EXPIRATION": iso8601(credentials.expiration),
            ASSUMED_KEY_VARIABLE: credentials.access_key_id,
        }
    )
    return env


def refresh_environment(
    base: Mapping[str, str], url: str, token: str, region: str, config_file: str, assumed_role_arn: str,
    secrets: Collection[str] = (),
) -> Dict[str, str]:
    """``base`` with every credential source removed and awsrun's endpoint as the only one.

    The config and credentials files are replaced too: SDKs read them before container
    credentials, so a [default] with credential_process or role_arn would win otherwise.
    """
    env = _scrubbed(base, region, assumed_role_arn, True, config_file, secrets)
    env.update(
        {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        }
    )
    return env


def browser_environment(base: Mapping[str, str], secrets: Collection[str] = ()) -> Dict[str, str]:
    """--console's browser: ``base`` without any credential; the sign-in URL is all it needs."""
    return {name: value for name, value in base.items() if not is_removed(name) and not holds_secret(value, secrets)}
