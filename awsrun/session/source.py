"""The source credentials, found by botocore's own chain, and the STS client that signs with them.

With sts.py (the calls themselves), where a run of awsrun uses botocore. botocore is
imported when a Source is created, never at module import, so that help, usage errors
and local checks stay fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Tuple, TypeVar

from awsrun import __version__
from awsrun.credentials import Credentials, mask
from awsrun.errors import ConfigError, NoSourceCredentials
from awsrun.session.loopguard import innermost
from awsrun.session.webidentity import read_web_identity_token

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.credentials import Credentials as BotocoreCredentials
    from botocore.loaders import Loader
    from botocore.session import Session

__all__ = ["Source", "ProfileValues", "STS_ATTEMPTS"]

# botocore's standard retry mode (backoff with jitter, throttling and 5xx retried), attempts
# in all, first one included: stated here rather than left to botocore's default.
STS_ATTEMPTS = 3

T = TypeVar("T")
# A profile's settings as botocore read them: strings, and sub-sections (s3 = ...) as mappings.
ProfileValues = Mapping[str, object]


class Source:
    """The source credentials, found by botocore's own chain.

    ``dotenv_credentials`` (keys or a profile read from .env) are used only when the
    caller has established that the real environment holds none. ``use`` then narrows the
    source to what a profile names.
    """

    def __init__(self, dotenv_credentials: Mapping[str, str], issued_role: Optional[str] = None,
                 profile: Optional[str] = None) -> None:
        """``profile``: the profile the caller expects to ``use``; a session made for it is
        kept when ``use`` names it (a botocore session costs more to make than its config to read)."""
        key_id = dotenv_credentials.get("AWS_ACCESS_KEY_ID")
        secret = dotenv_credentials.get("AWS_SECRET_ACCESS_KEY")
        if bool(key_id) != bool(secret):
            raise ConfigError(".env holds only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        session_profile = profile or dotenv_credentials.get("AWS_PROFILE")
        self._session = self._new_session(session_profile)
        self._provider: Optional[str] = None
        self._web_identity: Optional[str] = None
        self._issued_role = issued_role
        # The profile a session still as botocore made it was made for: ``use`` may keep it.
        self._reusable: Optional[Tuple[Optional[str]]] = (session_profile,)
        if issued_role:  # the environment's keys are awsrun's own session, not a source
            self._session.get_component("credential_provider").remove("env")
            self._reusable = None
        if key_id:
            self._session.set_credentials(key_id, secret, dotenv_credentials.get("AWS_SESSION_TOKEN"))
            self._reusable = None

    @staticmethod
    def _new_session(profile: Optional[str]) -> Session:
        import botocore.session

        session = botocore.session.Session(profile=profile)
        # Regional endpoints: the global one is a single point of failure and slower.
        session.set_config_variable("sts_regional_endpoints", "regional")
        session.register_component("data_loader", _sts_loader(session))
        return session

    def profiles(self) -> Mapping[str, ProfileValues]:
        """Every profile of the AWS config and credentials files, as botocore read them."""
        return self._guard(lambda: self._session.full_config.get("profiles", {}))

    def use(self, profile: Optional[str] = None, keys: Optional[Mapping[str, Optional[str]]] = None,
            provider: Optional[str] = None, web_identity: Optional[str] = None) -> None:
        """Take the credentials of ``profile`` (as botocore resolves it), static ``keys``, or
        the named provider of botocore's chain ('env', 'container-role', 'iam-role'); with
        ``web_identity`` (a token file) no credentials: the first hop is an unsigned call."""
        if self._reusable != (profile,):
            self._session = self._new_session(profile)
            if self._issued_role:
                self._session.get_component("credential_provider").remove("env")
        self._reusable = None
        self._provider = provider
        self._web_identity = web_identity
        if keys:
            self._session.set_credentials(
                keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"], keys.get("AWS_SESSION_TOKEN")
            )

    def _credentials(self) -> Optional[BotocoreCredentials]:
        if self._provider:
            resolver = self._session.get_component("credential_provider")
            return resolver.get_provider(self._provider).load()
        return self._session.get_credentials()

    def configured_region(self) -> Optional[str]:
        """The region of the active profile in ~/.aws/config, if any."""
        return self._guard(lambda: self._session.get_config_variable("region"))

    def scoped_config(self) -> ProfileValues:
        """The settings of the profile in use, as botocore resolved it."""
        return self._guard(self._session.get_scoped_config)

    def describe(self) -> str:
        """How the source credentials were found and their masked key id."""
        if self._web_identity:
            read_web_identity_token(self._web_identity)  # a missing or empty file is said before STS
            return f"web identity token in {self._web_identity}"
        credentials = self._guard(self._credentials)
        if credentials is None:
            raise self._none_found()
        frozen = self._guard(credentials.get_frozen_credentials)
        return f"{credentials.method} ({mask(frozen.access_key)})"

    def long_term(self) -> bool:
        """Whether the source is long-term keys (an IAM user's), the only kind STS gives an
        MFA session (GetSessionToken) to."""
        credentials = self._guard(self._credentials)
        return credentials is not None and not self._guard(credentials.get_frozen_credentials).token

    def client(self, region: str, connect_timeout: float, read_timeout: float,
               credentials: Optional[Credentials] = None, max_pool_connections: int = 10,
               service: str = "sts", max_attempts: int = STS_ATTEMPTS) -> BaseClient:
        """An STS client signing with the source credentials, or with ``credentials`` (a chain).

        ``max_pool_connections``: how many threads may share the client (--each-role);
        ``service``: another service's client made the same way (organizations, for --each-account)."""
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_pool_connections,
            user_agent_extra=f"awsrun/{__version__}",
        )
        if credentials is None and self._web_identity:  # the token is the proof: nothing to sign with
            config = config.merge(Config(signature_version=UNSIGNED))
        keys: Dict[str, Optional[str]] = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token,
            }
        elif self._provider:
            found = self._guard(self._credentials)
            if found is None:
                raise NoSourceCredentials(f" (credential_source: botocore's {self._provider!r} provider)")
            frozen = self._guard(found.get_frozen_credentials)
            keys = {
                "aws_access_key_id": frozen.access_key,
                "aws_secret_access_key": frozen.secret_key,
                "aws_session_token": frozen.token,
            }
        return self._guard(lambda: self._session.create_client(service, region_name=region, config=config, **keys))

    def _none_found(self) -> NoSourceCredentials:
        if self._issued_role:
            return NoSourceCredentials(
                f" (the AWS keys in the environment are awsrun's own session of {self._issued_role}, "
                "not a source; to chain roles, give --role twice)"
            )
        return NoSourceCredentials()

    def _guard(self, call: Callable[[], T]) -> T:
        from botocore.exceptions import BotoCoreError, MissingDependencyException, NoCredentialsError, ProfileNotFound

        try:
            return call()
        except NoCredentialsError:
            raise self._none_found() from None
        except MissingDependencyException:  # today only `aws login` sessions (login_session) need it
            raise ConfigError(
                "the source credentials (an `aws login` session: login_session) need botocore's CRT extra: "
                "pip install 'awsrun[login]' (or 'botocore[crt]>=1.41')"
            ) from None
        except ProfileNotFound as exc:
            raise ConfigError(f"{exc} (check AWS_PROFILE and AWS_CONFIG_FILE)") from None
        except BotoCoreError as exc:
            loop = innermost(str(exc))  # a credential_process awsrun that found itself
            raise ConfigError(loop or f"could not load the source credentials: {exc}") from None
        except RuntimeError as exc:  # botocore's word for credentials that stay expired
            raise ConfigError(f"the source credentials could not be used: {exc}") from None


def _sts_loader(session: Session) -> Loader:
    """botocore's data loader, told that STS is the service wanted.

    Before loading a model, botocore's loader lists every service it could load, walking
    the ~400 folders of its data (twice, once per file type): a fifth of a cold run. awsrun
    itself only loads STS; the services a source provider needs (SSO) are listed as before.
    The loader still searches the same paths, AWS_DATA_PATH included.
    """
    from botocore.exceptions import BotoCoreError
    from botocore.loaders import Loader

    class StsLoader(Loader):
        _wanted = "sts"

        def load_service_model(self, service_name: str, type_name: str, api_version: Optional[str] = None) -> object:
            self._wanted = service_name
            return super().load_service_model(service_name, type_name, api_version)

        def list_available_services(self, type_name: str) -> list:
            # Source providers load their own services (SSO: sso, sso-oidc; aws login: signin).
            return ["sts"] if self._wanted == "sts" else super().list_available_services(type_name)

    try:
        data_path = session.get_config_variable("data_path")
    except BotoCoreError:  # a missing profile, an unreadable config: said where credentials load
        data_path = None
    return StsLoader(extra_search_paths=data_path.split(os.pathsep) if data_path else None)
