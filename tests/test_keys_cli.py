"""awsrun-keys in-process: an in-memory keyring, IAM and STS in moto (or a fake where moto cannot fail)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.keys_support import MemoryKeyring, iam_client, iam_env, iam_key_ids, new_iam_user  # noqa: F401

from awsrun.keys import cli
from awsrun.keys.aws import Aws, KeyRejected
from awsrun.keys.store import SERVICE, StoredKey, unsafe_reason

DAY = 86400.0


class Result:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err


class Harness:
    """main() with one keyring, one clock and one AWS for a whole test."""

    def __init__(self, aws: Any = None) -> None:
        self.backend = MemoryKeyring()
        self.now = time.time()  # moto dates keys by the real clock
        self.sleeps: List[float] = []
        self.aws = aws

    def __call__(self, *argv: str, stdin: str = "") -> Result:
        out, err = io.StringIO(), io.StringIO()
        deps = cli.Deps(backend=self.backend, aws=self.aws, sleep=self.sleeps.append, clock=lambda: self.now)
        status = cli.main(list(argv), os.environ, stdin=io.StringIO(stdin), stdout=out, stderr=err, deps=deps)
        self.aws = deps.aws
        return Result(status, out.getvalue(), err.getvalue())

    def item(self, name: str) -> Optional[StoredKey]:
        text = self.backend.items.get((SERVICE, name))
        return StoredKey.from_json(text) if text else None


@pytest.fixture
def keys(iam_env: Dict[str, str]) -> Harness:
    return Harness()


def config_path() -> Path:
    return Path(os.environ["AWS_CONFIG_FILE"])


def credentials_path() -> Path:
    return Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])


def assert_no_secret(result: Result, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.out + result.err
        assert secret[:8] not in result.err


def test_add_stores_verifies_and_points_the_profile(keys: Harness, moto_sts: str) -> None:
    user = new_iam_user(moto_sts)
    config_path().write_text("# mine\n[profile other]\nregion = eu-west-1\n")
    result = keys("add", "work", "--stdin", stdin=f"{user.key_id}\n{user.secret}\n")
    assert result.status == 0, result.err
    assert result.out == ""
    assert user.arn in result.err and "****" + user.key_id[-4:] in result.err
    assert_no_secret(result, user.secret, user.key_id)
    item = keys.item("work")
    assert item and (item.key_id, item.secret) == (user.key_id, user.secret)
    assert config_path().read_text() == (
        "# mine\n[profile other]\nregion = eu-west-1\n\n[profile work]\ncredential_process = awsrun-keys get work\n")
    got = keys("get", "work")
    assert got.status == 0 and json.loads(got.out) == {"Version": 1, "AccessKeyId": user.key_id, "SecretAccessKey": user.secret}
    again = keys("add", "work", "--stdin", stdin=f"{user.key_id}\n{user.secret}\n")
    assert again.status == 125 and "already in the keyring" in again.err


@pytest.mark.parametrize("stdin, message", [
    ("ASIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET\n", "temporary"),
    ("akia-not-a-key\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET\n", "AKIA followed by 16"),
    ("AKIAIOSFODNN7EXAMPLE\nshort secret here\n", "invalid secret access key '(17 characters)'"),
    ("AKIAIOSFODNN7EXAMPLE\n", "expects two lines"),
])
def test_add_refuses_bad_keys_locally(keys: Harness, stdin: str, message: str) -> None:
    keys.aws = "no AWS call may happen"  # any call would raise AttributeError -> internal error
    result = keys("add", "work", "--stdin", stdin=stdin)
    assert result.status == 125 and message in result.err and len(result.err.splitlines()) == 1
    assert "short secret" not in result.err and "SOURCESECRET" not in result.err
    assert keys.backend.items == {} and not config_path().exists()


@pytest.mark.parametrize("config, credentials, message", [
    ("[profile work]\nrole_arn = arn:aws:iam::123456789012:role/R\nsource_profile = base\n", "", "sets role_arn"),
    ("[profile work]\ncredential_process = other-tool\n", "", "already has credential_process"),
    ("", "[work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = x\n", "awsrun-keys import work"),
    ("[profile work]\na = 1\n[profile work]\nb = 2\n", "", "cannot read"),
])
def test_add_refuses_profiles_it_would_break(keys: Harness, config: str, credentials: str, message: str) -> None:
    config_path().write_text(config)
    credentials_path().write_text(credentials)
    result = keys("add", "work", "--stdin", stdin="AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET\n")
    assert result.status == 125 and message in result.err, result.err
    assert config_path().read_text() == config and keys.backend.items == {}


CREDENTIALS_BEFORE = (
    "; managed by hand\r\n[other]\r\naws_access_key_id = AKIAOTHEROTHEREXAMPLE\r\n"
    "[work]\r\n# the work key\r\naws_access_key_id = {key_id}\r\naws_secret_access_key = {secret}\r\nregion = eu-west-1"
)
CREDENTIALS_AFTER = (
    "; managed by hand\r\n[other]\r\naws_access_key_id = AKIAOTHEROTHEREXAMPLE\r\n"
    "[work]\r\n# the work key\r\nregion = eu-west-1"
)
CONFIG_BEFORE = "[profile work]\noutput = json\n\n# deploy\n[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/D\nsource_profile = work\n"
CONFIG_AFTER = ("[profile work]\noutput = json\ncredential_process = awsrun-keys get work\n\n# deploy\n[profile deploy]\n"
                "role_arn = arn:aws:iam::123456789012:role/D\nsource_profile = work\n")


def test_import_moves_the_keys_and_keeps_every_other_byte(keys: Harness, moto_sts: str) -> None:
    user = new_iam_user(moto_sts)
    credentials_path().write_bytes(CREDENTIALS_BEFORE.format(key_id=user.key_id, secret=user.secret).encode())
    credentials_path().chmod(0o600)
    config_path().write_bytes(CONFIG_BEFORE.encode())
    result = keys("import", "work")
    assert result.status == 0, result.err
    assert_no_secret(result, user.secret, user.key_id)
    assert credentials_path().read_bytes() == CREDENTIALS_AFTER.encode()
    assert credentials_path().stat().st_mode & 0o777 == 0o600
    assert config_path().read_bytes() == CONFIG_AFTER.encode()
    # The config's backup is kept; the credentials file held the secret, so none of it is.
    assert sorted(os.listdir(config_path().parent)) == ["config", "config.awsrun-keys.bak", "credentials"]
    assert (config_path().parent / "config.awsrun-keys.bak").read_bytes() == CONFIG_BEFORE.encode()
    item = keys.item("work")
    assert item and (item.key_id, item.secret) == (user.key_id, user.secret)
    listed = keys("list")
    assert listed.status == 0
    assert f"work  ****{user.key_id[-4:]}  0m   work, deploy" in listed.out
    assert "keyring: tests.keys_support.MemoryKeyring" in listed.out
    assert_no_secret(listed, user.secret, user.key_id)


@pytest.mark.parametrize("before, after", [
    ("[other]\naws_access_key_id = AKIAOTHEROTHEREXAMPLE\n\n[work]\naws_access_key_id = {key_id}\n"
     "aws_secret_access_key = {secret}\n", "[other]\naws_access_key_id = AKIAOTHEROTHEREXAMPLE\n"),
    ("[work]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n\n[other]\nx = 1\n", "[other]\nx = 1\n"),
    ("[work]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n", ""),
])
def test_import_leaves_no_empty_section_behind(keys: Harness, moto_sts: str, before: str, after: str) -> None:
    user = new_iam_user(moto_sts)
    credentials_path().write_text(before.format(key_id=user.key_id, secret=user.secret))
    result = keys("import", "work")
    assert result.status == 0, result.err
    assert credentials_path().read_text() == after
    assert config_path().read_text() == "[profile work]\ncredential_process = awsrun-keys get work\n"


def test_import_from_the_config_file(keys: Harness, moto_sts: str) -> None:
    user = new_iam_user(moto_sts)
    config_path().write_text(f"[default]\naws_access_key_id={user.key_id}\naws_secret_access_key={user.secret}\nregion=x\n")
    assert keys("import", "default").status == 0
    assert config_path().read_text() == "[default]\nregion=x\ncredential_process = awsrun-keys get default\n"
    assert os.listdir(config_path().parent) == ["config"]


class RejectingAws:
    def identity(self, key_id: str, secret: str) -> str:
        raise KeyRejected("rejected", code="InvalidClientTokenId")


def test_import_rejected_by_sts_changes_nothing(iam_env: Dict[str, str]) -> None:
    keys = Harness(RejectingAws())
    before = CREDENTIALS_BEFORE.format(key_id="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET").encode()
    credentials_path().write_bytes(before)
    config_path().write_bytes(CONFIG_BEFORE.encode())
    result = keys("import", "work")
    assert result.status == 125 and "STS rejected the key ****MPLE" in result.err and "nothing was stored" in result.err
    assert credentials_path().read_bytes() == before and config_path().read_bytes() == CONFIG_BEFORE.encode()
    assert keys.backend.items == {}


def test_import_that_cannot_write_takes_the_key_back_out(keys: Harness, moto_sts: str) -> None:
    user = new_iam_user(moto_sts)
    credentials_path().write_text(f"[work]\naws_access_key_id = {user.key_id}\naws_secret_access_key = {user.secret}\n")
    config_path().mkdir()  # the config "file" is a folder: its replace fails
    result = keys("import", "work")
    assert result.status == 125 and len(result.err.splitlines()) == 1
    assert user.secret in credentials_path().read_text()
    assert keys.item("work") is None


@pytest.mark.parametrize("credentials, message", [
    ("[work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = s\naws_session_token = t\n", "temporary"),
    ("[work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "only one of"),
    ("[profile work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "has no aws_access_key_id"),
])
def test_import_refusals(keys: Harness, credentials: str, message: str) -> None:
    credentials_path().write_text(credentials)
    result = keys("import", "work")
    assert result.status == 125 and message in result.err
    assert credentials_path().read_text() == credentials and keys.backend.items == {}


def add(keys: Harness, moto_sts: str, name: str = "work") -> Any:
    user = new_iam_user(moto_sts)
    assert keys("add", name, "--stdin", stdin=f"{user.key_id}\n{user.secret}\n").status == 0
    return user


def test_rotate_replaces_the_key_in_iam_and_the_keyring(keys: Harness, moto_sts: str) -> None:
    user = add(keys, moto_sts)
    result = keys("rotate", "work")
    assert result.status == 0, result.err
    item = keys.item("work")
    assert item and item.key_id != user.key_id and item.pending is None and item.retired is None
    assert iam_key_ids(moto_sts, user.name) == [item.key_id]
    assert f"the old key ****{user.key_id[-4:]} deleted" in result.err
    assert_no_secret(result, user.secret, item.secret, item.key_id)
    assert json.loads(keys("get", "work").out)["AccessKeyId"] == item.key_id


def test_rotate_older_than(keys: Harness, moto_sts: str) -> None:
    user = add(keys, moto_sts)
    young = keys("rotate", "work", "--older-than", "90d")
    assert young.status == 0 and "not older than 90d; not rotated" in young.err
    assert keys.item("work").key_id == user.key_id  # type: ignore[union-attr]
    keys.now = time.time() + 91 * DAY
    assert "91d" in keys("list").out
    assert keys("rotate", "work", "--older-than", "90d").status == 0
    assert keys.item("work").key_id != user.key_id  # type: ignore[union-attr]


def test_rotate_refuses_a_user_with_two_keys(keys: Harness, moto_sts: str) -> None:
    user = add(keys, moto_sts)
    other = iam_client(moto_sts).create_access_key(UserName=user.name)["AccessKey"]["AccessKeyId"]  # type: ignore[attr-defined]
    result = keys("rotate", "work")
    assert result.status == 125 and len(result.err.splitlines()) == 1
    assert f"****{user.key_id[-4:]} (in the keyring)" in result.err and f"****{other[-4:]}" in result.err
    assert user.key_id not in result.err and other not in result.err
    assert keys.item("work").key_id == user.key_id  # type: ignore[union-attr]
    assert iam_key_ids(moto_sts, user.name) == sorted([user.key_id, other])


class Interrupting:
    """Real AWS calls, with a Ctrl-C at one named step."""

    def __init__(self, aws: Aws, at: str, key_id: Optional[str] = None) -> None:
        self.aws, self.at, self.key_id = aws, at, key_id

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.aws, name)

        def wrapped(*args: Any) -> Any:
            if name == self.at and (self.key_id is None or args[0] != self.key_id):
                self.at = ""
                raise KeyboardInterrupt
            return call(*args)
        return wrapped


@pytest.mark.parametrize("step", ["delete_key", "identity"])
def test_an_interrupted_rotation_keeps_a_working_key_and_a_rerun_finishes_it(keys: Harness, moto_sts: str, step: str) -> None:
    user = add(keys, moto_sts)
    # identity: interrupted while waiting for STS to accept the new key (not the first check of the old one)
    keys.aws = Interrupting(keys.aws, step, key_id=user.key_id if step == "identity" else None)
    interrupted = keys("rotate", "work")
    assert interrupted.status == 130 and interrupted.err.endswith("interrupted\n")
    item = keys.item("work")
    assert item is not None
    in_iam = iam_key_ids(moto_sts, user.name)
    assert len(in_iam) == 2 and user.key_id in in_iam
    if step == "delete_key":  # promoted: the new key is in use, the old one still to delete
        assert item.key_id != user.key_id and item.retired == user.key_id
    else:  # still pending: the old key stays in use
        assert item.key_id == user.key_id and item.pending and item.pending.key_id in in_iam
    listed = keys("list")
    assert "rotation unfinished" in listed.out
    assert json.loads(keys("get", "work").out)["AccessKeyId"] in in_iam
    keys.aws = keys.aws.aws
    finished = keys("rotate", "work")
    assert finished.status == 0, finished.err
    item = keys.item("work")
    assert item and item.pending is None and item.retired is None
    assert iam_key_ids(moto_sts, user.name) == [item.key_id] and item.key_id != user.key_id


class SlowIam:
    """STS that rejects new keys ``rejections`` times before accepting them (IAM's eventual consistency)."""

    def __init__(self, rejections: int) -> None:
        self.rejections, self.deleted = rejections, []  # type: ignore[var-annotated]

    def identity(self, key_id: str, secret: str) -> str:
        if key_id == "AKIANEWNEWNEWEXAMPLE" and self.rejections:
            self.rejections -= 1
            raise KeyRejected("not yet", code="InvalidClientTokenId")
        return "arn:aws:iam::123456789012:user/alice"

    def list_keys(self, key_id: str, secret: str, user: str) -> list:
        from awsrun.keys.aws import AccessKey

        return [AccessKey("AKIAIOSFODNN7EXAMPLE", "Active", 0.0)]  # the new key is never listed: "deleted"

    def create_key(self, key_id: str, secret: str, user: str) -> Tuple[str, str, float]:
        return "AKIANEWNEWNEWEXAMPLE", "N" * 40, 1.0

    def delete_key(self, key_id: str, secret: str, user: str, old: str) -> bool:
        self.deleted.append(old)
        return True


def slow_harness(rejections: int) -> Harness:
    keys = Harness(SlowIam(rejections))
    keys.backend.set_password(SERVICE, "work", StoredKey("AKIAIOSFODNN7EXAMPLE", "S" * 40, 0.0).to_json())
    return keys


def test_rotation_waits_with_backoff_until_sts_accepts_the_new_key(isolated: Path) -> None:
    keys = slow_harness(3)
    assert keys("rotate", "work").status == 0
    assert keys.sleeps == [1.0, 2.0, 4.0]
    assert keys.item("work") == StoredKey("AKIANEWNEWNEWEXAMPLE", "N" * 40, 1.0)
    assert keys.aws.deleted == ["AKIAIOSFODNN7EXAMPLE"]


def test_a_new_key_never_accepted_leaves_the_old_one_in_use(isolated: Path) -> None:
    keys = slow_harness(1000)
    result = keys("rotate", "work")
    assert result.status == 125 and "no longer exists in IAM" in result.err and "****MPLE stays in use" in result.err
    assert len(keys.sleeps) == 8 and sum(keys.sleeps) < 60
    item = keys.item("work")
    assert item and item.key_id == "AKIAIOSFODNN7EXAMPLE" and item.pending is None
    assert keys.aws.deleted == []


def test_remove_forgets_the_key_and_the_profile_lines(keys: Harness, moto_sts: str) -> None:
    add(keys, moto_sts)
    config_path().write_text(config_path().read_text() + "[profile other]\ncredential_process = awsrun-keys get work\nregion = x\n")
    result = keys("remove", "work")
    assert result.status == 0 and "still active in IAM" in result.err
    assert keys.backend.items == {(SERVICE, ".names"): "[]"}
    # [profile work] held only the line add wrote: it goes; [profile other] keeps its region.
    assert config_path().read_text() == "[profile other]\nregion = x\n"
    missing = keys("get", "work")
    assert missing.status == 125 and missing.out == "" and "no key named 'work'" in missing.err
    assert keys("remove", "work").status == 125


class Locked(MemoryKeyring):
    def get_password(self, service: str, username: str) -> Optional[str]:
        from keyring.errors import KeyringLocked

        raise KeyringLocked("Failed to unlock the item!")


class Dismissed(MemoryKeyring):
    def get_password(self, service: str, username: str) -> Optional[str]:
        raise RuntimeError("Prompt dismissed.")


@pytest.mark.parametrize("backend, message", [
    (Locked(), "is locked; unlock it and run again"),
    (Dismissed(), "could not read the keyring (tests.test_keys_cli.Dismissed): RuntimeError: Prompt dismissed."),
])
@pytest.mark.parametrize("argv", [("get", "work"), ("list",), ("rotate", "work")])
def test_a_locked_or_refused_keyring_is_one_line_and_125(isolated: Path, backend: Any, message: str, argv: Tuple[str, ...]) -> None:
    keys = Harness()
    keys.backend = backend
    result = keys(*argv)
    assert result.status == 125 and result.out == ""
    assert result.err.count("\n") == 1 and message in result.err and "Traceback" not in result.err


def _fake(module: str, name: str, **attributes: Any) -> Any:
    return type(name, (), {"__module__": module, **attributes})()


@pytest.mark.parametrize("backend, refused", [
    (_fake("keyring.backends.fail", "Keyring"), True),
    (_fake("keyring.backends.null", "Keyring"), True),
    (_fake("keyrings.alt.file", "PlaintextKeyring"), True),
    (_fake("keyring.backends.chainer", "ChainerBackend", backends=[]), True),
    (_fake("keyring.backends.chainer", "ChainerBackend", backends=[_fake("keyrings.alt.file", "PlaintextKeyring")]), True),
    (_fake("keyring.backends.SecretService", "Keyring"), False),
    (_fake("keyring.backends.macOS", "Keyring"), False),
    (_fake("keyrings.alt.file", "EncryptedKeyring"), False),
])
def test_unsafe_backends(backend: Any, refused: bool) -> None:
    assert bool(unsafe_reason(backend)) is refused


def _keys_process(code: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    root = str(Path(__file__).resolve().parent.parent)
    return subprocess.run([sys.executable, "-c", code, "list"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XDG_CONFIG_HOME": os.path.join(os.environ["HOME"], ".config"),
                               "XDG_CACHE_HOME": os.path.join(os.environ["HOME"], ".cache"), **env,
                               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))},
                          stdin=subprocess.DEVNULL)


