"""The STS calls (AssumeRole, AssumeRoleWithWebIdentity, AssumeRoot, GetSessionToken) and what their
failures mean, each told in one line. The client they are made with comes from source.py.

botocore is imported inside the calls, never at module import, so that help, usage errors
and local checks stay fast.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from awsrun.config.roottask import RootTask
from awsrun.credentials import Credentials
from awsrun.errors import ConfigError, NoSourceCredentials, StsError
from awsrun.session.hops import AssumeRoleRequest
from awsrun.session.webidentity import read_web_identity_token

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["AssumeRoleRequest", "assume_role", "assume_root", "get_session_token", "global_endpoint"]

# An STS answer as botocore parses it: JSON-shaped, read field by field with KeyError caught.
StsAnswer = Mapping[str, Any]

_BAD_KEYS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "IncompleteSignature", "InvalidAccessKeyId", "AuthFailure"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}
_BAD_TOKEN = {"InvalidIdentityToken", "IDPRejectedClaim", "IDPCommunicationError"}
_BAD_POLICY = {"MalformedPolicyDocument", "PackedPolicyTooLarge"}


def assume_role(client: BaseClient, request: AssumeRoleRequest, token_code: Optional[str] = None) -> Credentials:
    """Call AssumeRole; every failure becomes one StsError line."""
    endpoint = client.meta.endpoint_url
    if request.web_identity_token_file:
        token = read_web_identity_token(request.web_identity_token_file)
        response = _call(client, "AssumeRoleWithWebIdentity", request,
                         lambda: client.assume_role_with_web_identity(**request.web_identity_params(token)))
    else:
        response = _call(client, "AssumeRole", request, lambda: client.assume_role(**request.params(token_code)))
    try:
        issued = response["Credentials"]
        return Credentials(
            access_key_id=issued["AccessKeyId"],
            secret_access_key=issued["SecretAccessKey"],
            session_token=issued["SessionToken"],
            expiration=issued["Expiration"],
            assumed_role_arn=response["AssumedRoleUser"]["Arn"],
        )
    except (KeyError, TypeError):
        raise StsError(f"STS at {endpoint} answered AssumeRole without credentials") from None


def global_endpoint(url: str) -> bool:
    """Whether ``url`` is STS's global endpoint (sts.amazonaws.com), which AssumeRoot refuses."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return re.fullmatch(r"sts(-fips)?\.(amazonaws\.com|api\.aws)", host) is not None


def assume_root(client: BaseClient, root: RootTask, partition: str) -> Credentials:
    """Call AssumeRoot on a regional endpoint. Its answer names no principal: the session is
    named by the member account's root user ARN (RootTask.principal_arn)."""
    endpoint = client.meta.endpoint_url
    if global_endpoint(endpoint):
        raise ConfigError(
            f"AssumeRoot needs a regional STS endpoint, and {endpoint} is the global one: point "
            f"AWS_ENDPOINT_URL_STS (or the profile's endpoint_url) at https://sts.{client.meta.region_name}.amazonaws.com "
            "or remove it"
        )
    request = AssumeRoleRequest(role_arn=f"root in {root.account} for {root.task}", session_name="-",
                                duration=root.duration)
    params = {"TargetPrincipal": root.account, "TaskPolicyArn": {"arn": root.task_policy_arn(partition)},
              "DurationSeconds": root.duration}
    response = _call(client, "AssumeRoot", request, lambda: client.assume_root(**params))
    try:
        issued = response["Credentials"]
        return Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"],
                           issued["Expiration"], root.principal_arn(partition))
    except (KeyError, TypeError):
        raise StsError(f"STS at {endpoint} answered AssumeRoot without credentials") from None


