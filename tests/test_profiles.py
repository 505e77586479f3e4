"""Profiles and role chaining: profiles.resolve and chain.plan as pure tables, then awsrun end to end.

The pure tables feed plain dicts (what botocore's ``full_config["profiles"]`` holds) to
``profiles.resolve`` and Settings built from real argv to ``chain.plan``. The end-to-end tests
write ~/.aws/config and ~/.aws/credentials into the isolated HOME and run awsrun as a process:
against moto for what the command receives, against tests/fake_sts.py to see what was signed
with which key, and against a closed 127.0.0.1 port where awsrun must refuse without calling STS.
MFA prompting is tested in tests/test_mfa.py; here ``--mfa-code`` is only given to moto.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import pytest

from awsrun.session import chain as chain_module
from awsrun import cli
from awsrun.config import profiles
from awsrun.config import settings as settings_module
from awsrun.session.chain import Hop
from awsrun.config.envfile import EnvFiles
from awsrun.errors import ConfigError, UsageError
from awsrun.config.naming import default_session_name
from awsrun.config.profiles import ProfileChain, ProfileHop, SourceSpec
from tests.conftest import CHILD, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun, needs_aws_cli
from tests.fake_sts import ISSUED_KEY_ID, ISSUED_SECRET, ISSUED_TOKEN, FakeSts, assume_role_ok, closed_port_url, error

# --- shared values -------------------------------------------------------------------------

JUMP = "arn:aws:iam::111111111111:role/Jump"
TARGET = "arn:aws:iam::222222222222:role/Target"
DEEP = "arn:aws:iam::333333333333:role/Deep"
OTHER = "arn:aws:iam::444444444444:role/Other"
SECOND = "arn:aws:iam::555555555555:role/Second"
JUMP_MFA = "arn:aws:iam::111111111111:mfa/alice"
FLAG_MFA = "arn:aws:iam::111111111111:mfa/bob"

# Keys of the profiles; each id ends differently so a signature or a masked id tells them apart.
BASE_KEY_ID, BASE_SECRET = "AKIABASEEXAMPLE0BASE", "baseSECRETbaseSECRETbaseSECRETbaseSECRET"
SRC_KEY_ID, SRC_SECRET = "AKIASRCSEXAMPLE0SRCS", "srcsSECRETsrcsSECRETsrcsSECRETsrcsSECRET"
SELF_KEY_ID, SELF_SECRET = "AKIASELFEXAMPLE0SELF", "selfSECRETselfSECRETselfSECRETselfSECRET"
KEYS = {"aws_access_key_id": BASE_KEY_ID, "aws_secret_access_key": BASE_SECRET}


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


# --- 1. profiles.resolve, pure -------------------------------------------------------------

RESOLVE_OK = [
    pytest.param(
        {"src": KEYS, "target": {"role_arn": TARGET, "source_profile": "src"}},
        "target",
        ProfileChain(SourceSpec(profile="src"), (ProfileHop("target", TARGET),), None),
        id="role-from-keys-profile",
    ),
    pytest.param(
        {
            "base": {**KEYS, "region": "us-west-2"},
            "jump": {"role_arn": JUMP, "source_profile": "base", "mfa_serial": JUMP_MFA},
            "deploy": {"role_arn": TARGET, "source_profile": "jump", "role_session_name": "alice",
                       "duration_seconds": "1800", "external_id": "deploy-ext", "region": "eu-west-1"},
        },
        "deploy",
        ProfileChain(
            SourceSpec(profile="base"),
            (ProfileHop("jump", JUMP, mfa_serial=JUMP_MFA),
             ProfileHop("deploy", TARGET, external_id="deploy-ext", duration_seconds="1800", role_session_name="alice")),
            "eu-west-1",
        ),
        id="two-hops-in-assume-order-with-profile-values",
    ),
    pytest.param(
        {
            "base": KEYS,
            "a": {"role_arn": JUMP, "source_profile": "base"},
            "b": {"role_arn": TARGET, "source_profile": "a"},
            "c": {"role_arn": DEEP, "source_profile": "b"},
        },
        "c",
        ProfileChain(SourceSpec(profile="base"),
                     (ProfileHop("a", JUMP), ProfileHop("b", TARGET), ProfileHop("c", DEEP)), None),
        id="three-levels-bottom-first",
    ),
    *[
        pytest.param(
            {"t": {"role_arn": TARGET, "credential_source": source}},
            "t",
            ProfileChain(SourceSpec(credential_source=source), (ProfileHop("t", TARGET),), None),
            id=f"credential_source-{source}",
        )
        for source in ("Environment", "Ec2InstanceMetadata", "EcsContainer")
    ],
    pytest.param(
        {"jump": {"role_arn": JUMP, "credential_source": "EcsContainer"},
         "t": {"role_arn": TARGET, "source_profile": "jump"}},
        "t",
        ProfileChain(SourceSpec(credential_source="EcsContainer"), (ProfileHop("jump", JUMP), ProfileHop("t", TARGET)), None),
        id="credential_source-below-a-chain",
    ),
    pytest.param(
        {"me": {"role_arn": TARGET, "source_profile": "me", **KEYS}},
        "me",
        ProfileChain(SourceSpec(profile="me", own_keys=True), (ProfileHop("me", TARGET),), None),
        id="own-source_profile-with-keys",
    ),
    pytest.param(
        {"web": {"role_arn": JUMP, "web_identity_token_file": "/var/run/token"},
         "t": {"role_arn": TARGET, "source_profile": "web"}},
        "t",
        ProfileChain(SourceSpec(profile="web", web_identity=True, token_file="/var/run/token"),
                     (ProfileHop("web", JUMP), ProfileHop("t", TARGET)), None),
        id="web-identity-leaf-assumed-by-awsrun",
    ),
    *[
        pytest.param(
            {"leaf": leaf, "t": {"role_arn": TARGET, "source_profile": "leaf"}},
            "t",
            ProfileChain(SourceSpec(profile="leaf"), (ProfileHop("t", TARGET),), None),
            id=f"{name}-leaf",
        )
        for name, leaf in [
            ("sso_session", {"sso_session": "corp", "sso_account_id": "111111111111", "sso_role_name": "R"}),
            ("legacy-sso", {"sso_start_url": "https://corp.awsapps.com/start", "sso_region": "eu-west-1"}),
            ("credential_process", {"credential_process": "/usr/local/bin/get-creds"}),
            ("login_session", {"login_session": "arn:aws:iam::111111111111:user/alice"}),
        ]
    ],
    pytest.param(
        {"src": {**KEYS, "region": "ap-south-1"}},
        "src",
        ProfileChain(SourceSpec(profile="src"), (), "ap-south-1"),
        id="source-only-profile-no-hops",
    ),
    pytest.param(
        {"src": {**KEYS, "region": "us-west-2"}, "t": {"role_arn": TARGET, "source_profile": "src"}},
        "t",
        ProfileChain(SourceSpec(profile="src"), (ProfileHop("t", TARGET),), None),
        id="region-only-of-the-named-profile",
    ),
]


@pytest.mark.parametrize("known, name, expected", RESOLVE_OK)
def test_resolve(known: Dict[str, Dict[str, str]], name: str, expected: ProfileChain) -> None:
    assert profiles.resolve(known, name) == expected


RESOLVE_BAD = [
    pytest.param({"a": {"role_arn": JUMP, "source_profile": "b"}, "b": {"role_arn": TARGET, "source_profile": "a"}},
                 "a", ["profile loop", "a -> b -> a"], id="loop-a-b-a"),
    pytest.param({"base": KEYS, "a": {"role_arn": JUMP, "source_profile": "b"},
                  "b": {"role_arn": TARGET, "source_profile": "c"}, "c": {"role_arn": DEEP, "source_profile": "b"}},
                 "a", ["profile loop", "a -> b -> c -> b"], id="loop-below-the-top"),
    pytest.param({"a": {"role_arn": JUMP, "source_profile": "a"}},
                 "a", ["'a'", "its own source_profile", "aws_access_key_id"], id="self-without-keys"),
    pytest.param({"a": KEYS}, "nope", ["'nope'", "not found"], id="missing-profile"),
    pytest.param({"a": {"role_arn": JUMP, "source_profile": "gone"}},
                 "a", ["'gone'", "source_profile of 'a'", "not found"], id="missing-source-names-referrer"),
    pytest.param({"empty": {"region": "eu-west-1"}}, "empty", ["'empty'", "neither role_arn nor credentials"],
                 id="neither-role-nor-credentials"),
    pytest.param({"a": {"role_arn": JUMP, "source_profile": "empty"}, "empty": {"region": "eu-west-1"}},
                 "a", ["'empty'", "neither role_arn nor credentials"], id="source-with-neither"),
    pytest.param({"base": KEYS, "both": {"role_arn": JUMP, "source_profile": "base", "credential_source": "Environment"}},
                 "both", ["'both'", "source_profile", "credential_source"], id="source_profile-and-credential_source"),
    pytest.param({"odd": {"role_arn": JUMP, "credential_source": "Magic"}},
                 "odd", ["'odd'", "'Magic'", "Environment"], id="unknown-credential_source"),
    pytest.param({"lonely": {"role_arn": JUMP}},
                 "lonely", ["'lonely'", "neither source_profile nor credential_source"], id="role-without-source"),
    pytest.param({"lonely": {"role_arn": JUMP}, "t": {"role_arn": TARGET, "source_profile": "lonely"}},
                 "t", ["'lonely'", "neither source_profile nor credential_source"], id="role-without-source-below"),
]


@pytest.mark.parametrize("known, name, words", RESOLVE_BAD)
def test_resolve_refuses(known: Dict[str, Dict[str, str]], name: str, words: List[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        profiles.resolve(known, name)
    message = one_line(caught.value)
    for word in words:
        assert word in message, message


# --- 2. chain.plan, pure -------------------------------------------------------------------

PLAN_PROFILES: Dict[str, Dict[str, str]] = {
    "base": KEYS,
    "src": {**KEYS, "region": "us-west-2"},
    "jump": {"role_arn": JUMP, "source_profile": "base", "mfa_serial": JUMP_MFA, "external_id": "jump-ext-id",
             "duration_seconds": "2700", "role_session_name": "jumper"},
    "deploy": {"role_arn": TARGET, "source_profile": "jump", "role_session_name": "alice",
               "duration_seconds": "1800", "external_id": "deploy-ext-id", "region": "eu-west-1"},
    "plain": {"role_arn": TARGET, "source_profile": "base"},
    "plain2": {"role_arn": DEEP, "source_profile": "plain"},
    "envsrc": {"role_arn": TARGET, "credential_source": "Environment"},
    "me": {"role_arn": TARGET, "source_profile": "me", **KEYS},
    "long": {"role_arn": DEEP, "source_profile": "plain", "duration_seconds": "7200"},
    "longjump": {"role_arn": JUMP, "source_profile": "base", "duration_seconds": "7200"},
    "afterlong": {"role_arn": TARGET, "source_profile": "longjump"},
    "bad-arn": {"role_arn": "arn:aws:iam::12345:role/Short", "source_profile": "base"},
    "bad-duration": {"role_arn": TARGET, "source_profile": "base", "duration_seconds": "forever"},
    "short-duration": {"role_arn": TARGET, "source_profile": "base", "duration_seconds": "60"},
    "bad-name": {"role_arn": TARGET, "source_profile": "base", "role_session_name": "has space"},
    "bad-ext": {"role_arn": TARGET, "source_profile": "base", "external_id": "x"},
    "bad-mfa": {"role_arn": TARGET, "source_profile": "base", "mfa_serial": "nope"},
    "bad-below": {"role_arn": TARGET, "source_profile": "bad-duration"},
    "cn": {"role_arn": "arn:aws-cn:iam::222222222222:role/Cn", "source_profile": "base"},
    "shorthand": {"role_arn": "222222222222:Target", "source_profile": "base"},
}


def settings_for(argv: Sequence[str], environ: Optional[Mapping[str, str]] = None,
                 files: Optional[EnvFiles] = None) -> settings_module.Settings:
    return settings_module.resolve(cli._parse([*argv, "--", "true"]), environ or {}, files or EnvFiles())


def planned(argv: Sequence[str], environ: Optional[Mapping[str, str]] = None,
            files: Optional[EnvFiles] = None, partition: str = "aws") -> List[Hop]:
    settings = settings_for(argv, environ, files)
    chain = profiles.resolve(PLAN_PROFILES, settings.profile) if settings.profile else None
    return chain_module.plan(settings, chain, partition)


_FIELDS = {
    "session-name": lambda request: request.session_name,
    "duration": lambda request: request.duration,
    "external-id": lambda request: request.external_id,
    "mfa-serial": lambda request: request.mfa_serial,
}
DOTENV = EnvFiles(values={"AWSRUN_SESSION_NAME": "dotname", "AWSRUN_DURATION": "1500"},
                  origin={"AWSRUN_SESSION_NAME": ".env", "AWSRUN_DURATION": ".env"})

DEFAULT_NAME = object()  # stands for default_session_name() in the table below

# argv, environ, .env, hop index, setting, value, where it came from
WINS = [
    # -p deploy: jump (hop 1) then deploy (hop 2), each with its own profile values
    pytest.param(["-p", "deploy"], {}, None, 1, "session-name", "alice", "profile deploy", id="profile-session-name"),
    pytest.param(["-p", "deploy"], {}, None, 0, "session-name", "jumper", "profile jump", id="hop1-profile-session-name"),
    pytest.param(["-p", "deploy", "-s", "flagname"], {}, None, 1, "session-name", "flagname", "--session-name",
                 id="flag-session-name-beats-profile"),
    pytest.param(["-p", "deploy"], {"AWSRUN_SESSION_NAME": "envname"}, None, 1, "session-name", "envname",
                 "$AWSRUN_SESSION_NAME", id="env-session-name-beats-profile"),
    pytest.param(["-p", "deploy"], {}, DOTENV, 1, "session-name", "dotname", "AWSRUN_SESSION_NAME in .env",
                 id="dotenv-session-name-beats-profile"),
    pytest.param(["-p", "deploy", "-s", "flagname"], {"AWSRUN_SESSION_NAME": "envname"}, None, 1, "session-name",
                 "flagname", "--session-name", id="flag-session-name-beats-env"),
    pytest.param(["-p", "plain"], {}, None, 0, "session-name", DEFAULT_NAME, "default",
                 id="no-profile-session-name-default"),
    pytest.param(["-p", "deploy"], {}, None, 1, "duration", 1800, "profile deploy", id="profile-duration"),
    pytest.param(["-p", "deploy"], {}, None, 0, "duration", 2700, "profile jump", id="hop1-profile-duration"),
    pytest.param(["-p", "deploy", "-d", "900"], {}, None, 1, "duration", 900, "--duration", id="flag-duration-final-hop"),
    pytest.param(["-p", "deploy", "-d", "900"], {}, None, 0, "duration", 2700, "profile jump",
                 id="flag-duration-not-for-earlier-profile-hop"),
    pytest.param(["-p", "deploy"], {"AWSRUN_DURATION": "1200"}, None, 1, "duration", 1200, "$AWSRUN_DURATION",
                 id="env-duration"),
    pytest.param(["-p", "deploy"], {}, DOTENV, 1, "duration", 1500, "AWSRUN_DURATION in .env", id="dotenv-duration"),
    pytest.param(["-p", "plain"], {}, None, 0, "duration", 3600, "default", id="default-duration"),
    pytest.param(["-p", "deploy"], {}, None, 1, "external-id", "deploy-ext-id", "profile deploy", id="profile-external-id"),
    pytest.param(["-p", "deploy"], {}, None, 0, "external-id", "jump-ext-id", "profile jump", id="hop1-profile-external-id"),
    pytest.param(["-p", "deploy", "--external-id", "flag-ext-id"], {}, None, 1, "external-id", "flag-ext-id",
                 "--external-id", id="flag-external-id-final-hop"),
    pytest.param(["-p", "deploy", "--external-id", "flag-ext-id"], {}, None, 0, "external-id", "jump-ext-id",
                 "profile jump", id="flag-external-id-not-for-earlier-hop"),
    pytest.param(["-p", "deploy"], {"AWSRUN_EXTERNAL_ID": "env-ext-id"}, None, 1, "external-id", "env-ext-id",
                 "$AWSRUN_EXTERNAL_ID", id="env-external-id"),
    pytest.param(["-p", "plain"], {}, None, 0, "external-id", None, None, id="no-external-id"),
    pytest.param(["-p", "deploy"], {}, None, 0, "mfa-serial", JUMP_MFA, "profile jump", id="profile-mfa-first-hop"),
    pytest.param(["-p", "deploy"], {}, None, 1, "mfa-serial", None, None, id="no-mfa-on-final-hop"),
    pytest.param(["-p", "deploy", "--mfa-serial", FLAG_MFA], {}, None, 0, "mfa-serial", FLAG_MFA, "--mfa-serial",
                 id="flag-mfa-serial-first-hop"),
    pytest.param(["-p", "deploy", "--mfa-serial", FLAG_MFA], {}, None, 1, "mfa-serial", None, None,
                 id="flag-mfa-serial-not-on-final-hop"),
    pytest.param(["-p", "deploy"], {"AWSRUN_MFA_SERIAL": FLAG_MFA}, None, 0, "mfa-serial", FLAG_MFA,
                 "$AWSRUN_MFA_SERIAL", id="env-mfa-serial"),
    pytest.param(["-p", "plain2", "--mfa-serial", FLAG_MFA], {}, None, 0, "mfa-serial", FLAG_MFA, "--mfa-serial",
                 id="flag-mfa-serial-without-profile-mfa"),
    # --role chains, no profile: flags are the only source
    pytest.param(["-r", JUMP, "-r", TARGET, "-s", "chain"], {}, None, 0, "session-name", "chain", "--session-name",
                 id="role-chain-session-name-hop1"),
    pytest.param(["-r", JUMP, "-r", TARGET, "-s", "chain"], {}, None, 1, "session-name", "chain", "--session-name",
                 id="role-chain-session-name-hop2"),
    pytest.param(["-r", JUMP, "-r", TARGET, "-d", "1200"], {}, None, 1, "duration", 1200, "--duration",
                 id="role-chain-duration"),
    pytest.param(["-r", JUMP, "-r", TARGET, "--external-id", "flag-ext-id"], {}, None, 1, "external-id",
                 "flag-ext-id", "--external-id", id="role-chain-external-id-last"),
    pytest.param(["-r", JUMP, "-r", TARGET, "--external-id", "flag-ext-id"], {}, None, 0, "external-id", None, None,
                 id="role-chain-external-id-not-first"),
    pytest.param(["-r", JUMP, "-r", TARGET, "--mfa-serial", FLAG_MFA], {}, None, 0, "mfa-serial", FLAG_MFA,
                 "--mfa-serial", id="role-chain-mfa-first"),
    pytest.param(["-r", JUMP, "-r", TARGET, "--mfa-serial", FLAG_MFA], {}, None, 1, "mfa-serial", None, None,
                 id="role-chain-mfa-not-last"),
]


@pytest.mark.parametrize("argv, environ, files, index, setting, value, origin", WINS)
def test_plan_value_and_origin_per_hop(argv: List[str], environ: Dict[str, str], files: Optional[EnvFiles],
                                       index: int, setting: str, value: Any, origin: Optional[str]) -> None:
    hop = planned(argv, environ, files)[index]
    if value is DEFAULT_NAME:
        value = default_session_name(environ)  # the machine's USER@HOST
    assert _FIELDS[setting](hop.request) == value
    if origin is not None:
        assert hop.origins[setting] == origin


@pytest.mark.parametrize(
    "argv, index, setting",
    [
        pytest.param(["-p", "deploy", "--mfa-serial", FLAG_MFA], 1, "mfa-serial", id="mfa-flag-on-final-hop"),
        pytest.param(["-r", JUMP, "-r", TARGET, "--mfa-serial", FLAG_MFA], 1, "mfa-serial", id="mfa-flag-role-chain"),
        pytest.param(["-r", JUMP, "-r", TARGET, "--external-id", "flag-ext-id"], 0, "external-id",
                     id="external-id-flag-on-first-hop"),
    ],
)
def test_origin_never_names_a_flag_that_did_not_set_the_value(argv: List[str], index: int, setting: str) -> None:
    """A hop the flag does not apply to holds no value; its origin must not claim the flag."""
    hop = planned(argv)[index]
    assert _FIELDS[setting](hop.request) is None
    assert hop.origins[setting] != settings_for(argv).sources[setting], hop.origins


ROLE_CHAINS = [
    pytest.param(["-r", JUMP], [(JUMP, "--role")], ["role"], id="one-role"),
    pytest.param(["-r", JUMP, "-r", TARGET], [(JUMP, "--role"), (TARGET, "--role")], ["role 1 of 2", "role 2 of 2"],
                 id="two-roles"),
    pytest.param(["-r", "111111111111:Jump", "-r", "222222222222:Target"], [(JUMP, "--role"), (TARGET, "--role")],
                 ["role 1 of 2", "role 2 of 2"], id="two-shorthand-roles"),
    pytest.param(["-p", "deploy"], [(JUMP, "profile jump"), (TARGET, "profile deploy")],
                 ["role 1 of 2", "role 2 of 2"], id="profile-chain"),
    pytest.param(["-p", "plain2"], [(TARGET, "profile plain"), (DEEP, "profile plain2")],
                 ["role 1 of 2", "role 2 of 2"], id="profile-chain-plain"),
    pytest.param(["-p", "deploy", "-r", OTHER], [(JUMP, "profile jump"), (OTHER, "--role")],
                 ["role 1 of 2", "role 2 of 2"], id="role-replaces-profiles-own-role"),
    pytest.param(["-p", "plain", "-r", OTHER], [(OTHER, "--role")], ["role"], id="role-replaces-single-profile-role"),
    pytest.param(["-p", "deploy", "-r", OTHER, "-r", SECOND],
                 [(JUMP, "profile jump"), (OTHER, "--role"), (SECOND, "--role")],
                 ["role 1 of 3", "role 2 of 3", "role 3 of 3"], id="profile-source-then-two-roles"),
    pytest.param(["-p", "src", "-r", OTHER], [(OTHER, "--role")], ["role"], id="source-only-profile-with-role"),
    pytest.param(["-p", "src", "-r", OTHER, "-r", SECOND], [(OTHER, "--role"), (SECOND, "--role")],
                 ["role 1 of 2", "role 2 of 2"], id="source-only-profile-with-two-roles"),
    pytest.param(["-p", "envsrc", "-r", OTHER], [(OTHER, "--role")], ["role"], id="credential_source-profile-with-role"),
    pytest.param(["-p", "me", "-r", OTHER], [(OTHER, "--role")], ["role"], id="own-keys-profile-with-role"),
]


@pytest.mark.parametrize("argv, roles, labels", ROLE_CHAINS)
def test_plan_roles_in_order(argv: List[str], roles: List[tuple], labels: List[str]) -> None:
    hops = planned(argv)
    assert [(hop.request.role_arn, hop.origins["role"]) for hop in hops] == roles
    assert [hop.label for hop in hops] == labels


def test_plan_role_from_environment_names_it() -> None:
    hops = planned(["-p", "src"], {"AWSRUN_ROLE": f"{OTHER},{SECOND}"})
    assert [(hop.request.role_arn, hop.origins["role"]) for hop in hops] == [
        (OTHER, "$AWSRUN_ROLE"), (SECOND, "$AWSRUN_ROLE")]


def test_role_replacing_the_profile_drops_that_profiles_values() -> None:
    """deploy's session name, duration and external id were for deploy's role, not for --role's."""
    last = planned(["-p", "deploy", "-r", OTHER])[-1]
    assert last.request.role_arn == OTHER
    assert last.request.session_name != "alice"
    assert last.request.external_id != "deploy-ext-id"
    assert last.request.duration == 3600


