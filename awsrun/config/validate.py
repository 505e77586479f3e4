"""Pure checks of every value that can be refused before STS is called (the --policy
document's are in policydoc.py).

Each check returns the value in the form awsrun uses, or raises InvalidValue naming
the value and the rule. Nothing here touches the network or imports botocore.
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple, Optional, Sequence, Tuple

from awsrun.credentials import mask
from awsrun.errors import InvalidValue

__all__ = [
    "PARTITIONS",
    "RoleRef",
    "role",
    "region_partition",
    "check_partition",
    "session_name",
    "duration",
    "session_duration",
    "seconds_of",
    "external_id",
    "source_identity",
    "tags",
    "transitive_tags",
    "policy_arns",
    "timeout",
    "mfa_serial",
    "mfa_code",
    "chained_duration",
    "output_format",
    "min_ttl",
    "expect",
]

# Region names of each partition, as botocore's partitions.json describes them. Kept here
# so that a local check never has to import botocore.
PARTITIONS = {
    "aws": r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+",
    "aws-cn": r"cn-\w+-\d+",
    "aws-us-gov": r"us-gov-\w+-\d+",
    "aws-iso": r"us-iso-\w+-\d+",
    "aws-iso-b": r"us-isob-\w+-\d+",
    "aws-iso-e": r"eu-isoe-\w+-\d+",
    "aws-iso-f": r"us-isof-\w+-\d+",
    "aws-eusc": r"eusc-de-\w+-\d+",
}
_PARTITION_NAMES = "|".join(re.escape(p) for p in sorted(PARTITIONS, key=len, reverse=True))

_NAME_CHARS = r"[\w+=,.@-]"
# A role name's characters (IAM's [\w+=,.@-], ASCII). Roles are checked by their parts, not
# by a pattern: compiling one costs a cache hit more than the whole check.
_ROLE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-")
_POLICY_ARN = (
    rf"arn:(?:{_PARTITION_NAMES}):iam::(?:\d{{12}}|aws):policy/(?:[!-~]*/)?{_NAME_CHARS}{{1,128}}"
)
_SESSION_NAME = rf"{_NAME_CHARS}{{2,64}}"
_EXTERNAL_ID = r"[\w+=,.@:/-]{2,1224}"
_TAG_PUNCTUATION = set("_.:/=+-@")


def _full(pattern: str, value: str) -> "Optional[re.Match]":
    """Match all of ``value``; patterns compile on first use (re caches them), not at import."""
    return re.fullmatch(pattern, value, re.ASCII)


ROLE_RULE = "expected arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME or ACCOUNT:NAME"
MAX_TAGS = 50
MAX_POLICY_ARNS = 10


class RoleRef(NamedTuple):
    """A role named by full ARN (partition known) or by ACCOUNT:NAME (partition from region)."""

    partition: Optional[str]
    account: str
    path_and_name: str

    def arn(self, partition: str) -> str:
        return f"arn:{self.partition or partition}:iam::{self.account}:role/{self.path_and_name}"


def role(value: str) -> RoleRef:
    """Check a role ARN (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME) or its ACCOUNT:[role/]NAME shorthand."""
    parts = value.split(":", 5)
    if parts[0] == "arn" and len(parts) == 6:
        _, partition, service, region, account, resource = parts
        known = partition in PARTITIONS and service == "iam" and not region and resource.startswith("role/")
        found = RoleRef(partition, account, resource[5:]) if known else None
    else:
        account, colon, resource = value.partition(":")
        found = RoleRef(None, account, resource[5:] if resource.startswith("role/") else resource) if colon else None
    if found is None or not _is_account(found.account) or not _is_path_and_name(found.path_and_name):
        # Here, not at the top: only a refused role needs the diagnosis.
        from awsrun.config.rolecheck import role_problem

        raise InvalidValue("role", value, role_problem(value, list(PARTITIONS)) or ROLE_RULE)
    return found


def _is_account(text: str) -> bool:
    return len(text) == 12 and text.isascii() and text.isdigit()


def _is_path_and_name(text: str) -> bool:
    """[PATH/]NAME: a path of printable ASCII, 512 characters at most with its leading /, and a name
    of 1-64 characters."""
    path, _, name = text.rpartition("/")
    if not 1 <= len(name) <= 64 or not _ROLE_NAME_CHARS.issuperset(name):
        return False
    return not path or (len(path) < 511 and path.isascii() and path.isprintable() and " " not in path)


def region_partition(region: str) -> str:
    """Return the partition a region belongs to."""
    for partition, pattern in PARTITIONS.items():
        if re.fullmatch(pattern, region, re.ASCII):
            return partition
    raise InvalidValue(
        "region", region, "not a region of any known partition (expected e.g. us-east-1)"
    )


def session_name(value: str) -> str:
    if not _full(_SESSION_NAME, value):
        raise InvalidValue("session name", value, r"expected 2-64 characters of [\w+=,.@-]")
    return value


def duration(value: str) -> int:
    digits = value.lstrip("0")
    seconds = int(digits or "0") if value.isascii() and value.isdigit() and len(digits) <= 6 else -1
    if not 900 <= seconds <= 43200:
        raise InvalidValue("duration", value, "expected whole seconds from 900 to 43200")
    return seconds


_UNITS = r"(?:(?P<h>[0-9]{1,6})h)?(?:(?P<m>[0-9]{1,6})m)?(?:(?P<s>[0-9]{1,6})s)?"
DURATION_FORMS = "seconds (3600) or a number with units h, m, s (15m, 90m, 1h30m, 12h)"


def seconds_of(value: str) -> Optional[int]:
    """A duration as people write it, in seconds: ``3600``, ``15m``, ``1h30m``, ``45s``; or None."""
    if value.isascii() and value.isdigit():
        digits = value.lstrip("0")
        return int(digits or "0") if len(digits) <= 6 else None
    match = _full(_UNITS, value)
    if not value or not match:
        return None
    hours, minutes, secs = (int(match[unit] or "0") for unit in "hms")
    return hours * 3600 + minutes * 60 + secs


def session_duration(value: str) -> int:
    """--duration as typed (``3600``, ``15m``, ``1h``); a profile's duration_seconds stays ``duration``."""
    seconds = seconds_of(value)
    if seconds is None or not 900 <= seconds <= 43200:
        raise InvalidValue("duration", value, f"expected 15m to 12h (900 to 43200 seconds): {DURATION_FORMS}")
    return seconds


