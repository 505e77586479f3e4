"""child_environment and merge_dotenv as tables: what is removed, kept, set and merged."""

from __future__ import annotations

import copy
import os
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Dict, Optional

import pytest

from awsrun.config.variables import SOURCE_CREDENTIAL_KEYS
from awsrun.deliver import environment
from awsrun.credentials import Credentials

CREDENTIALS = Credentials(
    access_key_id="ASIATEMPKEYEXAMPLE01",
    secret_access_key="temporary-secret",
    session_token="temporary-token",
    expiration=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Deploy/alice",
)
REGION = "eu-west-1"

SET = {
    "AWS_ACCESS_KEY_ID": "ASIATEMPKEYEXAMPLE01",
    "AWS_SECRET_ACCESS_KEY": "temporary-secret",
    "AWS_SESSION_TOKEN": "temporary-token",
    "AWS_CREDENTIAL_EXPIRATION": "2030-01-02T03:04:05Z",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCOUNT_ID": "123456789012",
    "AWSRUN_ASSUMED_ROLE_ARN": "arn:aws:sts::123456789012:assumed-role/Deploy/alice",
    "AWSRUN_ASSUMED_KEY_ID": "ASIATEMPKEYEXAMPLE01",
}
BLOCKS = {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true", "AWS_SDK_LOAD_CONFIG": "1",
          "AWS_CONFIG_FILE": os.devnull}

# Every variable through which the child could reach credentials other than the role's.
MUST_BE_REMOVED = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_SESSION_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_CREDENTIAL_FILE",
    "BOTO_CONFIG",
    "AWS_SDK_LOAD_CONFIG",
    "AWS_CREDENTIAL_PROFILES_FILE",
    "BOTO_PATH",
    "EC2_ACCESS_KEY",
    "EC2_SECRET_KEY",
    "EC2_SECURITY_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "CI_JOB_JWT",
    "CI_JOB_JWT_V1",
    "CI_JOB_JWT_V2",
    "AWS_ACCOUNT_ID",  # only the role's own is set
]
PREFIXED = [
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_BEARER_TOKEN_ANYTHING",
    "AWS_BEARER_TOKEN_",
    "AWSRUN_ROLE",
    "AWSRUN_EXTERNAL_ID",
    "AWSRUN_DRY_RUN",
    "AWSRUN_",
]
KEPT = {
    "AWS_CA_BUNDLE": "/etc/ssl/ca.pem",
    "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/alice",
    "AWS_CONFIG_FILE": "/home/alice/.aws/config",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "5",
    "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    "LANG": "C.UTF-8",
    "AWSRUNNER": "not ours",  # shares letters, not the AWSRUN_ prefix
    "MY_AWS_ACCESS_KEY_ID": "not an SDK variable",
    "aws_access_key_id": "lower case is another name",
}


def child(base: Dict[str, str], block: bool = True, region: str = REGION, credentials: Credentials = CREDENTIALS) -> Dict[str, str]:
    return environment.child_environment(base, credentials, region, block)


def test_the_removed_list_is_the_documented_one() -> None:
    assert environment.REMOVED == frozenset(MUST_BE_REMOVED)
    assert environment.REMOVED_PREFIXES == ("AWS_BEARER_TOKEN_", "AWSRUN_")


@pytest.mark.parametrize("name", sorted(set(MUST_BE_REMOVED) | environment.REMOVED))
@pytest.mark.parametrize("block", [True, False])
def test_removed_names(name: str, block: bool) -> None:
    result = child({name: "from-the-parent", "PATH": "/bin"}, block)
    assert environment.is_removed(name)
    # removed, or replaced by the role's own value
    assert result.get(name) != "from-the-parent"
    assert name not in result or name in SET or (block and name in BLOCKS)


@pytest.mark.parametrize("name", PREFIXED)
def test_removed_prefixes(name: str) -> None:
    assert environment.is_removed(name)
    result = child({name: "from-the-parent"})
    assert result.get(name) != "from-the-parent"
    assert name not in result