@pytest.mark.parametrize("argv, environ", [
    pytest.param(["-p", "src"], {}, id="flag"),
    pytest.param([], {"AWSRUN_PROFILE": "src"}, id="env"),
])
def test_profile_without_role_and_no_role_says_pass_role(argv: List[str], environ: Dict[str, str]) -> None:
    with pytest.raises(UsageError) as caught:
        planned(argv, environ)
    message = one_line(caught.value)
    assert "'src'" in message and "--role" in message


CHAINED_TOO_LONG = [
    pytest.param(["-r", JUMP, "-r", TARGET, "-d", "7200"], {}, "role 2 of 2", "--duration", id="two-roles-flag"),
    pytest.param(["-r", JUMP, "-r", TARGET], {"AWSRUN_DURATION": "3601"}, "role 2 of 2", "$AWSRUN_DURATION",
                 id="two-roles-env"),
    pytest.param(["-p", "long"], {}, "role 2 of 2", "profile long", id="profile-duration_seconds"),
    pytest.param(["-p", "deploy", "-d", "7200"], {}, "role 2 of 2", "--duration", id="profile-chain-flag"),
    pytest.param(["-p", "src", "-r", JUMP, "-r", TARGET, "-d", "43200"], {}, "role 2 of 2", "--duration",
                 id="source-profile-two-roles"),
    pytest.param(["-p", "deploy", "-r", OTHER, "-r", SECOND, "-d", "7200"], {}, "role 2 of 3", "--duration",
                 id="three-hops-names-the-first-chained"),
]


