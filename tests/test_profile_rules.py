"""The profile rules every AWS SDK shares, and AWS_PROFILE read as the AWS CLI reads it.

profiles.resolve as a table first; then awsrun as a process against tests/fake_sts.py (to
see each call: its action, its signature, its session name), moto (to see what the
command receives), a small fake SSO portal, and a closed port where nothing may be called.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from awsrun.config import profiles
from awsrun.errors import ConfigError
from awsrun.config.naming import default_session_name
from awsrun.config.profiles import ProfileChain, ProfileHop, SourceSpec
from tests.conftest import SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun, trust_env_file
from tests.fake_sts import FakeSts, Reply, assume_role_ok, closed_port_url, error
from tests.test_profiles import (
    BASE_KEY_ID, BASE_SECRET, JUMP, KEYS, SRC_KEY_ID, SRC_SECRET, TARGET, assert_one_line_failure, assumed,
    caller_arn, child_cmd, signed_with, sts_at, write_aws,
)

OTHER = "arn:aws:iam::444444444444:role/Other"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLW5vdC1yZWFs"

# --- 1. profiles.resolve: the SDKs' rules --------------------------------------------------

RULES = [
    pytest.param(
        {"src": {**KEYS, "role_arn": OTHER, "source_profile": "base"}, "base": KEYS,
         "t": {"role_arn": TARGET, "source_profile": "src"}},
        "t", ProfileChain(SourceSpec(profile="src", own_keys=True), (ProfileHop("t", TARGET),), None),
        id="source-with-keys-ends-the-chain-its-role-not-followed"),
    pytest.param(
        {"src": {**KEYS, "role_arn": OTHER, "source_profile": "src"}, "t": {"role_arn": TARGET, "source_profile": "src"}},
        "t", ProfileChain(SourceSpec(profile="src", own_keys=True), (ProfileHop("t", TARGET),), None),
        id="self-referencing-source-with-keys-ends-the-chain"),
    pytest.param(
        {"src": {**KEYS, "sso_session": "corp"}, "t": {"role_arn": TARGET, "source_profile": "src"}},
        "t", ProfileChain(SourceSpec(profile="src", own_keys=True), (ProfileHop("t", TARGET),), None),
        id="source-keys-beat-its-sso"),
    pytest.param(
        {"src": KEYS, "t": {"role_arn": TARGET, "source_profile": "src"}},
        "t", ProfileChain(SourceSpec(profile="src"), (ProfileHop("t", TARGET),), None),
        id="plain-keys-source-left-to-botocore"),
    pytest.param(
        {"web": {"role_arn": JUMP, "web_identity_token_file": "/t", "role_session_name": "ci"}},
        "web", ProfileChain(SourceSpec(profile="web", web_identity=True, token_file="/t"),
                            (ProfileHop("web", JUMP, role_session_name="ci"),), None),
        id="web-identity-named-directly-is-a-hop"),
    pytest.param(
        {"web": {"role_arn": JUMP, "web_identity_token_file": "/t", "source_profile": "base"}, "base": KEYS,
         "t": {"role_arn": TARGET, "source_profile": "web"}},
        "t", ProfileChain(SourceSpec(profile="web", web_identity=True, token_file="/t"),
                          (ProfileHop("web", JUMP), ProfileHop("t", TARGET)), None),
        id="web-identity-beats-source_profile-as-in-botocore"),
]


@pytest.mark.parametrize("known, name, expected", RULES)
def test_resolve_follows_the_sdk_rules(known: Dict[str, Dict[str, str]], name: str, expected: ProfileChain) -> None:
    assert profiles.resolve(known, name) == expected


@pytest.mark.parametrize("known, name, words", [
    pytest.param({"src": {"aws_access_key_id": BASE_KEY_ID, "role_arn": OTHER, "source_profile": "x"},
                  "t": {"role_arn": TARGET, "source_profile": "src"}},
                 "t", ["'src'", "aws_access_key_id but no aws_secret_access_key"], id="source-half-keys"),
    pytest.param({"src": {"aws_secret_access_key": BASE_SECRET}}, "src",
                 ["'src'", "aws_secret_access_key but no aws_access_key_id"], id="named-half-keys"),
    pytest.param({"a": {"role_arn": JUMP, "source_profile": "a", "aws_access_key_id": BASE_KEY_ID}}, "a",
                 ["'a'", "no aws_secret_access_key"], id="self-reference-half-keys"),
])
def test_resolve_refuses_half_a_key_pair(known: Dict[str, Dict[str, str]], name: str, words: List[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        profiles.resolve(known, name)
    for word in words:
        assert word in str(caught.value)


# --- 2. a source profile with static keys ends the chain ----------------------------------

def test_source_with_keys_is_not_assumed_through_its_own_role() -> None:
    write_aws(f"[profile src]\nrole_arn = {OTHER}\nsource_profile = src\n\n"
              f"[profile t]\nrole_arn = {TARGET}\nsource_profile = src\n",
              f"[src]\naws_access_key_id = {SRC_KEY_ID}\naws_secret_access_key = {SRC_SECRET}\n")
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-p", "t", *child_cmd(0)], env=sts_at(sts.url))
    assert result.returncode == 0, result.stderr
    assert [(r.form["Action"], r.form["RoleArn"]) for r in sts.requests] == [("AssumeRole", TARGET)]
    assert signed_with(sts.requests[0]) == SRC_KEY_ID


# --- 3. web identity, assumed by awsrun ----------------------------------------------------

def web_identity_ok() -> Reply:
    return Reply(body=assume_role_ok().body.replace("AssumeRole", "AssumeRoleWithWebIdentity"))


def write_web_identity(tmp_path: Path, extra: str = "") -> Path:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    write_aws(f"[profile web]\nrole_arn = {JUMP}\nweb_identity_token_file = {token}\n{extra}\n"
              f"[profile t]\nrole_arn = {TARGET}\nsource_profile = web\n", "")
    return token


def test_web_identity_profile_is_assumed_by_awsrun_unsigned(tmp_path: Path) -> None:
    write_web_identity(tmp_path)
    with FakeSts([web_identity_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-v", "-s", "ci-run-7", "-d", "7200", "-p", "web", *child_cmd(0)],
                            env=sts_at(sts.url))
    assert result.returncode == 0, result.stderr
    [request] = sts.requests
    assert request.form["Action"] == "AssumeRoleWithWebIdentity"
    assert request.form["RoleArn"] == JUMP
    assert request.form["RoleSessionName"] == "ci-run-7"
    assert request.form["DurationSeconds"] == "7200"  # not a chained session: no one-hour cap
    assert request.form["WebIdentityToken"] == TOKEN
    assert "Credential=" not in request.authorization  # unsigned: the token is the proof
    assert TOKEN not in result.stderr + result.stdout
    assert "assumed " in result.stderr


def test_web_identity_as_source_profile_then_assume_role(tmp_path: Path, moto_sts: str) -> None:
    write_web_identity(tmp_path)
    result = run_awsrun(["--no-cache", "-p", "t", *child_cmd(0)], env=sts_at(moto_sts))
    assert result.returncode == 0, result.stderr
    env = child_report(result.stdout)["env"]
    assert caller_arn(moto_sts, env) == assumed(TARGET, default_session_name(os.environ))


def test_web_identity_then_role_flag_keeps_the_profiles_role(tmp_path: Path) -> None:
    write_web_identity(tmp_path)
    with FakeSts([web_identity_ok(), assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-p", "web", "-r", OTHER, *child_cmd(0)], env=sts_at(sts.url))
    assert result.returncode == 0, result.stderr
    assert [(r.form["Action"], r.form["RoleArn"]) for r in sts.requests] == [
        ("AssumeRoleWithWebIdentity", JUMP), ("AssumeRole", OTHER)]


@pytest.mark.parametrize("argv, token_text, words", [
    pytest.param(["-p", "web"], None, ["token", "cannot read"], id="missing-token-file"),
    pytest.param(["-p", "web"], "", ["token", "empty"], id="empty-token-file"),
    pytest.param(["-p", "web"], "two words", ["token", "printable"], id="not-a-token"),
    pytest.param(["-p", "web", "--tag", "team=a"], TOKEN, ["web identity", "session tags", "--tag"], id="tags"),
    pytest.param(["-p", "web", "--external-id", "x-1234"], TOKEN, ["web identity", "external id"], id="external-id"),
    pytest.param(["-p", "web", "--mfa-serial", "arn:aws:iam::111111111111:mfa/a"], TOKEN,
                 ["web identity", "MFA"], id="mfa"),
])
def test_web_identity_refusals_call_nothing(tmp_path: Path, argv: List[str], token_text: str, words: List[str]) -> None:
    token = write_web_identity(tmp_path)
    if token_text is None:
        token.unlink()
    else:
        token.write_text(token_text)
    with FakeSts([web_identity_ok()]) as sts:
        result = run_awsrun(["--no-cache", *argv, *child_cmd(0)], env=sts_at(sts.url))
    assert_one_line_failure(result, *words)
    assert sts.requests == []


def test_rejected_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    write_web_identity(tmp_path)
    with FakeSts([error("InvalidIdentityToken", message="Couldn't retrieve verification key")]) as sts:
        result = run_awsrun(["--no-cache", "-p", "web", *child_cmd(0)], env=sts_at(sts.url))
    line = assert_one_line_failure(result, "web identity token", "InvalidIdentityToken")
    assert TOKEN not in line


# --- 4. AWS_PROFILE as the AWS CLI reads it ------------------------------------------------

AWS_PROFILE_CONFIG = f"""\
[profile deploy]
role_arn = {TARGET}
source_profile = base
role_session_name = deployer