@pytest.mark.parametrize("name, value", sorted(KEPT.items()))
@pytest.mark.parametrize("block", [True, False])
def test_kept_names(name: str, value: str, block: bool) -> None:
    assert not environment.is_removed(name)
    assert child({name: value}, block)[name] == (BLOCKS[name] if block and name in BLOCKS else value)


@pytest.mark.parametrize("block", [True, False])
def test_set_names(block: bool) -> None:
    result = child({"PATH": "/bin"}, block)
    for name, value in SET.items():
        assert result[name] == value


@pytest.mark.parametrize(
    "name, parent_value",
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWSRUN_ASSUMED_ROLE_ARN", "arn:aws:sts::111111111111:assumed-role/Old/s"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SESSION_TOKEN", "old-token"),
        ("AWS_ACCOUNT_ID", "999999999999"),
    ],
)
def test_set_names_replace_the_parents(name: str, parent_value: str) -> None:
    assert child({name: parent_value})[name] == SET[name]


def test_exactly_the_expected_environment() -> None:
    base = {**KEPT, **{name: "x" for name in MUST_BE_REMOVED + PREFIXED}}
    assert child(base, block=True) == {**KEPT, **BLOCKS, **SET}
    assert child(base, block=False) == {**KEPT, **SET}


@pytest.mark.parametrize(
    "block, parent, expected",
    [
        (True, None, BLOCKS),
        (True, {"AWS_SHARED_CREDENTIALS_FILE": "/home/alice/.aws/credentials", "AWS_EC2_METADATA_DISABLED": "false"}, BLOCKS),
        (False, None, {}),
        (False, {"AWS_SHARED_CREDENTIALS_FILE": "/home/alice/.aws/credentials", "AWS_EC2_METADATA_DISABLED": "false"},
         {"AWS_SHARED_CREDENTIALS_FILE": "/home/alice/.aws/credentials", "AWS_EC2_METADATA_DISABLED": "false"}),
    ],
)
def test_fallback_blocks(block: bool, parent: Optional[Dict[str, str]], expected: Dict[str, str]) -> None:
    result = child(dict(parent or {}), block)
    assert {name: result[name] for name in BLOCKS if name in result} == expected