@pytest.mark.parametrize("argv, environ, hop, origin", CHAINED_TOO_LONG)
def test_chained_duration_over_an_hour_is_refused(argv: List[str], environ: Dict[str, str], hop: str, origin: str) -> None:
    with pytest.raises(ConfigError) as caught:
        planned(argv, environ)
    message = one_line(caught.value)
    assert hop in message and origin in message, message
    assert "3600 seconds" in message and "chained" in message, message


@pytest.mark.parametrize("argv, durations", [
    pytest.param(["-r", JUMP, "-r", TARGET], [3600, 3600], id="default-is-an-hour"),
    pytest.param(["-r", JUMP, "-r", TARGET, "-d", "3600"], [3600, 3600], id="exactly-an-hour"),
    pytest.param(["-p", "afterlong"], [7200, 3600], id="first-hop-may-be-longer"),
    pytest.param(["-r", JUMP, "-d", "43200"], [43200], id="single-role-not-chained"),
])
def test_chained_duration_up_to_an_hour_is_planned(argv: List[str], durations: List[int]) -> None:
    assert [hop.request.duration for hop in planned(argv)] == durations


SCOPING = ["--tag", "team=blue", "--transitive-tag", "team", "--source-identity", "alice",
           "--policy", '{"Version": "2012-10-17", "Statement": []}', "--policy-arn",
           "arn:aws:iam::aws:policy/ReadOnlyAccess"]


