"""The AWS calls awsrun-keys makes, through raw botocore: STS GetCallerIdentity and IAM's access-key calls.

botocore is imported on first use. Every client signs with the key it is given, never with
botocore's credential chain, and every failure becomes one line with key ids masked.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Callable, List, Mapping, NamedTuple, Optional, Tuple

from awsrun import __version__
from awsrun.credentials import mask
from awsrun.errors import AwsrunError

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["AwsKeyError", "KeyRejected", "AccessKey", "Aws", "user_name"]

_BAD_KEYS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "InvalidAccessKeyId", "AuthFailure"}
_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12,}\b")


class AwsKeyError(AwsrunError):
    """IAM or STS refused a call, or could not be reached."""


class KeyRejected(AwsKeyError):
    """STS does not (or not yet) accept a key."""


class AccessKey(NamedTuple):
    key_id: str
    status: str
    created: float  # epoch seconds

    def __repr__(self) -> str:
        return f"AccessKey({mask(self.key_id)!r}, {self.status!r})"


def user_name(arn: str) -> Optional[str]:
    """The IAM user name in a user ARN (arn:aws:iam::123:user/path/NAME), else None."""
    match = re.fullmatch(r"arn:[^:]+:iam::\d{12}:user/(?:.*/)?([^/]+)", arn)
    return match.group(1) if match else None


class Aws:
    """STS and IAM clients for one key at a time; ``region`` picks the partition and STS endpoint."""

    def __init__(self, environ: Mapping[str, str], connect_timeout: float = 5, read_timeout: float = 10) -> None:
        import botocore.session
        from botocore.config import Config
        from botocore.loaders import Loader

        class KeysLoader(Loader):  # see source._sts_loader: listing ~400 services is a fifth of a cold run
            def list_available_services(self, type_name: str) -> list:
                return ["iam", "sts"]

        self._session = botocore.session.Session()
        self._session.set_config_variable("sts_regional_endpoints", "regional")
        data_path = environ.get("AWS_DATA_PATH")
        self._session.register_component("data_loader", KeysLoader(extra_search_paths=data_path.split(os.pathsep) if data_path else None))
        self.region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self._config = Config(
            retries={"mode": "standard"}, connect_timeout=connect_timeout, read_timeout=read_timeout,
            user_agent_extra=f"awsrun-keys/{__version__}",
        )

    def _client(self, service: str, key_id: str, secret: str) -> BaseClient:
        from botocore.exceptions import BotoCoreError

        try:
            return self._session.create_client(
                service, region_name=self.region, config=self._config,
                aws_access_key_id=key_id, aws_secret_access_key=secret,
            )
        except BotoCoreError as exc:  # e.g. AWS_PROFILE naming a profile that does not exist
            raise AwsKeyError(f"could not set up the {service.upper()} client: {exc}", code="") from None

    def identity(self, key_id: str, secret: str) -> str:
        """The ARN GetCallerIdentity reports for the key; KeyRejected when STS refuses it."""
        client = self._client("sts", key_id, secret)
        answer = self._call("STS GetCallerIdentity", client, key_id, lambda: client.get_caller_identity())
        return _field("STS GetCallerIdentity", client, answer, "Arn")

    def list_keys(self, key_id: str, secret: str, user: str) -> List[AccessKey]:
        client = self._client("iam", key_id, secret)
        found = self._call("IAM ListAccessKeys", client, key_id, lambda: client.list_access_keys(UserName=user))
        items = found.get("AccessKeyMetadata", []) if isinstance(found, dict) else None
        if not isinstance(items, list):
            raise _unreadable("IAM ListAccessKeys", client, "AccessKeyMetadata")
        return [AccessKey(_field("IAM ListAccessKeys", client, item, "AccessKeyId"), str(item.get("Status", "")),
                          _epoch(item.get("CreateDate"))) for item in items]

    def create_key(self, key_id: str, secret: str, user: str) -> Tuple[str, str, float]:
        """A new access key for ``user``: (key id, secret, created)."""
        client = self._client("iam", key_id, secret)
        what = "IAM CreateAccessKey"
        made = self._call(what, client, key_id, lambda: client.create_access_key(UserName=user))
        made = made.get("AccessKey") if isinstance(made, dict) else None
        if not isinstance(made, dict):
            raise _unreadable(what, client, "AccessKey")
        new_id = _field(what, client, made, "AccessKeyId")
        # Without its secret the new key is useless; say its id, so that it can be deleted in IAM.
        new_secret = _field(what, client, made, "SecretAccessKey", f"; delete the new key {mask(new_id)} in IAM")
        return new_id, new_secret, _epoch(made.get("CreateDate"))

    def delete_key(self, key_id: str, secret: str, user: str, old_key_id: str) -> bool:
        """Delete ``old_key_id``; False when IAM no longer has it."""
        client = self._client("iam", key_id, secret)
        try:
            self._call("IAM DeleteAccessKey", client, key_id, lambda: client.delete_access_key(UserName=user, AccessKeyId=old_key_id))
        except AwsKeyError as exc:
            if exc.fields.get("code") == "NoSuchEntity":
                return False
            raise
        return True

    def _call(self, what: str, client: BaseClient, key_id: str, call: Callable[[], object]) -> object:
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        try:
            return call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = _KEY_ID.sub(lambda found: mask(found.group(0)), " ".join(str(error.get("Message", "")).split()))
            if code in _BAD_KEYS:
                raise KeyRejected(f"{what} rejected the key {mask(key_id)} ({code})", code=code) from None
            raise AwsKeyError(f"{what} failed with the key {mask(key_id)} ({code}: {message})", code=code) from None
        except ResponseParserError:
            # Its text quotes the raw body, which may hold a new secret: never show it.
            raise _unreadable(what, client) from None
        except BotoCoreError as exc:
            text = _KEY_ID.sub(lambda found: mask(found.group(0)), " ".join(str(exc).split()))
            raise AwsKeyError(f"{what} failed: {text}", code="") from None


def _unreadable(what: str, client: object, missing: str = "", then: str = "") -> AwsKeyError:
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", "?")
    why = f" (no {missing})" if missing else ""
    return AwsKeyError(f"{what} at {endpoint} sent an answer awsrun-keys cannot read{why}{then}", code="")


def _field(what: str, client: object, answer: object, name: str, then: str = "") -> str:
    """``answer[name]`` as a non-empty string, or one line naming the service and the missing field."""
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value:
        raise _unreadable(what, client, name, then)
    return value


def _epoch(moment: object) -> float:
    import time
    from datetime import datetime  # only an answer of IAM's has dates: kept off awsrun-keys' other paths

    return moment.timestamp() if isinstance(moment, datetime) else time.time()