[profile other]
role_arn = {OTHER}
source_profile = base
"""
BASE_CREDENTIALS = f"[base]\naws_access_key_id = {BASE_KEY_ID}\naws_secret_access_key = {BASE_SECRET}\n"


@pytest.mark.parametrize("variables, role, origin", [
    pytest.param({"AWS_PROFILE": "deploy"}, TARGET, "$AWS_PROFILE", id="AWS_PROFILE"),
    pytest.param({"AWS_DEFAULT_PROFILE": "deploy"}, TARGET, "$AWS_DEFAULT_PROFILE", id="AWS_DEFAULT_PROFILE"),
    pytest.param({"AWS_PROFILE": "deploy", "AWS_DEFAULT_PROFILE": "other"}, TARGET, "$AWS_PROFILE",
                 id="AWS_PROFILE-first"),
])
def test_aws_profile_selects_the_profile(variables: Dict[str, str], role: str, origin: str) -> None:
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-v", *child_cmd(0)], env={**variables, **sts_at(sts.url)})
    assert result.returncode == 0, result.stderr
    assert f"profile = deploy (from {origin})" in result.stderr
    [request] = sts.requests
    assert (request.form["RoleArn"], request.form["RoleSessionName"]) == (role, "deployer")
    assert signed_with(request) == BASE_KEY_ID


def test_aws_profile_from_dotenv_selects_the_profile(isolated: Path) -> None:
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    (isolated / ".env").write_text("AWS_PROFILE=deploy\n")
    trust_env_file(isolated / ".env")
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-v", *child_cmd(0)], env=sts_at(sts.url))
    assert result.returncode == 0, result.stderr
    assert "profile = deploy (from AWS_PROFILE in" in result.stderr
    assert [r.form["RoleArn"] for r in sts.requests] == [TARGET]


def test_aws_profile_with_role_is_the_source_and_awsrun_assumes_every_hop() -> None:
    """As `aws --profile deploy` would: OTHER is assumed from deploy's session; awsrun makes both calls."""
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    with FakeSts([assume_role_ok(), assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-v", "-s", "me-now", "-r", OTHER, *child_cmd(0)],
                            env={"AWS_PROFILE": "deploy", **sts_at(sts.url)})
    assert result.returncode == 0, result.stderr
    assert [(r.form["RoleArn"], r.form["RoleSessionName"]) for r in sts.requests] == [
        (TARGET, "me-now"), (OTHER, "me-now")]
    assert signed_with(sts.requests[0]) == BASE_KEY_ID
    assert "role 1 of 2" in result.stderr and "(from profile deploy)" in result.stderr


def test_aws_profile_with_role_but_keys_in_the_environment_uses_the_keys() -> None:
    """botocore's chain reads environment keys before AWS_PROFILE's profile."""
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    env = {"AWS_PROFILE": "deploy", "AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-r", OTHER, *child_cmd(0)], env={**env, **sts_at(sts.url)})
    assert result.returncode == 0, result.stderr
    assert [r.form["RoleArn"] for r in sts.requests] == [OTHER]
    assert signed_with(sts.requests[0]) == SOURCE_KEY_ID


