"""Tables of values validate.py must accept (and in what form) or refuse (naming the value)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Callable, List, Optional

import pytest

from awsrun.config import policydoc, validate
from awsrun.errors import ExitStatus, InvalidValue

ACCOUNT = "123456789012"
PARTITIONS = ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"]


def short(value: object) -> str:
    """A readable test id for a long value."""
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else f"{text[:50]}...[{len(text)} chars]"


def refused(check: Callable[[], object], offender: str) -> InvalidValue:
    """Run ``check``; it must raise InvalidValue whose one-line message names ``offender``."""
    with pytest.raises(InvalidValue) as caught:
        check()
    message = str(caught.value)
    assert repr(offender) in message, message
    assert "\n" not in message
    assert caught.value.exit_status == ExitStatus.FAILURE
    return caught.value


# --- role ARNs -------------------------------------------------------------------------------

VALID_ROLES = [
    # every partition
    *[(f"arn:{p}:iam::{ACCOUNT}:role/Deploy", p, "Deploy") for p in PARTITIONS],
    # paths
    (f"arn:aws:iam::{ACCOUNT}:role/team/Deploy", "aws", "team/Deploy"),
    (f"arn:aws:iam::{ACCOUNT}:role/a/b/c/Deploy", "aws", "a/b/c/Deploy"),
    (f"arn:aws-cn:iam::{ACCOUNT}:role/service-role/Deploy", "aws-cn", "service-role/Deploy"),
    (f"arn:aws:iam::{ACCOUNT}:role/p!~#$/Deploy", "aws", "p!~#$/Deploy"),  # path chars are \x21-\x7e
    # an IAM path is at most 512 characters with its leading '/', so 511 in the ARN
    (f"arn:aws:iam::{ACCOUNT}:role/{'p' * 510}/Deploy", "aws", f"{'p' * 510}/Deploy"),
    # name: 1-64 of [\w+=,.@-]
    (f"arn:aws:iam::{ACCOUNT}:role/D", "aws", "D"),
    (f"arn:aws:iam::{ACCOUNT}:role/{'n' * 64}", "aws", "n" * 64),
    (f"arn:aws:iam::{ACCOUNT}:role/A_b+c=d,e.f@g-h9", "aws", "A_b+c=d,e.f@g-h9"),
    # ACCOUNT:NAME shorthand: partition comes from the region later
    (f"{ACCOUNT}:Deploy", None, "Deploy"),
    (f"{ACCOUNT}:role/Deploy", None, "Deploy"),
    (f"{ACCOUNT}:team/Deploy", None, "team/Deploy"),
    (f"{ACCOUNT}:role/team/Deploy", None, "team/Deploy"),
    (f"000000000000:{'n' * 64}", None, "n" * 64),
]


@pytest.mark.parametrize("value, partition, path_and_name", VALID_ROLES, ids=short)
def test_role_accepts(value: str, partition: Optional[str], path_and_name: str) -> None:
    ref = validate.role(value)
    assert ref.partition == partition
    assert ref.account == value.split(":")[4 if value.startswith("arn:") else 0]
    assert ref.path_and_name == path_and_name


@pytest.mark.parametrize("value", [v for v, p, _ in VALID_ROLES if p], ids=short)
def test_full_role_arn_round_trips(value: str) -> None:
    # A full ARN keeps its own partition whatever the region's partition is.
    assert validate.role(value).arn("aws") == value
    assert validate.role(value).arn("aws-cn") == value


@pytest.mark.parametrize("partition", PARTITIONS)
def test_shorthand_takes_the_given_partition(partition: str) -> None:
    assert validate.role(f"{ACCOUNT}:team/Deploy").arn(partition) == f"arn:{partition}:iam::{ACCOUNT}:role/team/Deploy"


INVALID_ROLES = [
    "",
    "Deploy",
    "role/Deploy",
    # not a role
    f"arn:aws:iam::{ACCOUNT}:user/Bob",
    f"arn:aws:iam::{ACCOUNT}:user/team/Bob",
    f"arn:aws:iam::{ACCOUNT}:group/Admins",
    f"arn:aws:iam::{ACCOUNT}:policy/Deploy",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/session",
    f"arn:aws:iam::{ACCOUNT}:root",
    # partitions
    f"arn:aws-foo:iam::{ACCOUNT}:role/Deploy",
    f"arn:AWS:iam::{ACCOUNT}:role/Deploy",
    f"arn:aws-iso-x:iam::{ACCOUNT}:role/Deploy",
    f"arn::iam::{ACCOUNT}:role/Deploy",
    # IAM is global: no region
    f"arn:aws:iam:us-east-1:{ACCOUNT}:role/Deploy",
    # accounts that are not 12 digits
    "arn:aws:iam::12345678901:role/Deploy",
    "arn:aws:iam::1234567890123:role/Deploy",
    "arn:aws:iam::12345678901a:role/Deploy",
    "arn:aws:iam:::role/Deploy",
    "arn:aws:iam::aws:role/Deploy",
    "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/Deploy",  # non-ASCII digits
    "12345678901:Deploy",
    "1234567890123:Deploy",
    "12345678901a:Deploy",
    # names
    f"arn:aws:iam::{ACCOUNT}:role/",
    f"arn:aws:iam::{ACCOUNT}:role/team/",
    f"arn:aws:iam::{ACCOUNT}:role/{'n' * 65}",
    f"arn:aws:iam::{ACCOUNT}:role/Dep*loy",
    f"arn:aws:iam::{ACCOUNT}:role/Dep loy",
    f"arn:aws:iam::{ACCOUNT}:role/Déploy",
    f"arn:aws:iam::{ACCOUNT}:role/Dep:loy",
    f"{ACCOUNT}:",
    f"{ACCOUNT}:role/",
    f"{ACCOUNT}:{'n' * 65}",
    f"{ACCOUNT}: Deploy",
    # paths
    f"arn:aws:iam::{ACCOUNT}:role/te am/Deploy",
    f"arn:aws:iam::{ACCOUNT}:role/tëam/Deploy",
    f"arn:aws:iam::{ACCOUNT}:role/{'p' * 511}/Deploy",  # IAM path of 513 characters
    f"arn:aws:iam::{ACCOUNT}:role/{'p' * 600}/Deploy",
    # surrounding junk
    f" arn:aws:iam::{ACCOUNT}:role/Deploy",
    f"arn:aws:iam::{ACCOUNT}:role/Deploy ",
    f"arn:aws:iam::{ACCOUNT}:role/Deploy\n",
    f"aws:{ACCOUNT}:Deploy",
]


@pytest.mark.parametrize("value", INVALID_ROLES, ids=short)
def test_role_refuses(value: str) -> None:
    error = refused(lambda: validate.role(value), value)
    assert error.fields["name"] == "role"


# --- region -> partition ---------------------------------------------------------------------

REGIONS = [
    ("us-east-1", "aws"),
    ("eu-west-3", "aws"),
    ("ap-southeast-7", "aws"),
    ("sa-east-1", "aws"),
    ("ca-west-1", "aws"),
    ("me-central-1", "aws"),
    ("af-south-1", "aws"),
    ("il-central-1", "aws"),
    ("mx-central-1", "aws"),
    ("cn-north-1", "aws-cn"),
    ("cn-northwest-1", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"),
    ("us-gov-east-1", "aws-us-gov"),
    ("us-iso-east-1", "aws-iso"),
    ("us-isob-east-1", "aws-iso-b"),
    ("eu-isoe-west-1", "aws-iso-e"),
    ("us-isof-south-1", "aws-iso-f"),
    ("eusc-de-east-1", "aws-eusc"),
]


@pytest.mark.parametrize("region, partition", REGIONS)
def test_region_partition(region: str, partition: str) -> None:
    assert validate.region_partition(region) == partition


def _botocore_regions() -> List[tuple]:
    """Every concrete region botocore knows, read from its data file without importing it."""
    spec = importlib.util.find_spec("botocore")
    assert spec and spec.origin
    data = json.loads((Path(spec.origin).parent / "data" / "partitions.json").read_text())
    return [
        (region, part["id"])
        for part in data["partitions"]
        for region in part["regions"]
        if not region.endswith("-global")
    ]


def test_region_partition_agrees_with_botocore() -> None:
    regions = _botocore_regions()
    assert regions
    wrong = [(r, p, validate.region_partition(r)) for r, p in regions if validate.region_partition(r) != p]
    assert wrong == []


@pytest.mark.parametrize(
    "region",
    ["", "us-east", "useast1", "us_east_1", "global", "aws-global", "xx-east-1", "us-east-1 ", "us-east-1\n", "eusc-fr-east-1"],
)
def test_region_partition_refuses(region: str) -> None:
    refused(lambda: validate.region_partition(region), region)


# --- session name, duration, external id, source identity --------------------------------------

@pytest.mark.parametrize(
    "value",
    ["ab", "n" * 64, "alice@host.example", "A_b+c=d,e.f@g-h9", "gha@org.repo@123456", "--"],
    ids=short,
)
def test_session_name_accepts(value: str) -> None:
    assert validate.session_name(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "a", "n" * 65, "a b", "a/b", "a:b", "a*b", "élan", "ab\n", "ab\t"],
    ids=short,
)
def test_session_name_refuses(value: str) -> None:
    refused(lambda: validate.session_name(value), value)


@pytest.mark.parametrize("value, seconds", [("900", 900), ("3600", 3600), ("43200", 43200), ("1000", 1000)])
def test_duration_accepts(value: str, seconds: int) -> None:
    result = validate.duration(value)
    assert result == seconds
    assert type(result) is int


@pytest.mark.parametrize("value", ["899", "43201", "0", "-900", "abc", "", "900.5", "3600s", "1e3", "1h"])
def test_duration_refuses(value: str) -> None:
    refused(lambda: validate.duration(value), value)


@pytest.mark.parametrize(
    "value",
    ["ab", "x" * 1224, "a:b/c", "Id_+=,.@:/-9", "arn:aws:iam::123456789012:role/x", "1234567890"],
    ids=short,
)
def test_external_id_accepts(value: str) -> None:
    assert validate.external_id(value) == value


@pytest.mark.parametrize("value", ["", "a", "x" * 1225, "a b", "a*b", "a#b", "ünique", "ab\n", "a;b"], ids=short)
def test_external_id_refuses(value: str) -> None:
    # Masked like --verbose shows it: a trust policy's shared value stays out of logs.
    from awsrun.credentials import mask

    message = str(refused(lambda: validate.external_id(value), mask(value)))
    assert len(value) <= 4 or value not in message


@pytest.mark.parametrize("value", ["ab", "n" * 64, "alice@example.com", "awsuser", "aws-user", "aws", "A_b+c=d,e.f@g-h"], ids=short)
def test_source_identity_accepts(value: str) -> None:
    assert validate.source_identity(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "a", "n" * 65, "aws:x", "AWS:x", "Aws:user", "aWs:user", "a b", "a/b", "a:b", "élan"],
)
def test_source_identity_refuses(value: str) -> None:
    refused(lambda: validate.source_identity(value), value)


# --- tags ------------------------------------------------------------------------------------

VALID_TAGS = [
    ([], ()),
    (["team=dev"], (("team", "dev"),)),
    (["team=dev", "cost=42"], (("team", "dev"), ("cost", "42"))),
    (["empty="], (("empty", ""),)),
    (["k=v=w"], (("k", "v=w"),)),  # the first '=' splits
    (["a b=c d"], (("a b", "c d"),)),
    (["k_.:/+-@=v_.:/=+-@"], (("k_.:/+-@", "v_.:/=+-@"),)),
    (["équipe=données"], (("équipe", "données"),)),
    ([f"{'k' * 128}={'v' * 256}"], (("k" * 128, "v" * 256),)),
]


@pytest.mark.parametrize("values, pairs", VALID_TAGS, ids=short)
def test_tags_accept(values: List[str], pairs: tuple) -> None:
    assert validate.tags(values) == pairs


def test_fifty_tags_accepted() -> None:
    values = [f"k{i}=v{i}" for i in range(50)]
    assert len(validate.tags(values)) == 50


INVALID_TAGS = [
    # (values, offending value named in the message)
    (["team"], "team"),
    (["team:dev"], "team:dev"),
    (["=dev"], ""),
    ([f"{'k' * 129}=v"], "k" * 129),
    ([f"k={'v' * 257}"], "v" * 257),
    (["aws:team=dev"], "aws:team"),
    (["AWS:team=dev"], "AWS:team"),
    (["Aws:Team=dev"], "Aws:Team"),
    (["te*am=dev"], "te*am"),
    (["team=d*v"], "d*v"),
    (["team=dev#1"], "dev#1"),
    (["team=dev", "Team=ops"], "Team"),
    (["TEAM=dev", "cost=1", "team=ops"], "team"),
    ([f"k{i}=v" for i in range(51)], "51 tags"),
]


@pytest.mark.parametrize("values, offender", INVALID_TAGS, ids=short)
def test_tags_refuse(values: List[str], offender: str) -> None:
    refused(lambda: validate.tags(values), offender)


@pytest.mark.parametrize(
    "keys, tags",
    [
        ([], ()),
        (["team"], (("team", "dev"),)),
        (["team", "cost"], (("team", "dev"), ("cost", "1"))),
        (["TEAM"], (("team", "dev"),)),  # tag keys ignore case
    ],
)
def test_transitive_tags_accept(keys: List[str], tags: tuple) -> None:
    assert validate.transitive_tags(keys, tags) == tuple(keys)


@pytest.mark.parametrize(
    "keys, tags, offender",
    [
        (["team"], (), "team"),
        (["cost"], (("team", "dev"),), "cost"),
        (["team", "project"], (("team", "dev"),), "project"),
        (["team=dev"], (("team", "dev"),), "team=dev"),
    ],
)
def test_transitive_tags_refuse(keys: List[str], tags: tuple, offender: str) -> None:
    refused(lambda: validate.transitive_tags(keys, tags), offender)


# --- session policy --------------------------------------------------------------------------

def _no_file(path: str) -> str:
    raise AssertionError(f"inline JSON must not be read as a file: {path}")


def _statement_policy(size: int) -> dict:
    """A policy whose compact JSON is exactly ``size`` characters."""
    document = {"Version": "2012-10-17", "Sid": ""}
    base = len(json.dumps(document, separators=(",", ":")))
    document["Sid"] = "x" * (size - base)
    assert len(json.dumps(document, separators=(",", ":"))) == size
    return document


@pytest.mark.parametrize(
    "value, compact",
    [
        ('{"Version": "2012-10-17"}', '{"Version":"2012-10-17"}'),
        ('  {\n  "Version" : "2012-10-17",\n  "Statement" : [ ]\n}\n', '{"Version":"2012-10-17","Statement":[]}'),
        ("{}", "{}"),
        # whitespace does not count: over 2100 characters as written, 2048 once compacted
        (json.dumps(_statement_policy(2048), indent=40), json.dumps(_statement_policy(2048), separators=(",", ":"))),
    ],
    ids=short,
)
def test_policy_inline(value: str, compact: str) -> None:
    assert policydoc.policy(value, _no_file) == compact


def test_policy_from_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]\n}\n')
    result = policydoc.policy(str(path), lambda p: Path(p).read_text(encoding="utf-8"))
    assert result == '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'


def test_policy_reads_only_the_named_file() -> None:
    read: List[str] = []

    def fake(path: str) -> str:
        read.append(path)
        return '{"a": 1}'

    assert policydoc.policy("policy.json", fake) == '{"a":1}'
    assert read == ["policy.json"]


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda tmp: '{"Version": ', id="inline-truncated"),
        pytest.param(lambda tmp: "{'single': 'quotes'}", id="inline-python-quotes"),
        pytest.param(lambda tmp: '{"a": 1} trailing', id="inline-trailing-text"),
        pytest.param(lambda tmp: str(tmp / "missing.json"), id="missing-file"),
        pytest.param(lambda tmp: str(tmp), id="directory"),
        pytest.param(lambda tmp: "[1, 2]", id="inline-array-is-no-file"),
        pytest.param(lambda tmp: _write(tmp, "bad.json", b'{"a": }'), id="file-invalid-json"),
        pytest.param(lambda tmp: _write(tmp, "empty.json", b""), id="file-empty"),
        pytest.param(lambda tmp: _write(tmp, "list.json", b"[1, 2]"), id="file-array"),
        pytest.param(lambda tmp: _write(tmp, "str.json", b'"text"'), id="file-string"),
        pytest.param(lambda tmp: _write(tmp, "num.json", b"42"), id="file-number"),
        pytest.param(lambda tmp: _write(tmp, "null.json", b"null"), id="file-null"),
        pytest.param(lambda tmp: _write(tmp, "latin1.json", b'{"a": "\xe9"}'), id="file-not-utf8"),
        pytest.param(lambda tmp: json.dumps(_statement_policy(2049)), id="inline-2049-compact"),
        pytest.param(lambda tmp: _write(tmp, "big.json", json.dumps(_statement_policy(3000)).encode()), id="file-too-big"),
    ],
)
def test_policy_refuses(tmp_path: Path, make: Callable[[Path], str]) -> None:
    value = make(tmp_path)
    refused(lambda: policydoc.policy(value, lambda p: Path(p).read_text(encoding="utf-8")), value)


def test_policy_too_long_says_how_long() -> None:
    value = json.dumps(_statement_policy(2049))
    error = refused(lambda: policydoc.policy(value, _no_file), value)
    assert "2049" in str(error) and "2048" in str(error)


# --- managed policy ARNs ---------------------------------------------------------------------

VALID_POLICY_ARNS = [
    *[f"arn:{p}:iam::aws:policy/ReadOnlyAccess" for p in PARTITIONS],
    f"arn:aws:iam::{ACCOUNT}:policy/Mine",
    f"arn:aws:iam::{ACCOUNT}:policy/team/sub/Mine",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    f"arn:aws:iam::{ACCOUNT}:policy/{'p' * 128}",
    f"arn:aws:iam::{ACCOUNT}:policy/A_b+c=d,e.f@g-h",
]


@pytest.mark.parametrize("count", [0, 1, 10])
def test_policy_arns_accept_up_to_ten(count: int) -> None:
    values = [VALID_POLICY_ARNS[i % len(VALID_POLICY_ARNS)] for i in range(count)]
    assert validate.policy_arns(values) == tuple(values)


@pytest.mark.parametrize("value", VALID_POLICY_ARNS, ids=short)
def test_policy_arn_accepts(value: str) -> None:
    assert validate.policy_arns([value]) == (value,)


@pytest.mark.parametrize(
    "value",
    [
        "ReadOnlyAccess",
        "",
        f"arn:aws:iam::{ACCOUNT}:role/Deploy",
        "arn:aws:iam::12345:policy/Mine",
        "arn:aws:iam::aws-managed:policy/Mine",
        "arn:aws-foo:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam:us-east-1:aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/",
        f"arn:aws:iam::{ACCOUNT}:policy/{'p' * 129}",
        "arn:aws:iam::aws:policy/Read Only",
        "arn:aws:iam::aws:policy/ReadOnlyAccess\n",
    ],
    ids=short,
)
def test_policy_arn_refuses(value: str) -> None:
    refused(lambda: validate.policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess", value]), value)


def test_policy_arns_refuse_eleven() -> None:
    values = ["arn:aws:iam::aws:policy/ReadOnlyAccess"] * 11
    refused(lambda: validate.policy_arns(values), "11 ARNs")


# --- timeouts --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [("5", 5.0), ("0.5", 0.5), ("300", 300.0), ("0.001", 0.001), ("10.0", 10.0)])
def test_timeout_accepts(value: str, seconds: float) -> None:
    assert validate.timeout("connect timeout", value) == seconds


@pytest.mark.parametrize("value", ["0", "-1", "300.5", "301", "abc", "", "nan", "inf", "-inf", "5s"])
@pytest.mark.parametrize("name", ["connect timeout", "read timeout"])
def test_timeout_refuses(name: str, value: str) -> None:
    error = refused(lambda: validate.timeout(name, value), value)
    assert str(error).startswith(f"invalid {name} ")
