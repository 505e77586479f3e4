"""What is wrong with a role that is not a role ARN, in the words of the likely mistake.

Only reached once ``validate.role`` has refused the value. Every piece of the value a
message repeats has matched a strict pattern first; the value itself is quoted by
InvalidValue.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

__all__ = ["role_problem"]

_NAME = r"[\w+=,.@-]{1,64}"
_NOT_ROLES = {"user": "a user", "group": "a group", "policy": "a policy", "mfa": "an MFA device",
              "instance-profile": "an instance profile", "root": "an account root", "oidc-provider": "an OIDC provider",
              "saml-provider": "a SAML provider", "server-certificate": "a server certificate"}


def _safe(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text, re.ASCII) is not None


def role_problem(value: str, partitions: Iterable[str]) -> Optional[str]:
    """One sentence naming the mistake, or None when no single one stands out."""
    if value != value.strip():
        return "remove the white space around it"
    if not value.startswith("arn:"):
        return _shorthand_problem(value)
    parts = value.split(":", 5)
    if len(parts) < 6:
        return "an ARN has six parts: arn:PARTITION:iam::ACCOUNT:role/NAME"
    _, partition, service, region, account, resource = parts
    if partition not in partitions:
        return f"unknown partition; expected one of {', '.join(partitions)}"
    suggestion = _from_session(partition, service, account, resource)
    if suggestion:
        return suggestion
    if service != "iam":
        return f"not an IAM ARN; expected arn:{partition}:iam::ACCOUNT:role/NAME"
    if region:
        return f"IAM ARNs name no region: arn:{partition}:iam::ACCOUNT:role/NAME (two colons after iam)"
    problem = _account_problem(account)
    if problem:
        return problem
    kind = resource.split("/", 1)[0]
    if kind in _NOT_ROLES:
        return f"{_NOT_ROLES[kind]} ARN, not a role: awsrun assumes roles, arn:{partition}:iam::{account}:role/NAME"
    if not resource.startswith("role/"):
        fixed = f" (arn:{partition}:iam::{account}:role/{resource}?)" if _safe(rf"(?:[!-~]*/)?{_NAME}", resource) else ""
        return f"missing 'role/' before the role name{fixed}"
    return _path_and_name_problem(resource[len("role/"):])


def _from_session(partition: str, service: str, account: str, resource: str) -> Optional[str]:
    """A pasted assumed-role session ARN names the role it came from."""
    if service != "sts" or not resource.startswith("assumed-role/"):
        return None
    name = resource.split("/")[1] if resource.count("/") >= 2 else ""
    if _safe(r"\d{12}", account) and _safe(_NAME, name):
        return (f"that is an assumed-role session ARN (what get-caller-identity shows); the role is "
                f"arn:{partition}:iam::{account}:role/{name} (with its path, if it has one)")
    return "that is an assumed-role session ARN; name the role: arn:PARTITION:iam::ACCOUNT:role/NAME"


def _account_problem(account: str) -> Optional[str]:
    if _safe(r"\d{12}", account):
        return None
    if _safe(r"\d{1,40}", account):
        return f"the account id has {len(account)} digits; AWS account ids have 12"
    if not account:
        return "the account id is missing: arn:PARTITION:iam::ACCOUNT:role/NAME"
    return "the account id must be 12 digits"


def _shorthand_problem(value: str) -> Optional[str]:
    account, sep, rest = value.partition(":")
    if not sep:
        return "expected a role ARN, arn:PARTITION:iam::ACCOUNT:role/NAME, or ACCOUNT:NAME"
    problem = _account_problem(account)
    if problem:
        return problem + " (ACCOUNT:NAME)"
    return _path_and_name_problem(rest[len("role/"):] if rest.startswith("role/") else rest)


def _path_and_name_problem(path_and_name: str) -> Optional[str]:
    path, _, name = path_and_name.rpartition("/")
    if not name:
        return "the role name is missing after the last '/'"
    if len(name) > 64:
        return f"the role name has {len(name)} characters; at most 64"
    if not _safe(r"[\w+=,.@-]+", name):
        return "a role name holds only ASCII letters, digits and _+=,.@-"
    if len(path) + 1 > 511:
        return "the role path is longer than IAM's 512 characters"
    if path and not _safe(r"[!-~]*", path):
        return "a role path holds only printable ASCII characters, no spaces"
    return None