@pytest.mark.parametrize(
    "expiration",
    [
        datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2030, 1, 1, 22, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_expiration_is_utc(expiration: datetime) -> None:
    credentials = Credentials("ASIA0001", "s", "t", expiration, "arn:aws:sts::123456789012:assumed-role/R/s")
    assert child({}, credentials=credentials)["AWS_CREDENTIAL_EXPIRATION"] == "2030-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "assumed_role_arn, account",
    [
        ("arn:aws:sts::111122223333:assumed-role/X/s", "111122223333"),
        ("arn:aws-us-gov:sts::210987654321:assumed-role/Ops/bob", "210987654321"),
        ("arn:aws-cn:sts::000000000001:assumed-role/path-less/s", "000000000001"),
        # not 12 digits: no account id at all, and the inherited one is still gone
        ("arn:aws:sts::12345678901:assumed-role/X/s", None),
        ("arn:aws:sts::1234567890123:assumed-role/X/s", None),
        ("arn:aws:sts::evil.example:assumed-role/X/s", None),
        ("arn:aws:sts::\u0661\u0661\u0661\u0661\u0662\u0662\u0662\u0662\u0663\u0663\u0663\u0663:assumed-role/X/s", None),
        ("<assumed-role ARN>", None),
        ("", None),
    ],
)
@pytest.mark.parametrize("block", [True, False])
def test_account_id_is_the_role_sessions_never_the_inherited_one(assumed_role_arn: str, account: Optional[str],
                                                                 block: bool) -> None:
    credentials = CREDENTIALS._replace(assumed_role_arn=assumed_role_arn)
    assert credentials.account_id == account
    base = {"AWS_ACCOUNT_ID": "999999999999", "PATH": "/bin"}
    assert child(base, block, credentials=credentials).get("AWS_ACCOUNT_ID") == account
    refreshed = environment.refresh_environment(base, "http://127.0.0.1:1/awsrun/credentials", "t", REGION,
                                                os.devnull, assumed_role_arn)
    assert refreshed.get("AWS_ACCOUNT_ID") == account


def test_child_environment_is_pure() -> None:
    base = {**KEPT, "AWS_PROFILE": "dev", "AWSRUN_ROLE": "x", "AWS_REGION": "us-east-1"}
    snapshot = copy.deepcopy(base)
    result = child(base)
    assert base == snapshot
    assert result is not base
    # a read-only mapping is enough: nothing is written to it
    assert child(MappingProxyType(snapshot)) == result


# --- merge_dotenv ------------------------------------------------------------------------------

MERGE = [
    # environ, .env values -> merged
    ({"PATH": "/bin"}, {"EXTRA": "1"}, {"PATH": "/bin", "EXTRA": "1"}),
    ({"PATH": "/bin"}, {"PATH": "/dotenv/bin"}, {"PATH": "/bin"}),
    ({"EXTRA": ""}, {"EXTRA": "from-dotenv"}, {"EXTRA": ""}),  # set to empty is still set
    ({}, {"AWS_REGION": "eu-west-1"}, {"AWS_REGION": "eu-west-1"}),
    ({"AWS_REGION": "us-east-1"}, {"AWS_REGION": "eu-west-1"}, {"AWS_REGION": "us-east-1"}),
    ({}, {"AWS_CA_BUNDLE": "/ca.pem", "AWS_ENDPOINT_URL_STS": "http://sts"}, {"AWS_CA_BUNDLE": "/ca.pem", "AWS_ENDPOINT_URL_STS": "http://sts"}),
    # source credentials in .env are for awsrun, never for the child
    ({}, {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, {}),
    ({}, {"AWS_SECRET_ACCESS_KEY": "secret"}, {}),
    ({}, {"AWS_SESSION_TOKEN": "token"}, {}),
    ({}, {"AWS_PROFILE": "dev"}, {}),
    ({"AWS_PROFILE": "env"}, {"AWS_PROFILE": "dev"}, {"AWS_PROFILE": "env"}),
    # awsrun's own settings
    ({}, {"AWSRUN_ROLE": "123456789012:Deploy"}, {}),
    ({}, {"AWSRUN_EXTERNAL_ID": "secret-id", "AWSRUN_": "x"}, {}),
    ({}, {"AWSRUNNER": "x"}, {"AWSRUNNER": "x"}),
    ({"A": "1"}, {}, {"A": "1"}),
    ({}, {}, {}),
]


@pytest.mark.parametrize("environ, dotenv, merged", MERGE)
def test_merge_dotenv(environ: Dict[str, str], dotenv: Dict[str, str], merged: Dict[str, str]) -> None:
    environ_before, dotenv_before = dict(environ), dict(dotenv)
    result = environment.merge_dotenv(environ, dotenv)
    assert result == merged
    assert (environ, dotenv) == (environ_before, dotenv_before)
    assert result is not environ


@pytest.mark.parametrize("name", SOURCE_CREDENTIAL_KEYS)
def test_dotenv_credentials_never_reach_the_child(name: str) -> None:
    base = environment.merge_dotenv({"PATH": "/bin"}, {name: "from-dotenv"})
    for block in (True, False):
        assert "from-dotenv" not in child(base, block).values()


def test_merge_dotenv_accepts_read_only_mappings() -> None:
    environ = MappingProxyType({"PATH": "/bin"})
    dotenv = MappingProxyType({"EXTRA": "1", "AWSRUN_ROLE": "x"})
    assert environment.merge_dotenv(environ, dotenv) == {"PATH": "/bin", "EXTRA": "1"}