def test_profile_flag_beats_aws_profile() -> None:
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-p", "other", *child_cmd(0)], env={"AWS_PROFILE": "deploy", **sts_at(sts.url)})
    assert result.returncode == 0, result.stderr
    assert [r.form["RoleArn"] for r in sts.requests] == [OTHER]


def test_unknown_aws_profile_is_one_line_without_sts() -> None:
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    result = run_awsrun(["--no-cache", *child_cmd(0)], env={"AWS_PROFILE": "nope", **sts_at(closed_port_url())})
    assert_one_line_failure(result, "nope")


# --- 5. aws login and SSO sources ----------------------------------------------------------

def _has_crt() -> bool:
    try:
        import awscrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_has_crt(), reason="botocore's CRT extra is installed: login sessions load")
@pytest.mark.parametrize("argv", [["-p", "fromlogin"], ["-p", "login", "-r", TARGET]])
def test_login_session_without_crt_says_which_extra(argv: List[str]) -> None:
    write_aws(f"[profile login]\nlogin_session = arn:aws:iam::111111111111:user/alice\nregion = us-east-1\n\n"
              f"[profile fromlogin]\nrole_arn = {TARGET}\nsource_profile = login\n", "")
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", *argv, *child_cmd(0)], env=sts_at(sts.url))
    assert_one_line_failure(result, "aws login", "pip install 'awsrun[login]'")
    assert sts.requests == []