def _call(client: BaseClient, action: str, request: AssumeRoleRequest, call: Callable[[], StsAnswer]) -> StsAnswer:
    """Make one STS call; every failure becomes one StsError (or ConfigError) line."""
    from botocore.parsers import ResponseParserError
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    endpoint = client.meta.endpoint_url
    try:
        return call()
    except ClientError as exc:
        raise _explain(exc.response, request, client.meta.region_name, action) from None
    except NoCredentialsError:
        raise NoSourceCredentials() from None
    except (ConnectTimeoutError, ReadTimeoutError):
        raise StsError(f"STS at {endpoint} did not answer in time, after retries") from None
    except EndpointConnectionError:
        raise StsError(f"could not connect to STS at {endpoint}") from None
    except RuntimeError as exc:  # refreshed source credentials still expired
        raise ConfigError(f"the source credentials could not be used: {exc}") from None
    except ResponseParserError:
        # Its text quotes the raw body, which may hold issued secrets: never show it.
        raise StsError(f"STS at {endpoint} sent an answer that is not a readable {action} response") from None
    except BotoCoreError as exc:
        raise StsError(f"{action} via {endpoint} failed: {exc}") from None


SESSION_TOKEN_SECONDS = 43200


def get_session_token(client: BaseClient, serial: str, code: str, duration: int = SESSION_TOKEN_SECONDS) -> Credentials:
    """An MFA-authenticated session of the source itself (its ARN is left empty)."""
    request = AssumeRoleRequest(role_arn="(GetSessionToken)", session_name="-", duration=duration, mfa_serial=serial)
    response = _call(client, "GetSessionToken", request,
                     lambda: client.get_session_token(DurationSeconds=duration, SerialNumber=serial, TokenCode=code))
    try:
        issued = response["Credentials"]
        return Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"],
                           issued["Expiration"], "")
    except (KeyError, TypeError):
        raise StsError(f"STS at {client.meta.endpoint_url} answered GetSessionToken without credentials") from None


def _explain(response: StsAnswer, request: AssumeRoleRequest, region: str, action: str = "AssumeRole") -> StsError:
    error = response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = " ".join(str(error.get("Message", "")).split())  # one line, whatever was sent
    metadata = response.get("ResponseMetadata", {})
    attempts = metadata.get("RetryAttempts", 0) + 1
    status = metadata.get("HTTPStatusCode", 0)
    role = request.role_arn
    if request.web_identity_token_file and code in _BAD_TOKEN | _EXPIRED:
        return StsError(f"STS rejected the web identity token in {request.web_identity_token_file} "
                        f"for {role} ({code}: {message})")
    if code == "AccessDenied" and "MultiFactorAuthentication" in message:
        return StsError(f"STS refused the MFA code for {request.mfa_serial} (wrong, expired or already used)", code="MfaRejected")
    verb = "AssumeRoot" if action == "AssumeRoot" else "AssumeRole"
    if code == "AccessDenied" and verb == "AssumeRoot":
        return StsError(
            f"STS denied AssumeRoot ({role}; AccessDenied: {message}); it works only from the organization's "
            "management account or a delegated administrator for centralized root access, with root sessions "
            "enabled and sts:AssumeRoot allowed for this task policy"
        )
    if code == "AccessDenied":
        return StsError(
            f"STS denied AssumeRole on {role} (AccessDenied: {message}); check that the role's "
            "trust policy allows the source principal and that the source may call sts:AssumeRole"
        )
    if code in _BAD_KEYS:
        return StsError(f"STS rejected the source credentials ({code}): the key is invalid, deleted or its secret is wrong")
    if code in _EXPIRED:
        return StsError(f"the source credentials have expired ({code}); renew them and run again")
    if code == "ValidationError" and "DurationSeconds" in message:
        return StsError(
            f"duration {request.duration}s exceeds the maximum session duration of {role}; "
            "lower --duration or raise the role's MaxSessionDuration"
        )
    if code in _BAD_POLICY:
        return StsError(f"STS rejected the session policy ({code}: {message})")
    if code in _THROTTLED:
        return StsError(f"STS throttled {verb} ({code}) on all {attempts} attempts; wait and run again")
    if code == "RegionDisabledException":
        return StsError(f"STS is not activated in region {region}; activate it or pass another --region")
    if status >= 500:
        return StsError(f"STS failed with HTTP {status} ({code}) on all {attempts} attempts")
    return StsError(f"STS refused {verb} on {role} ({code}: {message})")
