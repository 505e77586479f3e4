"""--each-account: its options checked locally, the organization's accounts listed
(session/org.py), filtered (--ou, --account-tag, --skip-account) and turned into roles.

The accounts are listed with the source credentials, or with the session of the --role hops
(or of the -p profile's role): the jump into the management or a delegated-admin account.
The filters are pure functions over the listing and two lookups, so they test as tables.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from awsrun.config import validate
from awsrun.config.validate import RoleRef
from awsrun.errors import ConfigError, InvalidValue, UsageError

if TYPE_CHECKING:
    from awsrun.config.plan import Plan
    from awsrun.config.settings import ArgValue
    from awsrun.credentials import Credentials
    from awsrun.session.org import Account
    from awsrun.session.walk import Prepared
    from awsrun.text import Console

__all__ = ["Fleet", "OPTIONS", "options", "select", "roles", "listed"]

# The options that only mean something with --each-account.
OPTIONS = ("role-name", "ou", "account-tag", "skip-account")
_ROLE_NAME = r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}"
_PARENT = r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}"
_ACCOUNT = r"\d{12}"
# The account of the role planned while the real ones are not known yet (never assumed).
_PLACEHOLDER = "000000000000"


class Fleet(NamedTuple):
    """What --each-account selects: the role in each account and the filters, in the order given."""

    role_name: str
    ous: Tuple[str, ...]
    tags: Tuple[Tuple[str, str], ...]
    skip: Tuple[str, ...]


def options(raw: Mapping[str, ArgValue]) -> Optional[Fleet]:
    """The fleet's options, checked before any AWS call; None without --each-account."""
    if not raw["each-account"]:
        given = next((name for name in OPTIONS if raw[name]), None)
        if given:
            raise UsageError(f"--{given} goes with --each-account")
        return None
    name = str(raw["role-name"] or "")
    if not name:
        raise UsageError("--each-account needs --role-name NAME: the role to assume in each account")
    if not re.fullmatch(_ROLE_NAME, name, re.ASCII) or len(name) > 512:
        closest = name.rsplit(":role/", 1)[-1].strip("/") if name.startswith("arn:") or "/" in name[:1] else ""
        hint = f" (did you mean {closest}?)" if closest and re.fullmatch(_ROLE_NAME, closest, re.ASCII) else ""
        raise InvalidValue("role-name", name, f"expected NAME or PATH/NAME of A-Z a-z 0-9 _+=,.@-{hint}")
    for parent in _list(raw["ou"]):
        if not re.fullmatch(_PARENT, parent, re.ASCII):
            raise InvalidValue("ou", parent, "expected an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)")
    for account in _list(raw["skip-account"]):
        if not re.fullmatch(_ACCOUNT, account, re.ASCII):
            raise InvalidValue("skip-account", account, "expected a 12-digit account id")
    pairs = []
    for item in _list(raw["account-tag"]):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidValue("account-tag", item, "expected KEY=VALUE")
        pairs.append((key, value))
    return Fleet(name, tuple(_list(raw["ou"])), tuple(pairs), tuple(_list(raw["skip-account"])))


def _list(value: ArgValue) -> List[str]:
    return [str(item) for item in value] if isinstance(value, list) else ([str(value)] if value else [])


def placeholder(fleet: Fleet) -> RoleRef:
    """A role to plan the hops before the fleet's with; never assumed."""
    return RoleRef(None, _PLACEHOLDER, fleet.role_name)


def select(accounts: Sequence[Account], fleet: Fleet, under: Callable[[str], Set[str]],
           tags_of: Callable[[Sequence[str]], Mapping[str, Mapping[str, str]]]) -> List[Account]:
    """The accounts the filters keep, ordered by id; an empty result names the filter that emptied it.

    ``under``: the account ids under an OU or root; ``tags_of``: the tags of each account id
    (called once, only with --account-tag, for the accounts the other filters kept)."""
    left = sorted(accounts, key=lambda account: account.id)
    if not left:
        raise ConfigError("the organization lists no ACTIVE account: nothing to run")
    if fleet.ous:
        inside: Set[str] = set()
        for parent in fleet.ous:
            inside |= under(parent)
        left = [account for account in left if account.id in inside]
        _not_empty(left, f"--ou {', '.join(fleet.ous)}", f"no ACTIVE account is under {'any of them' if len(fleet.ous) > 1 else 'it'}")
    if fleet.skip:
        left = [account for account in left if account.id not in fleet.skip]
        _not_empty(left, f"--skip-account {', '.join(fleet.skip)}", "it left no account out of those selected")
    if fleet.tags:
        found = tags_of([account.id for account in left])
        left = [account for account in left
                if all(found.get(account.id, {}).get(key) == value for key, value in fleet.tags)]
        shown = ", ".join(f"{key}={value}" for key, value in fleet.tags)
        _not_empty(left, f"--account-tag {shown}", "no selected account has all of these tags")
    return left


def _not_empty(left: Sequence[Account], option: str, why: str) -> None:
    if not left:
        raise ConfigError(f"{option} emptied the account list: {why}")


def roles(accounts: Sequence[Account], fleet: Fleet) -> Tuple[RoleRef, ...]:
    return tuple(validate.role(f"{account.id}:{fleet.role_name}") for account in accounts)


def listed(fleet: Fleet, shared: Plan, prepared: Prepared, parallel: int,
           console: Console) -> Tuple[List[Account], Optional[Credentials]]:
    """The selected accounts, and the session of the --role hops when there are some (to
    assume each account's role from, without asking for an MFA code twice)."""
    from awsrun.session import chain, org, rolesession, walk

    config = shared.config
    timeouts = (config.connect_timeout, config.read_timeout)
    jump = prepared.hops[:-1]  # the --role hops (the placeholder is the last)
    listing = jump
    if not config.roles and prepared.profile_chain and prepared.profile_chain.hops:
        # -p names the management account's role: the listing uses its session; each account's
        # role is assumed from the profile's source, as --each-role does.
        listing = chain.plan(config, prepared.profile_chain, validate.region_partition(prepared.region))
    credentials = (walk.assume_all(prepared.source, listing, prepared.region, timeouts, config.mfa_code,
                                   rolesession.mfa_prompt, console.warn) if listing else None)
    client = org.client(prepared.source, prepared.region, timeouts, credentials, parallel)

    def tags_of(ids: Sequence[str]) -> Dict[str, Mapping[str, str]]:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="awsrun-tags") as pool:
            return dict(zip(ids, pool.map(lambda account: org.tags(client, account), ids)))

    accounts = select(org.active_accounts(client), fleet, lambda parent: org.accounts_under(client, parent), tags_of)
    return accounts, credentials if jump else None