SSO_KEY_ID, SSO_SECRET = "ASIASSOPORTALEXAMPLE", "ssoPortalSecretssoPortalSecretssoPortal0"
SSO_ACCESS_TOKEN = "ssoAccessTokenNeverShown" + "t" * 20


@pytest.fixture
def sso_portal() -> Iterator[List[Dict[str, str]]]:
    """A fake IAM Identity Center portal: GetRoleCredentials for the right bearer token only."""
    seen: List[Dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, "token": self.headers.get("x-amz-sso_bearer_token", "")})
            if self.headers.get("x-amz-sso_bearer_token") != SSO_ACCESS_TOKEN:
                self.send_response(401)
                self.end_headers()
                return
            expiry = int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp() * 1000)
            body = json.dumps({"roleCredentials": {"accessKeyId": SSO_KEY_ID, "secretAccessKey": SSO_SECRET,
                                                   "sessionToken": "ssoSessionToken", "expiration": expiry}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    os.environ["AWS_ENDPOINT_URL_SSO"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        del os.environ["AWS_ENDPOINT_URL_SSO"]


def test_sso_session_profile_as_source(sso_portal: List[Dict[str, str]]) -> None:
    write_aws("[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\n"
              "[profile sso]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n"
              "region = us-east-1\n\n"
              f"[profile t]\nrole_arn = {TARGET}\nsource_profile = sso\n", "")
    cache = Path(os.environ["HOME"]) / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    expires = (datetime.now(timezone.utc) + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (cache / (hashlib.sha1(b"corp").hexdigest() + ".json")).write_text(json.dumps(
        {"startUrl": "https://corp.awsapps.com/start", "region": "us-east-1",
         "accessToken": SSO_ACCESS_TOKEN, "expiresAt": expires}))
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-v", "-p", "t", *child_cmd(0)], env=sts_at(sts.url))
    assert result.returncode == 0, result.stderr
    assert [r.form["RoleArn"] for r in sts.requests] == [TARGET]
    assert signed_with(sts.requests[0]) == SSO_KEY_ID
    assert [seen["token"] for seen in sso_portal] == [SSO_ACCESS_TOKEN]
    assert re.search(r"account_id=111111111111", sso_portal[0]["path"])
    assert SSO_ACCESS_TOKEN not in result.stderr and SSO_SECRET not in result.stderr


def test_aws_profile_as_source_and_profile_flag_do_not_share_a_cached_session(tmp_path: Path) -> None:
    """-p deploy -r OTHER replaces deploy's role; AWS_PROFILE=deploy -r OTHER assumes OTHER after it."""
    write_aws(AWS_PROFILE_CONFIG, BASE_CREDENTIALS)
    env = {"AWS_PROFILE": "deploy", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    with FakeSts([assume_role_ok()]) as sts:
        replaced = run_awsrun(["--cache", "-p", "deploy", "-r", OTHER, *child_cmd(0)],
                              env={**env, "AWS_ENDPOINT_URL_STS": sts.url})
        assert [r.form["RoleArn"] for r in sts.requests] == [OTHER]
        after = run_awsrun(["--cache", "-r", OTHER, *child_cmd(0)], env={**env, "AWS_ENDPOINT_URL_STS": sts.url})
        assert [r.form["RoleArn"] for r in sts.requests] == [OTHER, TARGET, OTHER]
    assert replaced.returncode == after.returncode == 0, after.stderr
    assert "reusing" not in after.stderr


@pytest.mark.parametrize("config, credentials, argv, words", [
    pytest.param(f"[profile t]\nrole_arn = {TARGET}\nsource_profile = half\n",
                 f"[half]\naws_access_key_id = {BASE_KEY_ID}\n", ["-p", "t"],
                 ["'half'", "no aws_secret_access_key"], id="source-with-half-a-key-pair"),
    pytest.param(f"[profile me]\nrole_arn = {TARGET}\nsource_profile = me\n", "", ["-p", "me"],
                 ["'me'", "its own source_profile"], id="self-reference-without-keys"),
    pytest.param(f"[profile a]\nrole_arn = {TARGET}\nsource_profile = b\n[profile b]\nrole_arn = {OTHER}\nsource_profile = a\n",
                 "", ["-p", "a"], ["profile loop", "a -> b -> a"], id="loop"),
    pytest.param(f"[profile t]\nrole_arn = {TARGET}\nsource_profile = half\n",
                 f"[half]\naws_access_key_id = {BASE_KEY_ID}\n", ["-r", OTHER],
                 ["'half'", "no aws_secret_access_key"], id="via-AWS_PROFILE"),
])
def test_broken_chains_are_one_line_without_sts(config: str, credentials: str, argv: List[str],
                                                words: List[str]) -> None:
    write_aws(config, credentials)
    env = {"AWS_PROFILE": "t"} if argv[0] == "-r" else {}
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["--no-cache", *argv, *child_cmd(0)], env={**env, **sts_at(sts.url)})
    assert_one_line_failure(result, *words)
    assert sts.requests == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_token_file_that_is_a_fifo_without_writer_does_not_hang(tmp_path: Path) -> None:
    token = write_web_identity(tmp_path)
    token.unlink()
    os.mkfifo(token)
    with FakeSts([web_identity_ok()]) as sts:
        result = run_awsrun(["--no-cache", "-p", "web", *child_cmd(0)], env=sts_at(sts.url))
    assert_one_line_failure(result, "token", "empty")
    assert sts.requests == []


@pytest.mark.parametrize("flag", ["-v", "--debug", "--dry-run"])
def test_the_token_is_never_printed(tmp_path: Path, flag: str) -> None:
    write_web_identity(tmp_path)
    with FakeSts([error("InvalidIdentityToken")]) as sts:
        result = run_awsrun(["--no-cache", flag, "-p", "t", *child_cmd(0)], env=sts_at(sts.url))
    assert "web identity token in" in result.stderr or flag != "-v"
    assert TOKEN not in result.stdout + result.stderr
