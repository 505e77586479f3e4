"""The cache remembers what people expect it to: one role one entry, half a session's life,
edits of unrelated profiles change nothing, a switched principal changes the key, and one
MFA code serves every role behind the device.

awsrun runs as a real process against tests/fake_sts.py, which records each request (its
Action, MFA fields and signing key); the number of requests tells hits from misses.
In-process tests compute keys with awsrun.session.cachekey as a run does.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import pytest

from awsrun.session.cachekey import cache_key
from awsrun.cli import _parse
from awsrun.config.envfile import EnvFiles
from awsrun.config.settings import resolve
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.fake_sts import (ISSUED_KEY_ID, MFA_SESSION_KEY_ID, FakeSts, assume_role_ok, get_session_token_ok)

ACCOUNT = "123456789012"
SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
OTHER_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/bob"
JUMP = f"arn:aws:iam::{ACCOUNT}:role/Jump"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/Target"
SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
TEMPORARY = {"AWS_SESSION_TOKEN": "FwoFAKEsourceSessionTokenEXAMPLE"}
CODE = "123456"
PROCESS = "--credential-process"


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "awsrun"


def config_file() -> Path:
    return Path(os.environ["AWS_CONFIG_FILE"])


def write_profiles(extra: str = "") -> None:
    """base: static keys (credentials file); deploy: ROLE_ARN from base; other: unrelated."""
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n")
    config_file().write_text(
        f"[profile base]\nregion = us-east-1\n"
        f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = base\n"
        f"[profile other]\nregion = eu-west-1\n{extra}")


def run(url: str, *args: str, env: Optional[Dict[str, str]] = None, **kwargs: object) -> subprocess.CompletedProcess:
    return run_awsrun([*args, PROCESS], env={"AWS_ENDPOINT_URL_STS": url, **(env or {})}, **kwargs)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["AccessKeyId"]


def key_for(argv: Sequence[str], environ: Optional[Mapping[str, str]] = None) -> str:
    environ = {**os.environ, **SOURCE, **(environ or {})}
    key = cache_key(resolve(_parse(list(argv)), environ, EnvFiles()), environ, {}, None)
    assert key
    return key


# --- one role, one entry ---------------------------------------------------------------------


def test_shorthand_and_full_arn_share_one_key() -> None:
    assert key_for(["-r", f"{ACCOUNT}:Deploy"]) == key_for(["-r", ROLE_ARN])
    assert key_for(["-r", f"{ACCOUNT}:Deploy"]) != key_for(["-r", f"{ACCOUNT}:Other"])


def test_shorthand_and_full_arn_share_one_session(folder: Path) -> None:
    with FakeSts([assume_role_ok()]) as sts:
        assert ok(run(sts.url, "-r", f"{ACCOUNT}:Deploy", env=SOURCE)) == ISSUED_KEY_ID
        assert ok(run(sts.url, "-r", ROLE_ARN, env=SOURCE)) == ISSUED_KEY_ID
        assert len(sts.requests) == 1
    assert len(list(folder.glob("*.session"))) == 1


@pytest.mark.parametrize("first, then", [
    (["--profile", "deploy"], [{"AWS_PROFILE": "deploy"}, {"AWSRUN_PROFILE": "deploy"}, {"AWS_DEFAULT_PROFILE": "deploy"}]),
    ([], [{"AWSRUN_PROFILE": "deploy"}, {"AWS_PROFILE": "deploy"}]),
], ids=["flag first", "environment first"])
def test_one_profile_however_named_is_one_session(folder: Path, first: List[str], then: List[Dict[str, str]]) -> None:
    write_profiles()
    with FakeSts([assume_role_ok()]) as sts:
        started = run(sts.url, *first, env=then[0] if not first else None)
        assert ok(started) == ISSUED_KEY_ID
        for env in then:
            again = run(sts.url, "-v", env=env)
            assert ok(again) == ISSUED_KEY_ID
            assert f"awsrun: reusing cached session of" in again.stderr, (env, again.stderr)
        assert len(sts.requests) == 1
    assert len(list(folder.glob("*.session"))) == 1


def test_a_role_through_a_profile_or_by_flag_shares_one_session() -> None:
    write_profiles()
    assert key_for(["--profile", "deploy"]) == key_for(["--profile", "base", "-r", f"{ACCOUNT}:Deploy"])
    with FakeSts([assume_role_ok()]) as sts:
        assert ok(run(sts.url, "--profile", "deploy")) == ISSUED_KEY_ID
        assert ok(run(sts.url, "--profile", "base", "-r", ROLE_ARN)) == ISSUED_KEY_ID
        assert len(sts.requests) == 1


# --- at least half a session's life -----------------------------------------------------------


@pytest.mark.parametrize("flags, calls", [([], 1), (["--min-ttl", "900"], 2)], ids=["default", "explicit 900"])
def test_a_900_second_session_is_reused_by_default(flags: List[str], calls: int) -> None:
    with FakeSts([assume_role_ok(timedelta(seconds=900))]) as sts:
        for _ in range(2):
            assert ok(run(sts.url, "-r", ROLE_ARN, "-d", "900", *flags, env=SOURCE)) == ISSUED_KEY_ID
        assert len(sts.requests) == calls


def test_profile_duration_sets_the_default_min_ttl() -> None:
    write_profiles()
    config_file().write_text(config_file().read_text().replace("source_profile = base\n",
                                                               "source_profile = base\nduration_seconds = 900\n"))
    with FakeSts([assume_role_ok(timedelta(seconds=900))]) as sts:
        ok(run(sts.url, "--profile", "deploy"))
        ok(run(sts.url, "--profile", "deploy"))
        assert len(sts.requests) == 1
        assert sts.requests[0].form["DurationSeconds"] == "900"


# --- the key follows the chain's settings, not the file ---------------------------------------


@pytest.mark.parametrize(
    "edit, same",
    [
        (lambda text: text + "[profile new]\nregion = ap-south-1\n", True),
        (lambda text: text.replace("[profile other]\nregion = eu-west-1", "[profile other]\nregion = eu-north-1"), True),
        (lambda text: "# a comment\n\n" + text, True),
        (lambda text: text.replace("source_profile = base\n", "source_profile = base\nduration_seconds = 1800\n"), False),
        (lambda text: text.replace("source_profile = base\n", "source_profile = base\nexternal_id = ext-1\n"), False),
        (lambda text: text.replace("[profile base]\nregion = us-east-1", "[profile base]\nregion = us-west-2"), False),
        (lambda text: text.replace(ROLE_ARN, JUMP), False),
    ],
    ids=["new profile", "unrelated profile edited", "comment", "duration of the chain's hop", "external id",
         "source profile's settings", "role of the chain"],
)
def test_editing_the_config_changes_the_key_only_where_the_chain_changes(edit, same: bool) -> None:
    write_profiles()
    before = key_for(["--profile", "deploy"])
    config_file().write_text(edit(config_file().read_text()))
    assert (key_for(["--profile", "deploy"]) == before) == same


def test_an_unrelated_edit_keeps_the_session() -> None:
    write_profiles()
    with FakeSts([assume_role_ok()]) as sts:
        ok(run(sts.url, "--profile", "deploy"))
        config_file().write_text(config_file().read_text() + "[profile new]\nregion = ap-south-1\n")
        ok(run(sts.url, "--profile", "deploy"))
        assert len(sts.requests) == 1


def test_switching_the_source_key_id_in_a_profile_changes_the_key() -> None:
    write_profiles()
    before = key_for(["--profile", "deploy"])
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(credentials.read_text().replace(SOURCE_KEY_ID, "AKIAI44QH8DHBEXAMPLE"))
    assert key_for(["--profile", "deploy"]) != before
    # Another secret of the same key id is the same principal (and never key material).
    credentials.write_text(credentials.read_text().replace(SOURCE_SECRET, "anotherSecretOfTheSameKeyEXAMPLE"))
    changed = key_for(["--profile", "deploy"])
    credentials.write_text(credentials.read_text().replace("anotherSecretOfTheSameKeyEXAMPLE", "third"))
    assert key_for(["--profile", "deploy"]) == changed


def test_credential_process_command_line_is_in_the_key() -> None:
    config_file().write_text(f"[profile src]\ncredential_process = /opt/creds --user alice\n"
                             f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = src\n")
    before = key_for(["--profile", "deploy"])
    config_file().write_text(config_file().read_text().replace("alice", "bob"))
    assert key_for(["--profile", "deploy"]) != before


@pytest.mark.parametrize("sso, cached_as", [
    ("sso_session = corp\n[sso-session corp]\nsso_start_url = https://corp.example.com/start\n", "corp"),
    ("sso_start_url = https://corp.example.com/start\nsso_region = us-east-1\n", "https://corp.example.com/start"),
], ids=["sso-session", "legacy sso_start_url"])
def test_a_new_sso_login_changes_the_key(sso: str, cached_as: str) -> None:
    import hashlib

    config_file().write_text(
        f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = sso\n"
        f"[profile sso]\nsso_account_id = {ACCOUNT}\nsso_role_name = Dev\n{sso}")
    token = Path(os.environ["HOME"]) / ".aws" / "sso" / "cache" / (hashlib.sha1(cached_as.encode()).hexdigest() + ".json")
    token.parent.mkdir(parents=True)
    token.write_text('{"accessToken": "alice", "expiresAt": "2030-01-01T00:00:00Z"}')
    alice = key_for(["--profile", "deploy"])
    assert key_for(["--profile", "deploy"]) == alice
    replaced = token.with_suffix(".tmp")
    replaced.write_text('{"accessToken": "bob-logged-in", "expiresAt": "2030-01-01T00:00:00Z"}')
    replaced.replace(token)  # as botocore writes it: a new file
    assert key_for(["--profile", "deploy"]) != alice


def test_a_hit_through_profiles_imports_no_botocore() -> None:
    write_profiles()
    with FakeSts([assume_role_ok()]) as sts:
        ok(run(sts.url, "--profile", "deploy"))
        hit = subprocess.run([sys.executable, "-X", "importtime", "-m", "awsrun", "--profile", "deploy", PROCESS],
                             env={**os.environ, "AWS_ENDPOINT_URL_STS": sts.url}, capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
        assert ok(hit) == ISSUED_KEY_ID and len(sts.requests) == 1
    assert "import time:" in hit.stderr
    assert [line for line in hit.stderr.splitlines() if "botocore" in line] == []


def test_an_exec_hit_through_profiles_loads_no_parser() -> None:
    """A hit reads its entry and the profiles memo as plain fields: no json, no configparser."""
    write_profiles("[profile nested]\ns3 =\n  max_concurrent_requests = 20\nregion = eu-west-2\n")
    with FakeSts([assume_role_ok()]) as sts:
        argv = [sys.executable, "-X", "importtime", "-m", "awsrun", "--profile", "deploy", "--", "true"]
        env = {**os.environ, "AWS_ENDPOINT_URL_STS": sts.url}
        # The miss: the entry, the memo of both files and the command's neutral config.
        miss = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        hit = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert miss.returncode == hit.returncode == 0 and len(sts.requests) == 1, miss.stderr + hit.stderr
    assert "awsrun: reusing cached session of " in hit.stderr
    loaded = {line.split("|")[-1].strip() for line in hit.stderr.splitlines() if line.startswith("import time:")}
    assert "awsrun.runner" in loaded  # the control: the import log is there
    assert not loaded & {"json", "configparser", "botocore"}, sorted(loaded & {"json", "configparser", "botocore"})


def test_the_profiles_memo_gives_back_what_the_files_hold(tmp_path: Path) -> None:
    from awsrun.config import configfiles

    write_profiles('[profile "quoted name"]\nregion = eu-west-3\n'
                   "[profile nested]\ns3 =\n  max_concurrent_requests = 20\n  addressing_style = path\nregion = x\n"
                   "[profile empty-nested]\ns3 =\n  \nsource_profile = base\n[profile bare]\n"
                   "[profile multi]\ndescription = first line\n  second = line, with \u00e9 and \\N\n"
                   "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
                   "[services dev]\nsts =\n  endpoint_url = http://127.0.0.1:1\n")
    memo = tmp_path / "memo"
    memo.mkdir(mode=0o700)
    parsed = configfiles.read(dict(os.environ))
    first = configfiles.read(dict(os.environ), str(memo))  # parses, and keeps the memo
    (kept,) = [path for path in memo.iterdir() if path.name.startswith("profiles-")]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_bytes().startswith(b"awsrun-profiles/2\0")
    again = configfiles.read(dict(os.environ), str(memo))  # from the memo
    for files in (first, again):
        assert (files.profiles, files.sso_sessions, files.services) == (
            parsed.profiles, parsed.sso_sessions, parsed.services)
    assert again.profiles["bare"] == {}
    shaped = configfiles.AwsFiles()  # a nested section left empty, which no file above gives
    shaped.profiles = {"p": {"s3": {}, "region": ""}}
    text = configfiles._memo_text(shaped)
    assert text and configfiles._memo_files(text.split("\0")).profiles == shaped.profiles
    assert again.profiles["nested"]["s3"] == {"max_concurrent_requests": "20", "addressing_style": "path"}
    assert again.profiles["multi"]["description"] == "first line\nsecond = line, with \u00e9 and \\N"
    assert list(again.profiles) == list(parsed.profiles)  # in file order


@pytest.mark.parametrize("content", [b"", b"awsrun-profiles/2\0[\0profiles", b"awsrun-profiles/2\0=\0profiles\0x\0k\0v",
                                     b"awsrun-profiles/2\0[\0nosuch\0x", b'{"profiles": {}}', b"\xff\xfe",
                                     b"awsrun-profiles/2\0[\0profiles\0x\0=\0profiles\0x\0k\0v\0>\0profiles\0x\0k\0a\0b"])
def test_an_unsound_memo_is_parsed_again(tmp_path: Path, content: bytes) -> None:
    from awsrun.config import configfiles

    write_profiles()
    memo = tmp_path / "memo"
    memo.mkdir(mode=0o700)
    parsed = configfiles.read(dict(os.environ), str(memo))
    (kept,) = [path for path in memo.iterdir() if path.name.startswith("profiles-")]
    kept.write_bytes(content)
    again = configfiles.read(dict(os.environ), str(memo))
    assert again.profiles == parsed.profiles and "deploy" in again.profiles
    assert kept.read_bytes().startswith(b"awsrun-profiles/2\0[\0profiles\0")  # written again, whole


def test_a_nul_in_the_files_leaves_them_without_a_memo(tmp_path: Path) -> None:
    from awsrun.config import configfiles

    write_profiles("[profile odd]\nregion = a\0b\n")
    memo = tmp_path / "memo"
    memo.mkdir(mode=0o700)
    assert configfiles.read(dict(os.environ), str(memo)).profiles["odd"]["region"] == "a\0b"
    assert list(memo.iterdir()) == []


# --- one MFA code per device ------------------------------------------------------------------


def actions(sts: FakeSts) -> List[tuple]:
    """(Action, RoleArn, SerialNumber, TokenCode, signed with the MFA session?) of each request."""
    return [(r.form.get("Action"), r.form.get("RoleArn"), r.form.get("SerialNumber"), r.form.get("TokenCode"),
             MFA_SESSION_KEY_ID in r.authorization) for r in sts.requests]


def test_two_roles_behind_one_device_ask_one_code(folder: Path) -> None:
    with FakeSts([get_session_token_ok(), assume_role_ok()]) as sts:
        first = run(sts.url, "-r", JUMP, "--mfa-serial", SERIAL, "--mfa-code", CODE, env=SOURCE)
        # No code and no terminal to ask on: only a kept MFA session can serve the second role.
        second = run(sts.url, "-r", TARGET, "--mfa-serial", SERIAL, env=SOURCE, start_new_session=True)
        assert (ok(first), ok(second)) == (ISSUED_KEY_ID, ISSUED_KEY_ID)
        assert f"awsrun: assuming from the cached MFA session of {SERIAL}: no code needed" in second.stderr
        assert "cached MFA session" not in first.stderr
        assert actions(sts) == [
            ("GetSessionToken", None, SERIAL, CODE, False),
            ("AssumeRole", JUMP, None, None, True),
            ("AssumeRole", TARGET, None, None, True),
        ]
        for path in folder.glob("*.session"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(list(folder.glob("*.session"))) == 3  # the MFA session and two role sessions
        # Another device, or --fresh: a new code is needed, and there is no terminal to ask on.
        other = run(sts.url, "-r", TARGET, "--mfa-serial", OTHER_SERIAL, "--fresh", env=SOURCE, start_new_session=True)
        fresh = run(sts.url, "-r", JUMP, "--mfa-serial", SERIAL, "--fresh", env=SOURCE, start_new_session=True)
        for result in (other, fresh):
            assert result.returncode == 125 and "no terminal to ask on" in result.stderr
        assert len(sts.requests) == 3
    assert CODE not in "".join(path.read_text() for path in folder.glob("*.session")).replace(ACCOUNT, "")


def test_profiles_with_one_mfa_serial_ask_one_code() -> None:
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n")
    config_file().write_text(
        f"[profile jump]\nrole_arn = {JUMP}\nsource_profile = base\nmfa_serial = {SERIAL}\n"
        f"[profile target]\nrole_arn = {TARGET}\nsource_profile = base\nmfa_serial = {SERIAL}\n")
    with FakeSts([get_session_token_ok(), assume_role_ok()]) as sts:
        ok(run(sts.url, "--profile", "jump", "--mfa-code", CODE))
        ok(run(sts.url, "--profile", "target", start_new_session=True))
        assert [a[0] for a in actions(sts)] == ["GetSessionToken", "AssumeRole", "AssumeRole"]
        assert [a[4] for a in actions(sts)] == [False, True, True]


def test_a_temporary_source_sends_the_code_with_each_assume_role() -> None:
    env = {**SOURCE, **TEMPORARY}
    with FakeSts([assume_role_ok()]) as sts:
        ok(run(sts.url, "-r", JUMP, "--mfa-serial", SERIAL, "--mfa-code", CODE, env=env))
        second = run(sts.url, "-r", TARGET, "--mfa-serial", SERIAL, env=env, start_new_session=True)
        assert second.returncode == 125 and "no terminal to ask on" in second.stderr
        assert actions(sts) == [("AssumeRole", JUMP, SERIAL, CODE, False)]


def test_parallel_roles_behind_one_device_make_one_mfa_session() -> None:
    from tests.fake_sts import slow

    env = {**os.environ, **SOURCE}
    with FakeSts([slow(4, get_session_token_ok()), assume_role_ok()]) as sts:  # the other waits meanwhile
        env["AWS_ENDPOINT_URL_STS"] = sts.url
        runs = [subprocess.Popen([sys.executable, "-m", "awsrun", "-r", role, "--mfa-serial", SERIAL,
                                  "--mfa-code", CODE, PROCESS], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for role in (JUMP, TARGET)]
        results = [run.communicate(timeout=60) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], results
        assert sorted(a[0] for a in actions(sts)) == ["AssumeRole", "AssumeRole", "GetSessionToken"]
        assert [a[4] for a in actions(sts) if a[0] == "AssumeRole"] == [True, True]
    # The one that waited for the other's MFA session said so.
    assert sum("waiting for another awsrun" in stderr for _, stderr in results) == 1