def external_id(value: str) -> str:
    """Masked in messages, as in --verbose: the trust policy's shared secret, of a kind."""
    if not _full(_EXTERNAL_ID, value):
        raise InvalidValue("external id", mask(value), r"expected 2-1224 characters of [\w+=,.@:/-]")
    return value


def source_identity(value: str) -> str:
    if not _full(_SESSION_NAME, value) or value.lower().startswith("aws:"):
        raise InvalidValue(
            "source identity", value, r"expected 2-64 characters of [\w+=,.@-], not starting with aws:"
        )
    return value


def _is_tag_text(text: str) -> bool:
    import unicodedata  # only tags need it

    return all(
        c.isalnum() or c in _TAG_PUNCTUATION or unicodedata.category(c).startswith("Z")
        for c in text
    )


def tags(values: Sequence[str]) -> Tuple[Tuple[str, str], ...]:
    """Check KEY=VALUE session tags: at most 50, keys 1-128 and unique, values 0-256."""
    if len(values) > MAX_TAGS:
        raise InvalidValue("tags", f"{len(values)} tags", f"at most {MAX_TAGS} session tags")
    seen = set()
    pairs = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidValue("tag", item, "expected KEY=VALUE")
        if not 1 <= len(key) <= 128 or not _is_tag_text(key) or key.lower().startswith("aws:"):
            raise InvalidValue(
                "tag key", key, "expected 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:"
            )
        if len(value) > 256 or not _is_tag_text(value):
            raise InvalidValue("tag value", value, "expected 0-256 letters, digits, spaces or _.:/=+-@")
        if key.lower() in seen:
            raise InvalidValue("tag key", key, "given more than once (tag keys ignore case)")
        seen.add(key.lower())
        pairs.append((key, value))
    return tuple(pairs)