@pytest.mark.parametrize("argv", [
    pytest.param(["-r", JUMP, "-r", TARGET, *SCOPING], id="role-chain"),
    pytest.param(["-p", "deploy", *SCOPING], id="profile-chain"),
    pytest.param(["-p", "deploy", "-r", OTHER, *SCOPING], id="profile-and-role"),
])
def test_tags_policies_and_source_identity_only_on_the_last_hop(argv: List[str]) -> None:
    *earlier, last = planned(argv)
    assert earlier
    for hop in earlier:
        r = hop.request
        assert (r.tags, r.transitive_tags, r.source_identity, r.policy, r.policy_arns) == ((), (), None, None, ())
    r = last.request
    assert r.tags == (("team", "blue"),) and r.transitive_tags == ("team",)
    assert r.source_identity == "alice"
    assert r.policy is not None and '"Statement"' in r.policy
    assert r.policy_arns == ("arn:aws:iam::aws:policy/ReadOnlyAccess",)


BAD_PROFILE_VALUES = [
    pytest.param("bad-arn", "'bad-arn'", "arn:aws:iam::12345:role/Short", id="role_arn"),
    pytest.param("bad-duration", "'bad-duration'", "forever", id="duration_seconds"),
    pytest.param("short-duration", "'short-duration'", "'60'", id="duration_seconds-below-900"),
    pytest.param("bad-name", "'bad-name'", "has space", id="role_session_name"),
    pytest.param("bad-ext", "'bad-ext'", "external id", id="external_id"),
    pytest.param("bad-mfa", "'bad-mfa'", "MFA serial", id="mfa_serial"),
    pytest.param("bad-below", "'bad-duration'", "forever", id="value-of-a-lower-profile"),
    pytest.param("cn", "'cn'", "aws-cn", id="role-outside-the-regions-partition"),
]


