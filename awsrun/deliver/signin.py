"""--console: a sign-in URL for the role session, from the partition's federation endpoint.

The federation endpoint is not a signed AWS API: a plain HTTPS GET (urllib) trades the
role session's keys for a sign-in token, and the login URL carries that token. Both the
request and the URL are secrets: neither is logged, and an error names only the host.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable, List, Mapping, NamedTuple, Optional
from urllib.parse import urlencode, urlsplit

from awsrun.config.validate import region_partition
from awsrun.credentials import Credentials
from awsrun.errors import AwsrunError, ConfigError

if TYPE_CHECKING:
    from awsrun.session.walk import Prepared

__all__ = ["SigninError", "Endpoints", "ENDPOINT_VARIABLE", "ISSUER", "partition_of", "endpoints",
           "endpoint_override", "console_duration", "signin_token", "login_url"]

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_SIGNIN"
ISSUER = "awsrun"
# The federation endpoint and the console of each partition that has them.
SIGNIN_HOSTS = {"aws": "signin.aws.amazon.com", "aws-us-gov": "signin.amazonaws-us-gov.com",
                "aws-cn": "signin.amazonaws.cn"}
CONSOLE_HOSTS = {"aws": "console.aws.amazon.com", "aws-us-gov": "console.amazonaws-us-gov.com",
                 "aws-cn": "console.amazonaws.cn"}
_MAX_ANSWER = 64 * 1024  # a sign-in token is about 1 KiB
_LOOPBACK = ("127.0.0.1", "::1")


class SigninError(AwsrunError):
    """The federation endpoint gave no sign-in token."""


class Endpoints(NamedTuple):
    """Where to ask for the token, and the console page the login lands on."""

    federation: str  # https://HOST/federation
    destination: str


def partition_of(credentials: Credentials, region: str) -> str:
    """The session's partition, from its assumed-role ARN (arn:PARTITION:sts::...), else its region's."""
    parts = credentials.assumed_role_arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else region_partition(region)


def endpoints(partition: str, region: str, override: Optional[str]) -> Endpoints:
    """The federation endpoint and console page of ``partition``; ``override``: $AWS_ENDPOINT_URL_SIGNIN."""
    if override:
        federation = _checked_override(override)
    elif partition in SIGNIN_HOSTS:
        federation = f"https://{SIGNIN_HOSTS[partition]}/federation"
    else:
        raise ConfigError(f"--console knows the sign-in endpoints of the aws, aws-us-gov and aws-cn partitions, "
                          f"not of {partition!r} (the session's): set {ENDPOINT_VARIABLE} to its federation "
                          "endpoint (https://HOST/federation)")
    if partition == "aws":
        host = CONSOLE_HOSTS["aws"] if region == "us-east-1" else f"{region}.{CONSOLE_HOSTS['aws']}"
    elif partition in CONSOLE_HOSTS:
        host = CONSOLE_HOSTS[partition]
    else:  # a private partition: its console beside its sign-in host
        name = urlsplit(federation).netloc
        host = "console." + name[len("signin."):] if name.startswith("signin.") else name
    scheme = "https" if partition in CONSOLE_HOSTS or urlsplit(federation).scheme == "https" else "http"
    return Endpoints(federation, f"{scheme}://{host}/console/home?{urlencode({'region': region})}")


def _checked_override(value: str) -> str:
    """$AWS_ENDPOINT_URL_SIGNIN: HTTPS, or HTTP to this machine only (tests); /federation unless a path is given."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or not host or parts.query or parts.fragment or parts.username or parts.password \
            or not (parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)):
        raise ConfigError(f"invalid ${ENDPOINT_VARIABLE} {value!r}: expected https://HOST/federation "
                          "(http only to 127.0.0.1), without a query")
    path = parts.path if parts.path not in ("", "/") else "/federation"
    return f"{parts.scheme}://{parts.netloc}{path}"


def console_duration(prepared: Prepared) -> Optional[int]:
    """SessionDuration where AWS takes it: one AssumeRole made with an IAM user's long-term keys.

    A chained role session (two hops, or a temporary source: web identity, SSO, a session
    token) is refused with it ("invalid credentials parameter"); without it the console
    session lasts what is left of the role session, at most an hour."""
    hops = prepared.hops
    if len(hops) != 1 or hops[0].request.web_identity_token_file:
        return None
    return hops[0].request.duration if prepared.source.long_term() else None


def signin_token(federation: str, credentials: Credentials, duration: Optional[int], timeout: float) -> str:
    """getSigninToken: the role session's keys for a sign-in token (never logged: the query holds the keys)."""
    import socket  # here: --console's local check (before STS) needs none of these
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        """A redirect would carry the session's keys in its query elsewhere: it is an error."""

        def redirect_request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            return None

    session = json.dumps({"sessionId": credentials.access_key_id, "sessionKey": credentials.secret_access_key,
                          "sessionToken": credentials.session_token})
    query = {"Action": "getSigninToken", "Session": session}
    if duration is not None:
        query["SessionDuration"] = str(duration)
    host = urlsplit(federation).netloc
    handlers: List[urllib.request.BaseHandler] = [NoRedirect()]
    if urlsplit(federation).hostname in _LOOPBACK:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(f"{federation}?{urlencode(query)}", timeout=timeout) as answer:
            body = answer.read(_MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        raise SigninError(f"the federation endpoint {host} answered HTTP {exc.code}") from None
    except (socket.timeout, TimeoutError):
        raise SigninError(f"the federation endpoint {host} did not answer within {timeout:g} seconds") from None
    except urllib.error.URLError as exc:
        raise SigninError(f"could not reach the federation endpoint {host}: {_reason(exc.reason)}") from None
    except OSError as exc:
        raise SigninError(f"could not read the answer of the federation endpoint {host}: "
                          f"{exc.strerror or exc.__class__.__name__}") from None
    try:
        token = json.loads(body.decode("utf-8")).get("SigninToken") if len(body) <= _MAX_ANSWER else None
    except (ValueError, AttributeError):
        raise SigninError(f"the federation endpoint {host} answered something other than JSON") from None
    if not isinstance(token, str) or not token:
        raise SigninError(f"the federation endpoint {host} answered no SigninToken")
    return token


def login_url(place: Endpoints, token: str) -> str:
    """The URL that signs the browser in as the role session and lands on the console page."""
    return f"{place.federation}?" + urlencode({"Action": "login", "Issuer": ISSUER,
                                                "Destination": place.destination, "SigninToken": token})


def endpoint_override(environ: Mapping[str, str], child_base: Mapping[str, str],
                      warn: Callable[[str], None]) -> Optional[str]:
    """$AWS_ENDPOINT_URL_SIGNIN from the real environment only: the endpoint gets the role's keys,
    and a .env comes with a folder that may be anyone's."""
    if not environ.get(ENDPOINT_VARIABLE) and child_base.get(ENDPOINT_VARIABLE):
        warn(f"{ENDPOINT_VARIABLE} in a .env file is not used: the federation endpoint receives the role's "
             "keys, so only the real environment may name it")
    return environ.get(ENDPOINT_VARIABLE) or None


def _reason(reason: object) -> str:
    if isinstance(reason, OSError):
        return reason.strerror or reason.__class__.__name__
    return str(reason)

