"""The default role session name: CI run ids, user@host, sanitising, and the 64-character cut."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import sys

import pytest

from awsrun.config import naming, validate


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the user and host name naming sees (a failing user lookup gives 'unknown')."""

    def set_machine(user: object = "alice", host: str = "laptop.example") -> None:
        monkeypatch.setattr(naming, "_user", lambda environ: "unknown" if isinstance(user, BaseException) else str(user))
        monkeypatch.setattr(naming, "_host", lambda: host)

    set_machine()
    return set_machine


GITHUB = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9876543210", "GITHUB_REPOSITORY": "acme/infra"}
GITLAB = {"GITLAB_CI": "true", "CI_JOB_ID": "123456", "CI_PROJECT_PATH": "group/sub/project"}

DEFAULT_NAMES = [
    # environ -> name (user alice on laptop.example unless CI)
    ({}, "alice@laptop.example"),
    (GITHUB, "gha@acme.infra@9876543210"),
    ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "42"}, "gha@github@42"),
    ({**GITHUB, "GITHUB_ACTIONS": "false"}, "alice@laptop.example"),
    ({**GITHUB, "GITHUB_RUN_ID": ""}, "alice@laptop.example"),
    ({k: v for k, v in GITHUB.items() if k != "GITHUB_RUN_ID"}, "alice@laptop.example"),
    (GITLAB, "gitlab@group.sub.project@123456"),
    ({"GITLAB_CI": "true", "CI_JOB_ID": "7"}, "gitlab@gitlab@7"),
    ({**GITLAB, "GITLAB_CI": "false"}, "alice@laptop.example"),
    ({**GITLAB, "CI_JOB_ID": ""}, "alice@laptop.example"),
    ({**GITLAB, **GITHUB}, "gha@acme.infra@9876543210"),
    ({"CI": "true"}, "alice@laptop.example"),
    # odd characters in CI names
    ({**GITHUB, "GITHUB_REPOSITORY": "acme/my repo!"}, "gha@acme.my-repo@9876543210"),
    ({**GITHUB, "GITHUB_REPOSITORY": "acme/ünïcode"}, "gha@acme.-n-code@9876543210"),
    ({**GITLAB, "CI_PROJECT_PATH": "group/a:b*c"}, "gitlab@group.a-b-c@123456"),
]


@pytest.mark.parametrize("environ, name", DEFAULT_NAMES)
def test_default_session_name(machine: Callable[..., None], environ: Dict[str, str], name: str) -> None:
    result = naming.default_session_name(environ)
    assert result == name
    assert validate.session_name(result) == result


@pytest.mark.parametrize(
    "user, host, name",
    [
        ("alice", "laptop.example", "alice@laptop.example"),
        ("Jöhn Doe", "laptop", "J-hn-Doe@laptop"),
        ("DOMAIN\\bob", "ws01", "DOMAIN-bob@ws01"),
        ("alice", "", "alice@localhost"),
        ("", "laptop", "@laptop"),
        ("a", "b", "a@b"),
        (KeyError("getpwuid(): uid not found: 1000"), "container", "unknown@container"),
        (OSError("No username set in the environment"), "container", "unknown@container"),
        ("carol+ci=1,x.y@z-w", "h", "carol+ci=1,x.y@z-w@h"),
    ],
)
def test_plain_session_name(machine: Callable[..., None], user: object, host: str, name: str) -> None:
    machine(user, host)
    result = naming.default_session_name({})
    assert result == name
    assert validate.session_name(result) == result


@pytest.mark.parametrize(
    "text, tail, name",
    [
        ("plain", "", "plain"),
        ("a b\tc", "", "a-b-c"),
        ("a   b", "", "a-b"),  # a run of odd characters becomes one '-'
        ("!!leading and trailing!!", "", "leading-and-trailing"),
        ("x", "", "x-"),  # padded to the minimum of 2
        ("", "", "--"),
        ("!!!", "", "--"),
        ("name", "@1 2", "name@1-2"),
        ("a" * 70, "", "a" * 64),
        ("a" * 70, "@123", "a" * 60 + "@123"),
        ("é" * 70, "@9", "@9"),  # all odd characters: nothing left of the head
    ],
)
def test_sanitise(text: str, tail: str, name: str) -> None:
    result = naming.sanitise(text, tail)
    assert result == name
    assert len(result) <= 64