def transitive_tags(keys: Sequence[str], tag_pairs: Iterable[Tuple[str, str]]) -> Tuple[str, ...]:
    """Each transitive key must name one of the session tags."""
    known = {key.lower() for key, _ in tag_pairs}
    for key in keys:
        if key.lower() not in known:
            raise InvalidValue("transitive tag", key, "must also be given as --tag KEY=VALUE")
    return tuple(keys)


def policy_arns(values: Sequence[str]) -> Tuple[str, ...]:
    if len(values) > MAX_POLICY_ARNS:
        raise InvalidValue("policy ARNs", f"{len(values)} ARNs", f"at most {MAX_POLICY_ARNS}")
    for value in values:
        if not _full(_POLICY_ARN, value):
            raise InvalidValue(
                "policy ARN", value, "expected arn:PARTITION:iam::ACCOUNT|aws:policy/[PATH/]NAME"
            )
    return tuple(values)


def timeout(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 300:
        raise InvalidValue(name, value, "expected seconds, more than 0 and at most 300")
    return seconds


_MFA_SERIAL = r"[\w+=/:,.@-]{9,256}"
MAX_CHAINED_DURATION = 3600


def mfa_serial(value: str) -> str:
    """An MFA device ARN (arn:aws:iam::ACCOUNT:mfa/NAME) or a hardware serial number."""
    if not _full(_MFA_SERIAL, value):
        raise InvalidValue("MFA serial", value, r"expected an MFA device ARN or serial: 9-256 of [\w+=/:,.@-]")
    return value


def mfa_code(value: str) -> str:
    """Exactly six digits. The code is a secret: the message never repeats it."""
    if not re.fullmatch(r"[0-9]{6}", value):
        raise InvalidValue("MFA code", "******", "expected exactly 6 digits")
    return value


def chained_duration(seconds: int, where: str) -> int:
    """AWS caps a session assumed with another role session's credentials at one hour."""
    if seconds > MAX_CHAINED_DURATION:
        raise InvalidValue(
            "duration", seconds,
            f"{where} is assumed with another role's session, and AWS limits such chained "
            f"sessions to {MAX_CHAINED_DURATION} seconds",
        )
    return seconds


OUTPUT_FORMATS = ("sh", "fish", "powershell", "dotenv")


def output_format(value: str) -> str:
    if value not in OUTPUT_FORMATS:
        raise InvalidValue("format", value, "expected one of " + ", ".join(OUTPUT_FORMATS))
    return value


def min_ttl(value: str) -> int:
    seconds = seconds_of(value)
    if seconds is None or not 0 <= seconds <= 43200:
        raise InvalidValue("minimum time to live", value, f"expected 0 to 12h (43200 seconds): {DURATION_FORMS}")
    return seconds


def expect(value: str) -> int:
    """How long the command needs its session: 1 second to 12 hours (the longest session)."""
    seconds = seconds_of(value)
    if seconds is None or not 1 <= seconds <= 43200:
        raise InvalidValue("expected run time (--expect)", value,
                           "expected 1s to 12h: seconds (2700) or a number with units h, m, s (45m, 2h, 1h30m)")
    return seconds


# A region of each partition, to show in the advice.
_EXAMPLE_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1",
                   "aws-iso": "us-iso-east-1", "aws-iso-b": "us-isob-east-1"}


def check_partition(role: RoleRef, region: str, region_origin: Optional[str]) -> None:
    """A full role ARN must be in the region's partition (STS there would not know it): the
    refusal says where the region came from and that --region sets it."""
    partition = region_partition(region)
    if role.partition and role.partition != partition:
        example = _EXAMPLE_REGION.get(role.partition)
        raise InvalidValue(
            "region", region,
            f"from {region_origin or 'the default'}, it is in partition {partition}, but role {role.arn(partition)} "
            f"is in {role.partition}; --region sets the region" + (f" (e.g. --region {example} for {role.partition})" if example else ""))