def test_without_the_keyring_library_one_line_says_what_to_install(isolated: Path) -> None:
    done = _keys_process("import sys; sys.modules['keyring'] = None; from awsrun.keys.cli import run; run()", {})
    assert done.returncode == 125
    assert done.stderr == "awsrun-keys: the OS keyring needs the keyring library: pip install 'awsrun[keyring]'\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="keyring's choice without D-Bus is Linux's")
def test_an_automatically_chosen_unsafe_backend_is_refused_but_a_named_one_is_used(isolated: Path) -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}  # no Secret Service: keyring falls back to fail
    refused = _keys_process("from awsrun.keys.cli import run; run()", env)
    assert refused.returncode == 125 and refused.stderr.count("\n") == 1
    assert "refusing the keyring backend keyring.backends.fail.Keyring" in refused.stderr
    named = _keys_process("from awsrun.keys.cli import run; run()", {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert named.returncode == 0 and named.stdout.startswith("keyring: keyring.backends.null.Keyring\n")


@pytest.mark.parametrize("argv, message", [
    ([], "no command given (see 'awsrun-keys --help')"),
    (["frobnicate"], "unknown command; the commands are: add, import, list, rotate, remove, get"),
    # a secret pasted where the command goes is not echoed, not even in part
    (["wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET"], "unknown command; the commands are: add, import, list"),
    (["AKIAIOSFODNN7EXAMPLE", "x"], "unknown command; the commands are: add, import, list"),
    (["add", "work", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET"], "wrong arguments for 'add'"),
    (["get", "../etc"], "invalid name '../etc'"),
    (["rotate", "work", "--older-than", "soon"], "invalid --older-than 'soon'"),
])
def test_usage_errors(isolated: Path, argv: List[str], message: str) -> None:
    result = Harness()(*argv)
    assert result.status == 125 and message in result.err and result.err.count("\n") == 1
    assert "SOURCESECRET" not in result.err and "IOSFODNN" not in result.err and "wJalrX" not in result.err
    assert "frobnicate" not in result.err


def test_a_missing_aws_profile_is_one_line(keys: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    result = keys("add", "work", "--stdin", stdin="AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET\n")
    assert result.status == 125 and "could not set up the STS client" in result.err and "nosuch" in result.err
    assert keys.backend.items == {} and not config_path().exists()