@pytest.mark.parametrize(
    "environ, tail",
    [
        ({**GITHUB, "GITHUB_REPOSITORY": "acme/" + "r" * 100}, "@9876543210"),
        ({**GITHUB, "GITHUB_REPOSITORY": "a" * 40 + "/" + "b" * 40, "GITHUB_RUN_ID": "1"}, "@1"),
        ({**GITLAB, "CI_PROJECT_PATH": "/".join(["deeply-nested-group"] * 6)}, "@123456"),
        ({**GITLAB, "CI_PROJECT_PATH": "g/" + "p" * 200, "CI_JOB_ID": "12345678901234567890"}, "@12345678901234567890"),
    ],
)
def test_long_ci_names_are_cut_keeping_the_id(machine: Callable[..., None], environ: Dict[str, str], tail: str) -> None:
    result = naming.default_session_name(environ)
    assert len(result) == 64
    assert result.endswith(tail)
    assert result.startswith("gha@" if "GITHUB_ACTIONS" in environ else "gitlab@")
    assert validate.session_name(result) == result


def test_long_user_and_host_are_cut(machine: Callable[..., None]) -> None:
    machine("u" * 40, "h" * 40 + ".example.com")
    result = naming.default_session_name({})
    assert result == ("u" * 40 + "@" + "h" * 40)[:64]
    assert validate.session_name(result) == result


# Whatever the machine or CI says, the default must be a name STS accepts.
ODD_VALUES = ["", "-", "x", "é", "a b", "::::", "/", "a" * 60, "a" * 200, "\n", "@", "名前", "-" * 50, "9" * 62]


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: repr(v) if len(v) < 20 else f"{v[0]}*{len(v)}")
@pytest.mark.parametrize(
    "make_environ",
    [
        lambda v: {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "1", "GITHUB_REPOSITORY": v},
        lambda v: {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": (v or "1")[:62]},  # longer: see below
        lambda v: {"GITLAB_CI": "true", "CI_JOB_ID": "1", "CI_PROJECT_PATH": v},
        lambda v: {"GITLAB_CI": "true", "CI_JOB_ID": (v or "1")[:62]},
        lambda v: None,  # v is the user name
        lambda v: {},  # v is the host name
    ],
    ids=["gh-repo", "gh-run-id", "gl-project", "gl-job-id", "user", "host"],
)
def test_result_always_passes_validation(
    machine: Callable[..., None], value: str, make_environ: Callable[[str], Optional[Dict[str, str]]]
) -> None:
    environ = make_environ(value)
    if environ is None:
        machine(value, "host")
        environ = {}
    elif not environ:
        machine("alice", value)
    result = naming.default_session_name(environ)
    assert validate.session_name(result) == result


@pytest.mark.parametrize(
    "environ",
    [
        {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9" * 70, "GITHUB_REPOSITORY": "acme/infra"},
        {"GITLAB_CI": "true", "CI_JOB_ID": "9" * 70, "CI_PROJECT_PATH": "group/project"},
    ],
    ids=["github", "gitlab"],
)
def test_overlong_run_id_still_gives_a_valid_name(machine: Callable[..., None], environ: Dict[str, str]) -> None:
    # Unrealistic ids, but the default must never be a name STS refuses.
    result = naming.default_session_name(environ)
    assert len(result) <= 64
    assert validate.session_name(result) == result


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"LOGNAME": "alice", "USER": "bob"}, "alice"),
        ({"USER": "bob"}, "bob"),
        ({"USERNAME": "carol"}, "carol"),
    ],
)
def test_user_comes_from_the_environment_first(environ: dict, expected: str) -> None:
    assert naming._user(environ) == expected


def test_user_without_environment_or_passwd_entry_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    def no_entry(uid: int) -> None:
        raise KeyError(uid)

    monkeypatch.setitem(sys.modules, "pwd", types.SimpleNamespace(getpwuid=no_entry))
    assert naming._user({}) == "unknown"
