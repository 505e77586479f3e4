"""awsrun-keys and awsrun as real processes on a real keyring: gnome-keyring's Secret Service on a private D-Bus.

IAM and STS are moto's; the AWS CLI from the venv is the child that uses the keyring-held key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from tests.conftest import ROLE_ARN, run_awsrun
from tests.keys_support import (  # noqa: F401
    iam_env,
    iam_key_ids,
    keys_bin,
    new_iam_user,
    running_secret_service,
    secret_service,
    secret_service_session,
    stored_items,
)

AWS_CLI = os.path.join(os.path.dirname(sys.executable), "aws")
BACKEND = "keyring.backends.SecretService.Keyring"


def keys(*argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["awsrun-keys", *argv], input=stdin, capture_output=True, text=True, timeout=60)


def config() -> Path:
    return Path(os.environ["AWS_CONFIG_FILE"])


@pytest.fixture
def env(secret_service: object, iam_env: Dict[str, str], keys_bin: Path) -> Dict[str, str]:
    return iam_env


def test_add_get_list_rotate_remove_on_the_secret_service(env: Dict[str, str], moto_sts: str) -> None:
    user = new_iam_user(moto_sts)
    added = keys("add", "work", "--stdin", stdin=f"{user.key_id}\n{user.secret}\n")
    assert added.returncode == 0, added.stderr
    assert f"in the keyring ({BACKEND}) as work" in added.stderr and user.secret not in added.stderr
    assert json.loads(stored_items()["work"])["secret"] == user.secret
    assert user.secret not in config().read_text()

    got = keys("get", "work")
    assert got.returncode == 0 and json.loads(got.stdout) == {"Version": 1, "AccessKeyId": user.key_id, "SecretAccessKey": user.secret}

    listed = keys("list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0] == f"keyring: {BACKEND}"
    assert f"****{user.key_id[-4:]}" in listed.stdout and user.key_id not in listed.stdout

    rotated = keys("rotate", "work")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(keys("get", "work").stdout)["AccessKeyId"]
    assert new != user.key_id and iam_key_ids(moto_sts, user.name) == [new]

    removed = keys("remove", "work")
    assert removed.returncode == 0
    assert set(stored_items()) == {".names"} and "credential_process" not in config().read_text()


def test_import_then_any_aws_tool_and_awsrun_use_the_keyring(env: Dict[str, str], moto_sts: str) -> None:
    user = new_iam_user(moto_sts)
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(f"[work]\naws_access_key_id = {user.key_id}\naws_secret_access_key = {user.secret}\n")
    config().write_text(f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = work\n")
    imported = keys("import", "work")
    assert imported.returncode == 0, imported.stderr
    assert credentials.read_text() == ""  # the keys were all [work] held: no empty section is left
    assert config().read_text() == (f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = work\n\n"
                                    "[profile work]\ncredential_process = awsrun-keys get work\n")

    # The AWS CLI itself, through credential_process: the IAM user's own identity.
    direct = subprocess.run([AWS_CLI, "sts", "get-caller-identity", "--profile", "work"], capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["Arn"] == user.arn

    # awsrun with the keyring profile as --role's source, and as a role profile's source_profile.
    for args in (["-p", "work", "--role", ROLE_ARN], ["-p", "deploy"]):
        done = run_awsrun([*args, "--no-cache", "--", AWS_CLI, "sts", "get-caller-identity"])
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Deploy/")
        assert user.secret not in done.stdout + done.stderr


def test_awsrun_reports_a_missing_keyring_item_in_one_line(env: Dict[str, str]) -> None:
    config().write_text("[profile work]\ncredential_process = awsrun-keys get work\n")
    done = run_awsrun(["-p", "work", "--role", ROLE_ARN, "--no-cache", "--", "true"])
    assert done.returncode == 125
    assert "no key named 'work' in the keyring" in done.stderr and "Traceback" not in done.stderr


def test_a_locked_keyring_is_one_line_and_125(iam_env: Dict[str, str], keys_bin: Path, moto_sts: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with running_secret_service() as service:  # a keyring of its own: it stays locked
        for name, value in service.env.items():
            monkeypatch.setenv(name, value)
        user = new_iam_user(moto_sts)
        assert keys("add", "work", "--stdin", stdin=f"{user.key_id}\n{user.secret}\n").returncode == 0
        import secretstorage

        connection = secretstorage.dbus_init()
        try:
            secretstorage.get_default_collection(connection).lock()
        finally:
            connection.close()
        for argv in (["get", "work"], ["list"]):
            done = keys(*argv)
            assert done.returncode == 125, done.stderr
            assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
            assert "locked" in done.stderr or "access allowed" in done.stderr
            assert user.secret not in done.stderr


def test_awsrun_reads_the_keyring_in_process(env: Dict[str, str], moto_sts: str, keys_bin: Path) -> None:
    user = new_iam_user(moto_sts)
    assert keys("add", "work", "--stdin", stdin=f"{user.key_id}\n{user.secret}\n").returncode == 0
    # Without awsrun-keys on PATH, botocore could not run the credential_process: awsrun reads the keyring itself.
    path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if part != str(keys_bin))
    done = run_awsrun(["-v", "-p", "work", "--role", ROLE_ARN, "--no-cache", "--", AWS_CLI, "sts", "get-caller-identity"],
                      env={"PATH": path})
    assert done.returncode == 0, done.stderr
    assert f"source credentials = explicit (****{user.key_id[-4:]})" in done.stderr
    # A profile whose keys botocore would use before the process: awsrun does not read the keyring.
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYSOURCESECRET\n")
    done = run_awsrun(["-v", "-p", "work", "--role", ROLE_ARN, "--no-cache", "--dry-run", "--", "true"], env={"PATH": path})
    assert done.returncode == 0 and "source credentials = shared-credentials-file (****MPLE)" in done.stderr, done.stderr


@pytest.mark.parametrize("hint", ["", "no.such.Backend", "keyring.backends.null.Keyring", "keyring.backends.fail.Keyring",
                                  "planted.Keyring"])
def test_the_remembered_backend_is_only_a_speed_up(env: Dict[str, str], moto_sts: str, hint: str) -> None:
    user = new_iam_user(moto_sts)
    assert keys("add", "work", "--stdin", stdin=f"{user.key_id}\n{user.secret}\n").returncode == 0
    remembered = Path(os.environ["HOME"]) / ".cache" / "awsrun-keys" / "backend"
    assert remembered.read_text() == BACKEND + "\n"
    remembered.write_text(hint)  # stale, unknown, or an unsafe backend: ignored, keyring chooses again
    # A module in the working folder is never imported through the hint (python -m puts the folder on sys.path).
    Path("planted.py").write_text("import sys; sys.stderr.write('PLANTED RAN'); sys.exit(3)\n")
    got = subprocess.run([sys.executable, "-m", "awsrun.keys", "get", "work"], capture_output=True, text=True, timeout=60)
    assert "PLANTED" not in got.stderr
    assert got.returncode == 0 and json.loads(got.stdout)["SecretAccessKey"] == user.secret, got.stderr
    assert remembered.read_text() == BACKEND + "\n"


def test_add_asks_on_the_terminal_without_echo(env: Dict[str, str], moto_sts: str) -> None:
    import pexpect

    user = new_iam_user(moto_sts)
    import io

    child = pexpect.spawn("awsrun-keys", ["add", "work"], env=dict(os.environ), encoding="utf-8", timeout=30)
    child.logfile_read = io.StringIO()  # everything the terminal showed
    child.expect_exact("AWS access key id: ")
    child.sendline(user.key_id)
    child.expect_exact("AWS secret access key: ")
    child.sendline(user.secret)
    child.expect(pexpect.EOF)
    child.close()
    shown = child.logfile_read.getvalue()
    assert child.exitstatus == 0, shown
    assert "AWS secret access key: " in shown and f"****{user.key_id[-4:]}" in shown
    assert user.secret not in shown and user.key_id not in shown  # neither was echoed
    assert json.loads(stored_items()["work"])["secret"] == user.secret


def test_add_without_a_terminal_or_stdin_says_so(env: Dict[str, str]) -> None:
    done = subprocess.run(["awsrun-keys", "add", "work"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, start_new_session=True)  # no controlling terminal
    assert done.returncode == 125 and "no terminal to ask for the key on; pipe it in with --stdin" in done.stderr