@pytest.mark.parametrize("name, named, shown", BAD_PROFILE_VALUES)
def test_invalid_profile_values_name_the_profile(name: str, named: str, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        planned(["-p", name])
    message = one_line(caught.value)
    assert message.startswith(f"profile {named}"), message
    assert shown in message, message


def test_flag_beats_an_invalid_profile_value_it_replaces() -> None:
    (hop,) = planned(["-p", "bad-duration", "-d", "900"])
    assert hop.request.duration == 900 and hop.origins["duration"] == "--duration"


def test_shorthand_role_arn_in_a_profile_is_not_called_a_partition_mismatch() -> None:
    """The AWS CLI needs a full ARN in role_arn; ACCOUNT:NAME there has no partition to mismatch."""
    with pytest.raises(ConfigError) as caught:
        planned(["-p", "shorthand"])
    message = one_line(caught.value)
    assert "'shorthand'" in message and "222222222222:Target" in message
    assert "not in partition" not in message, message


def test_explain_names_each_origin_and_no_secret() -> None:
    hops = planned(["-p", "deploy", "-s", "flagname", "--external-id", "flag-ext-id"])
    lines = [hop.explain() for hop in hops]
    assert lines[0].startswith("role 1 of 2: " + JUMP + " (from profile jump)")
    assert f"MFA {JUMP_MFA} (from profile jump)" in lines[0]
    assert "external id (from profile jump)" in lines[0]
    assert "session name flagname (from --session-name)" in lines[1]
    assert "duration 1800 (from profile deploy)" in lines[1]
    assert "external id (from --external-id)" in lines[1]
    for secret in ("flag-ext-id", "jump-ext-id", "deploy-ext-id", BASE_SECRET):
        assert all(secret not in line for line in lines)


# --- helpers for awsrun as a process -------------------------------------------------------

E2E_CONFIG = f"""\
[profile base]
region = eu-west-1

[profile jump]
role_arn = {JUMP}
source_profile = base
duration_seconds = 2700
role_session_name = jumper

[profile target]
role_arn = {TARGET}
source_profile = jump
role_session_name = alice
external_id = target-external-id
region = eu-west-2

[profile deep]
role_arn = {DEEP}
source_profile = target
role_session_name = deep-run
region = eu-central-1

[profile src]
region = us-west-2

[profile envsrc]
role_arn = arn:aws:iam::444444444444:role/FromEnv
credential_source = Environment
region = ap-southeast-2

[profile me]
role_arn = arn:aws:iam::555555555555:role/Self
source_profile = me

[profile mfa-jump]
role_arn = arn:aws:iam::111111111111:role/MfaJump
source_profile = base
mfa_serial = {JUMP_MFA}

[profile mfa-target]
role_arn = arn:aws:iam::222222222222:role/MfaTarget
source_profile = mfa-jump
external_id = mfa-target-external-id
"""

E2E_CREDENTIALS = f"""\
[base]
aws_access_key_id = {BASE_KEY_ID}
aws_secret_access_key = {BASE_SECRET}

[src]
aws_access_key_id = {SRC_KEY_ID}
aws_secret_access_key = {SRC_SECRET}

[me]
aws_access_key_id = {SELF_KEY_ID}
aws_secret_access_key = {SELF_SECRET}
"""

ALL_SOURCE_SECRETS = (SOURCE_SECRET, BASE_SECRET, SRC_SECRET, SELF_SECRET)


def write_aws(config: str = E2E_CONFIG, credentials: str = E2E_CREDENTIALS) -> None:
    """The isolated ~/.aws/config and ~/.aws/credentials (conftest points AWS_* at them)."""
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(config)
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(credentials)


def child_cmd(status: int = 0) -> List[str]:
    return ["--", sys.executable, str(CHILD), str(status)]


def sts_at(url: str) -> Dict[str, str]:
    """Where STS is; any session cache kept inside this test's HOME, whatever the machine sets."""
    return {"AWS_ENDPOINT_URL_STS": url, "XDG_CACHE_HOME": str(Path(os.environ["HOME"]) / ".cache")}


def env_keys(url: str) -> Dict[str, str]:
    """Environment keys (which a named profile must not use) and where STS is."""
    return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET, **sts_at(url)}


def assumed(role_arn: str, session: str) -> str:
    account, name = re.fullmatch(r"arn:aws:iam::(\d{12}):role/(.+)", role_arn).groups()  # type: ignore[union-attr]
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session}"


