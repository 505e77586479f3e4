"""AWS Organizations, for --each-account: the organization's accounts, the accounts under an
OU or root, an account's tags. One call at a time per caller, paginated by botocore.

The client is made by source.Source like the STS client (same source credentials, or a
--role/-p session), with botocore's standard retries; botocore loads inside the calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Set, Tuple, TypeVar

from awsrun.credentials import Credentials
from awsrun.errors import ConfigError, NoSourceCredentials, StsError

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from awsrun.session.source import Source

__all__ = ["Account", "ORGANIZATIONS_ATTEMPTS", "client", "active_accounts", "accounts_under", "tags"]

# Organizations throttles at a few calls a second per account: more attempts than STS's.
ORGANIZATIONS_ATTEMPTS = 8
T = TypeVar("T")
# A page of an Organizations answer as botocore parses it.
Page = Mapping[str, object]


class Account(NamedTuple):
    """An account of the organization: only what --each-account shows and filters by."""

    id: str
    name: str


def client(source: Source, region: str, timeouts: Tuple[float, float], credentials: Optional[Credentials],
           pool: int) -> BaseClient:
    """An Organizations client signing like the STS client would (``credentials``: a --role session)."""
    return source.client(region, *timeouts, credentials=credentials, max_pool_connections=pool,
                         service="organizations", max_attempts=ORGANIZATIONS_ATTEMPTS)


def _pages(org: BaseClient, operation: str, **params: str) -> Iterator[Page]:
    return iter(org.get_paginator(operation).paginate(**params))


def active_accounts(org: BaseClient) -> List[Account]:
    """Every ACTIVE account (ListAccounts, page by page): only ids and names are kept."""

    def listing() -> List[Account]:
        found = []
        for page in _pages(org, "list_accounts"):
            for account in page.get("Accounts", []):  # type: ignore[attr-defined]
                if account.get("Status") == "ACTIVE":
                    found.append(Account(str(account["Id"]), str(account.get("Name", ""))))
        return found

    return _call(org, "ListAccounts", listing)


def accounts_under(org: BaseClient, parent: str) -> Set[str]:
    """The ids of the accounts under an OU or root, nested OUs included: one ListAccountsForParent
    and one ListChildren per OU (fewer calls than ListParents per account)."""

    def walk() -> Set[str]:
        found: Set[str] = set()
        pending = [parent]
        while pending:
            current = pending.pop()
            for page in _pages(org, "list_accounts_for_parent", ParentId=current):
                found.update(str(account["Id"]) for account in page.get("Accounts", []))  # type: ignore[attr-defined]
            for page in _pages(org, "list_children", ParentId=current, ChildType="ORGANIZATIONAL_UNIT"):
                pending.extend(str(child["Id"]) for child in page.get("Children", []))  # type: ignore[attr-defined]
        return found

    return _call(org, f"the accounts under {parent}", walk)


def tags(org: BaseClient, account: str) -> Dict[str, str]:
    """An account's tags (ListTagsForResource)."""

    def listing() -> Dict[str, str]:
        found = {}
        for page in _pages(org, "list_tags_for_resource", ResourceId=account):
            found.update({str(tag["Key"]): str(tag["Value"]) for tag in page.get("Tags", [])})  # type: ignore[attr-defined]
        return found

    return _call(org, f"the tags of account {account}", listing)


def _call(org: BaseClient, what: str, call: Callable[[], T]) -> T:
    """Run the calls; every failure becomes one line naming what was asked and why it failed."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    endpoint = org.meta.endpoint_url
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = " ".join(str(error.get("Message", "")).split())
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        if code in ("ThrottlingException", "TooManyRequestsException", "Throttling"):
            raise StsError(f"Organizations throttled {what} ({code}) on all {attempts} attempts; wait and run again") from None
        if code in ("AccessDeniedException", "AccessDenied", "AWSOrganizationsNotInUseException"):
            raise ConfigError(
                f"Organizations refused {what} ({code}: {message}); list accounts from the management or a "
                "delegated-admin account (--role or -p into it) with organizations:ListAccounts, "
                "ListAccountsForParent, ListChildren and ListTagsForResource") from None
        raise ConfigError(f"Organizations refused {what} ({code}: {message})") from None
    except NoCredentialsError:
        raise NoSourceCredentials() from None
    except BotoCoreError as exc:
        raise StsError(f"Organizations at {endpoint} failed for {what}: {exc}") from None