def caller_arn(moto_url: str, env: Mapping[str, str]) -> str:
    """Ask moto who the child's keys belong to (GetCallerIdentity on 127.0.0.1)."""
    import botocore.session

    client = botocore.session.Session().create_client(
        "sts", region_name="us-east-1", endpoint_url=moto_url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"])
    return client.get_caller_identity()["Arn"]


def assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 125, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("awsrun: "), lines
    assert "Traceback" not in result.stderr
    assert '"pid"' not in result.stdout  # the command never ran
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def signed_with(request: Any) -> str:
    match = re.search(r"Credential=([A-Z0-9]+)/", request.authorization)
    assert match, request.authorization
    return match.group(1)


# --- 3. end to end against moto ------------------------------------------------------------


@needs_aws_cli
@pytest.mark.parametrize("profile, expected", [
    pytest.param("target", assumed(TARGET, "alice"), id="two-hops"),
    pytest.param("deep", assumed(DEEP, "deep-run"), id="three-hops"),
])
def test_aws_cli_sees_the_final_role(moto_sts: str, profile: str, expected: str) -> None:
    write_aws()
    result = run_awsrun(["-p", profile, "--", "aws", "sts", "get-caller-identity", "--output", "json"],
                        env=sts_at(moto_sts))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == expected
    assert f"assumed {expected}" in result.stderr


# argv, extra env (besides AWS_ENDPOINT_URL_STS), expected assumed-role ARN, expected region
E2E = [
    pytest.param(["-r", JUMP, "-r", TARGET, "-s", "chain"], "keys", assumed(TARGET, "chain"), "us-east-1",
                 id="role-role"),
    pytest.param(["-p", "src", "-r", OTHER, "-s", "viasrc"], "keys", assumed(OTHER, "viasrc"), "us-west-2",
                 id="source-profile-with-role"),
    pytest.param(["-p", "target"], None, assumed(TARGET, "alice"), "eu-west-2", id="profile-session-name"),
    pytest.param(["-p", "target", "-s", "mysession"], None, assumed(TARGET, "mysession"), "eu-west-2",
                 id="flag-session-name"),
    pytest.param(["-p", "target"], {"AWSRUN_SESSION_NAME": "envsession"}, assumed(TARGET, "envsession"), "eu-west-2",
                 id="env-session-name"),
    pytest.param(["-p", "target", "-r", OTHER, "-s", "swapped"], None, assumed(OTHER, "swapped"), "eu-west-2",
                 id="role-replaces-profile-role"),
    pytest.param(["-p", "deep", "-r", SECOND, "-r", OTHER, "-s", "four"], None, assumed(OTHER, "four"),
                 "eu-central-1", id="profile-chain-then-two-roles"),
    pytest.param(["-p", "envsrc", "-s", "fromenv"], "keys",
                 assumed("arn:aws:iam::444444444444:role/FromEnv", "fromenv"), "ap-southeast-2",
                 id="credential_source-Environment"),
    pytest.param(["-p", "me", "-s", "own"], None, assumed("arn:aws:iam::555555555555:role/Self", "own"), "us-east-1",
                 id="own-source_profile"),
    pytest.param(["-p", "mfa-target", "--mfa-code", "123456", "-s", "withmfa"], None,
                 assumed("arn:aws:iam::222222222222:role/MfaTarget", "withmfa"), "us-east-1", id="profile-mfa"),
    pytest.param(["-p", "target", "-s", "rr"], {"AWS_REGION": "ca-central-1"}, assumed(TARGET, "rr"), "ca-central-1",
                 id="AWS_REGION-beats-profile-region"),
    pytest.param(["-p", "target", "-s", "rr", "--region", "sa-east-1"], None, assumed(TARGET, "rr"), "sa-east-1",
                 id="flag-region-beats-profile-region"),
    pytest.param(["-p", "target", "-s", "rr"], {"AWS_PROFILE": "base", "AWS_DEFAULT_PROFILE": "src", "keys": "1"},
                 assumed(TARGET, "rr"), "eu-west-2", id="profile-selectors-and-keys-in-env"),
]


@pytest.mark.parametrize("argv, extra, expected, region", E2E)
def test_child_gets_only_the_final_roles_credentials(moto_sts: str, argv: List[str], extra: Any, expected: str,
                                                     region: str) -> None:
    write_aws()
    env = sts_at(moto_sts)
    if extra == "keys" or (isinstance(extra, dict) and extra.pop("keys", None)):
        env.update(env_keys(moto_sts))
    if isinstance(extra, dict):
        env.update(extra)
    result = run_awsrun([*argv, *child_cmd(0)], env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    child_env = child_report(result.stdout)["env"]

    assert child_env["AWSRUN_ASSUMED_ROLE_ARN"] == expected
    assert caller_arn(moto_sts, child_env) == expected  # the keys themselves are the final role's
    assert child_env["AWS_REGION"] == child_env["AWS_DEFAULT_REGION"] == region
    assert child_env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert "AWS_PROFILE" not in child_env and "AWS_DEFAULT_PROFILE" not in child_env
    assert child_env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert not any(name in child_env for name in env if name.startswith("AWSRUN_"))  # awsrun's settings stay out
    for name, value in child_env.items():
        for secret in (*ALL_SOURCE_SECRETS, SOURCE_KEY_ID, BASE_KEY_ID, SRC_KEY_ID, SELF_KEY_ID):
            assert secret not in value, f"{name} holds a source credential"
    for secret in (child_env["AWS_SECRET_ACCESS_KEY"], child_env["AWS_SESSION_TOKEN"], *ALL_SOURCE_SECRETS):
        assert secret not in result.stderr


# --- which key signs each hop, and what each hop asks for (fake STS) -----------------------

SIGNING = [
    pytest.param(["-p", "target"], BASE_KEY_ID, [JUMP, TARGET], id="keys-profile-at-the-bottom"),
    pytest.param(["-p", "deep"], BASE_KEY_ID, [JUMP, TARGET, DEEP], id="three-hops"),
    pytest.param(["-p", "src", "-r", OTHER], SRC_KEY_ID, [OTHER], id="source-only-profile-keys"),
    pytest.param(["-p", "src", "-r", OTHER, "-r", SECOND], SRC_KEY_ID, [OTHER, SECOND], id="source-profile-role-chain"),
    pytest.param(["-p", "me"], SELF_KEY_ID, ["arn:aws:iam::555555555555:role/Self"], id="own-keys"),
    pytest.param(["-p", "envsrc"], SOURCE_KEY_ID, ["arn:aws:iam::444444444444:role/FromEnv"], id="credential_source-env"),
    pytest.param(["-r", JUMP, "-r", TARGET], SOURCE_KEY_ID, [JUMP, TARGET], id="role-chain-env-keys"),
]


@pytest.mark.parametrize("argv, first_key, roles", SIGNING)
def test_first_hop_signed_by_the_source_later_hops_by_the_previous_session(
        argv: List[str], first_key: str, roles: List[str]) -> None:
    write_aws()
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun([*argv, *child_cmd(0)], env=env_keys(sts.url))
    assert result.returncode == 0, result.stderr
    assert [request.form["RoleArn"] for request in sts.requests] == roles
    assert [signed_with(request) for request in sts.requests] == [first_key] + [ISSUED_KEY_ID] * (len(roles) - 1)


def test_each_hop_asks_for_its_own_values() -> None:
    write_aws()
    argv = ["-p", "target", "-s", "mysession", "-d", "900", "--tag", "team=blue", "--source-identity", "alice",
            "--external-id", "flag-external-id"]
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun([*argv, *child_cmd(0)], env=env_keys(sts.url))
    assert result.returncode == 0, result.stderr
    first, last = (request.form for request in sts.requests)
    assert (first["RoleArn"], first["DurationSeconds"]) == (JUMP, "2700")  # jump's own duration_seconds
    assert (last["RoleArn"], last["RoleSessionName"], last["DurationSeconds"]) == (TARGET, "mysession", "900")
    assert last["ExternalId"] == "flag-external-id" and "ExternalId" not in first
    assert last["Tags.member.1.Key"] == "team" and last["SourceIdentity"] == "alice"
    assert not any(key.startswith("Tags") or key == "SourceIdentity" for key in first)


def test_profile_values_reach_sts_when_no_flag_is_given() -> None:
    write_aws()
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["-p", "target", *child_cmd(0)], env=env_keys(sts.url))
    assert result.returncode == 0, result.stderr
    first, last = (request.form for request in sts.requests)
    assert (first["RoleSessionName"], first["DurationSeconds"]) == ("jumper", "2700")
    assert (last["RoleSessionName"], last["DurationSeconds"], last["ExternalId"]) == ("alice", "3600", "target-external-id")


@pytest.mark.parametrize("argv, failing, denied", [
    pytest.param(["-p", "target"], "role 2 of 2", TARGET, id="profile-chain"),
    pytest.param(["-r", JUMP, "-r", TARGET], "role 2 of 2", TARGET, id="role-chain"),
    pytest.param(["-p", "deep"], "role 2 of 3", TARGET, id="middle-of-three"),
])
def test_failure_at_a_later_hop_names_the_hop(argv: List[str], failing: str, denied: str) -> None:
    write_aws()
    with FakeSts([assume_role_ok(), error("AccessDenied", 403, "not authorized to perform sts:AssumeRole")]) as sts:
        result = run_awsrun([*argv, *child_cmd(0)], env=env_keys(sts.url))
    line = assert_one_line_failure(result, f"awsrun: {failing}: ", "AccessDenied", denied)
    assert len(sts.requests) == 2  # stopped at the refused hop; no retry of an AccessDenied
    for secret in (ISSUED_SECRET, ISSUED_TOKEN, ISSUED_KEY_ID, *ALL_SOURCE_SECRETS):
        assert secret not in line


def test_failure_at_the_first_hop_names_it() -> None:
    write_aws()
    with FakeSts([error("AccessDenied", 403, "no")]) as sts:
        result = run_awsrun(["-p", "target", *child_cmd(0)], env=env_keys(sts.url))
    assert_one_line_failure(result, "awsrun: role 1 of 2: ", JUMP)
    assert len(sts.requests) == 1


# --- 4. bad configurations refused before any STS call -------------------------------------

BAD_CONFIG = f"""\
[profile base]
region = eu-west-1
[profile jump]
role_arn = {JUMP}
source_profile = base
[profile src]
region = us-west-2
[profile loop-a]
role_arn = {JUMP}
source_profile = loop-b
[profile loop-b]
role_arn = {TARGET}
source_profile = loop-a
[profile selfless]
role_arn = {TARGET}
source_profile = selfless
[profile orphan]
role_arn = {TARGET}
source_profile = gone
[profile empty]
region = eu-west-1
[profile on-empty]
role_arn = {TARGET}
source_profile = empty
[profile both]
role_arn = {TARGET}
source_profile = base
credential_source = Environment
[profile magic]
role_arn = {TARGET}
credential_source = Magic
[profile lonely]
role_arn = {TARGET}
[profile bad-arn]
role_arn = arn:aws:iam::12345:role/Short
source_profile = base
[profile bad-duration]
role_arn = {TARGET}
source_profile = base
duration_seconds = forever
[profile bad-name]
role_arn = {TARGET}
source_profile = base
role_session_name = has space
[profile bad-ext]
role_arn = {TARGET}
source_profile = base
external_id = x
[profile long]
role_arn = {TARGET}
source_profile = jump
duration_seconds = 7200
[profile cn]
role_arn = arn:aws-cn:iam::222222222222:role/Cn
source_profile = base
[profile mars]
role_arn = {TARGET}
source_profile = base
region = mars-1
"""

BAD_CASES = [
    pytest.param(["-p", "loop-a"], ["loop-a -> loop-b -> loop-a"], id="loop"),
    pytest.param(["-p", "selfless"], ["'selfless'", "own source_profile"], id="own-source-without-keys"),
    pytest.param(["-p", "nope"], ["'nope'", "not found"], id="missing-profile"),
    pytest.param(["-p", "orphan"], ["'gone'", "source_profile of 'orphan'"], id="missing-source_profile"),
    pytest.param(["-p", "empty"], ["'empty'", "neither role_arn nor credentials"], id="neither"),
    pytest.param(["-p", "on-empty"], ["'empty'", "neither role_arn nor credentials"], id="source-with-neither"),
    pytest.param(["-p", "both"], ["'both'", "source_profile and credential_source"], id="both-sources"),
    pytest.param(["-p", "magic"], ["'magic'", "'Magic'"], id="unknown-credential_source"),
    pytest.param(["-p", "lonely"], ["'lonely'", "neither source_profile nor credential_source"], id="role-no-source"),
    pytest.param(["-p", "bad-arn"], ["'bad-arn'", "invalid role"], id="bad-role_arn"),
    pytest.param(["-p", "bad-duration"], ["'bad-duration'", "invalid duration"], id="bad-duration_seconds"),
    pytest.param(["-p", "bad-name"], ["'bad-name'", "invalid session name"], id="bad-role_session_name"),
    pytest.param(["-p", "bad-ext"], ["'bad-ext'", "invalid external id"], id="bad-external_id"),
    pytest.param(["-p", "long"], ["role 2 of 2", "profile long", "3600 seconds"], id="chained-duration-profile"),
    pytest.param(["-p", "src", "-r", JUMP, "-r", TARGET, "-d", "7200"], ["role 2 of 2", "--duration", "3600 seconds"],
                 id="chained-duration-flag"),
    pytest.param(["-r", JUMP, "-r", TARGET, "-d", "4000"], ["role 2 of 2", "3600 seconds"], id="chained-role-role"),
    pytest.param(["-p", "src"], ["'src'", "pass --role"], id="no-role-anywhere"),
    pytest.param(["-p", "cn"], ["'cn'", "partition"], id="partition-mismatch"),
    pytest.param(["-p", "mars"], ["'mars'", "mars-1"], id="bad-region-names-profile"),
]


@pytest.mark.parametrize("argv, words", BAD_CASES)
def test_bad_configuration_is_refused_without_sts(argv: List[str], words: List[str]) -> None:
    write_aws(BAD_CONFIG)
    result = run_awsrun([*argv, *child_cmd(0)], env=env_keys(closed_port_url()))
    line = assert_one_line_failure(result, *words)
    assert "connect" not in line and "127.0.0.1" not in line  # refused locally, not by a failed call


def test_web_identity_profile_named_directly_is_not_called_roleless(tmp_path: Path) -> None:
    """It has a role_arn (botocore assumes it with the token): awsrun must not say it has none."""
    token = tmp_path / "token"
    token.write_text("eyJ.fake.token\n")
    write_aws(f"[profile web]\nrole_arn = {JUMP}\nweb_identity_token_file = {token}\n", "")
    result = run_awsrun(["-p", "web", *child_cmd(0)], env=sts_at(closed_port_url()))
    assert "Traceback" not in result.stderr
    assert "no role_arn" not in result.stderr, result.stderr


# --- 5. -v: which value won, per hop, and never a secret -----------------------------------

VERBOSE = [
    pytest.param(["-p", "target"], {}, [
        f"role 1 of 2: {JUMP} (from profile jump), session name jumper (from profile jump), "
        "duration 2700 (from profile jump)",
        f"role 2 of 2: {TARGET} (from profile target), session name alice (from profile target), "
        "duration 3600 (from default), external id (from profile target)",
        "region = eu-west-2 (from profile)",
        f"source credentials = shared-credentials-file (****{BASE_KEY_ID[-4:]})",
    ], id="profile-values"),
    pytest.param(["-p", "target", "-s", "mysession", "-d", "900", "--external-id", "flag-external-id"], {}, [
        f"role 2 of 2: {TARGET} (from profile target), session name mysession (from --session-name), "
        "duration 900 (from --duration), external id (from --external-id)",
        "duration 2700 (from profile jump)",
    ], id="flags-win-final-hop"),
    pytest.param(["-p", "target"], {"AWSRUN_SESSION_NAME": "envsession", "AWSRUN_DURATION": "1200"}, [
        "session name envsession (from $AWSRUN_SESSION_NAME), duration 1200 (from $AWSRUN_DURATION)",
    ], id="env-wins-final-hop"),
    pytest.param(["-p", "src", "-r", OTHER, "-r", SECOND], {}, [
        f"role 1 of 2: {OTHER} (from --role)",
        f"role 2 of 2: {SECOND} (from --role)",
        f"source credentials = shared-credentials-file (****{SRC_KEY_ID[-4:]})",
    ], id="source-profile-role-chain"),
    pytest.param(["-p", "envsrc"], {}, [
        "role: arn:aws:iam::444444444444:role/FromEnv (from profile envsrc)",
        f"source credentials = env (****{SOURCE_KEY_ID[-4:]})",
    ], id="credential_source"),
]


@pytest.mark.parametrize("argv, environ, shown", VERBOSE)
def test_verbose_says_which_value_won_per_hop(argv: List[str], environ: Dict[str, str], shown: List[str]) -> None:
    write_aws()
    result = run_awsrun(["-v", "--dry-run", *argv, *child_cmd(0)], env={**env_keys(closed_port_url()), **environ})
    assert result.returncode == 0, result.stderr
    for text in shown:
        assert text in result.stderr, result.stderr
    for secret in (*ALL_SOURCE_SECRETS, "target-external-id", "flag-external-id"):
        assert secret not in result.stderr + result.stdout


def test_verbose_full_run_shows_no_secret(moto_sts: str) -> None:
    write_aws()
    argv = ["-v", "-p", "mfa-target", "--mfa-code", "975310", "--external-id", "flag-external-id", "-s", "verbose"]
    result = run_awsrun([*argv, *child_cmd(0)], env=env_keys(moto_sts))
    assert result.returncode == 0, result.stderr
    child_env = child_report(result.stdout)["env"]
    assert f"MFA {JUMP_MFA} (from profile mfa-jump)" in result.stderr
    assert "external id (from --external-id)" in result.stderr
    assert "mfa-code = ******" in result.stderr
    secrets = (*ALL_SOURCE_SECRETS, "975310", "flag-external-id", "mfa-target-external-id",
               child_env["AWS_SECRET_ACCESS_KEY"], child_env["AWS_SESSION_TOKEN"], child_env["AWS_ACCESS_KEY_ID"])
    for secret in secrets:
        assert secret not in result.stderr


# --- one botocore session where one will do ---------------------------------------------------

def sessions_made(monkeypatch: pytest.MonkeyPatch) -> List[Optional[str]]:
    """The profile of every botocore Session made from now on."""
    import botocore.session

    made: List[Optional[str]] = []
    real_init = botocore.session.Session.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(kwargs.get("profile"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "__init__", counting)
    return made


def test_a_profile_that_is_its_own_source_costs_one_botocore_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making a botocore session (its ~120 event handlers) costs more than reading the config:
    a profile with its own keys is read and used through the same one."""
    from awsrun.session.source import Source

    write_aws()
    made = sessions_made(monkeypatch)
    source = Source({}, None, "base")
    assert "base" in source.profiles()
    source.use(profile="base")
    assert made == ["base"]
    assert f"({'****' + BASE_KEY_ID[-4:]})" in source.describe()


@pytest.mark.parametrize(
    "dotenv, issued, expected_made",
    [
        ({}, None, ["jump", "base"]),  # the source is another profile: a session for it
        ({"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}, None, ["base", "base"]),
        ({}, "arn:aws:iam::123456789012:role/Outer", ["base", "base"]),
    ],
    ids=["other-profile", "dotenv-keys-set-on-the-first", "issued-session-removed-from-the-first"],
)
def test_a_session_already_given_other_credentials_is_not_reused(
    monkeypatch: pytest.MonkeyPatch, dotenv: Dict[str, str], issued: Optional[str], expected_made: List[str]
) -> None:
    """The first session keeps nothing into the profile's: not .env keys, not the removal of
    the environment provider, not another profile."""
    from awsrun.session.source import Source

    write_aws()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "outer-secret")
    made = sessions_made(monkeypatch)
    source = Source(dotenv, issued, expected_made[0])
    source.use(profile="base")
    assert made == expected_made
    assert f"({'****' + BASE_KEY_ID[-4:]})" in source.describe()
