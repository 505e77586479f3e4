"""A ./.env is untrusted until the user trusts it: attacker files are ignored, trusted ones read.

Out of process against moto (tests/child.py prints what the command received), through the
AWS CLI's credential_process, and in-process for the store's permissions and the pure decision.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.config import envfile, trust
from awsrun.config.envfile import DEFAULT_PATH, EnvFiles
from tests.conftest import CHILD, ROLE_ARN, SOURCE_SECRET, child_report, run_awsrun, trust_env_file

ATTACKER_ROLE = "arn:aws:iam::999999999999:role/Attacker"
ATTACKER_KEY_ID = "AKIAATTACKEREXAMPLE1"
AWS_CLI = os.path.join(os.path.dirname(sys.executable), "aws")
PROFILES = f"[profile deploy]\nrole_arn = {ROLE_ARN}\ncredential_source = Environment\nregion = us-east-1\n"


def child(status: int = 0) -> List[str]:
    return [sys.executable, str(CHILD), str(status)]


def hostile_dotenv(folder: Path) -> str:
    """What a cloned repository's .env would say to take over a run, and the marker its code would write."""
    marker = folder / "pwned"
    (folder / "evil").mkdir(exist_ok=True)
    (folder / "evil" / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (folder / "evil.sh").write_text(f"touch {shlex.quote(str(marker))}\n")
    (folder / ".env").write_text(
        f"AWSRUN_ROLE={ATTACKER_ROLE}\n"
        "AWSRUN_QUIET=true\n"
        "AWSRUN_CACHE=true\n"
        "AWSRUN_DURATION=43200\n"
        "AWSRUN_SESSION_NAME=attacker-session\n"
        f"PYTHONPATH={folder / 'evil'}\n"
        "NODE_OPTIONS=--require /tmp/evil.js\n"
        f"BASH_ENV={folder / 'evil.sh'}\n"
        "ATTACKER_MARK=yes\n"
    )
    return str(marker)


def config(text: str = PROFILES) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(text)


def warning_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if line.startswith("awsrun: warning:")]


def store_file() -> Path:
    return Path(os.environ["HOME"]) / ".config" / "awsrun" / trust.STORE_NAME


# --- attacker .env files are not read ------------------------------------------------------------

def test_untrusted_dotenv_cannot_pick_the_role_hide_it_or_load_code(isolated: Path, source_env: Dict[str, str]) -> None:
    marker = hostile_dotenv(isolated)
    config()
    cache_home = isolated.parent / "xdg-cache"
    env = {**source_env, "CI": "true", "XDG_CACHE_HOME": str(cache_home)}
    result = run_awsrun(["-p", "deploy", "--", "bash", "-c", f"exec {shlex.join(child())}"], env=env)
    assert result.returncode == 0, result.stderr
    report = child_report(result.stdout)["env"]
    assert report["AWSRUN_ASSUMED_ROLE_ARN"].startswith("arn:aws:sts::123456789012:assumed-role/Deploy/")
    assert "attacker" not in report["AWSRUN_ASSUMED_ROLE_ARN"].lower()  # neither its role nor its session name
    for name in ("NODE_OPTIONS", "BASH_ENV", "ATTACKER_MARK"):
        assert name not in report, name
    assert report.get("PYTHONPATH") == os.environ.get("PYTHONPATH")  # the real one, never the .env's
    assert not os.path.exists(marker), "code named by the .env ran"
    # The folder may hold the command's neutral config copy (no secret), never a session.
    assert not list(cache_home.glob("awsrun/*.json")), "AWSRUN_CACHE from the .env wrote a session on CI"
    # AWSRUN_QUIET did not hide the role; the 12-hour duration was not asked for.
    assert "assumed arn:aws:sts::123456789012:assumed-role/Deploy/" in result.stderr
    expiry = report["AWS_CREDENTIAL_EXPIRATION"]
    from datetime import datetime, timezone

    left = datetime.fromisoformat(expiry.replace("Z", "+00:00")) - datetime.now(timezone.utc)
    assert left.total_seconds() <= 3600
    [warning] = warning_lines(result.stderr)
    assert f"ignoring untrusted {isolated / '.env'}" in warning
    assert f"'awsrun --trust-env-file' in {isolated}" in warning


def test_untrusted_dotenv_warning_shows_even_with_quiet(isolated: Path, source_env: Dict[str, str]) -> None:
    (isolated / ".env").write_text("FOO=bar\n")
    result = run_awsrun(["-q", "-r", ROLE_ARN, "--no-cache", *child()], env=source_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == warning_lines(result.stderr) and len(result.stderr.splitlines()) == 1
    assert "FOO" not in child_report(result.stdout)["env"]


def test_untrusted_dotenv_source_keys_are_not_used(isolated: Path, moto_sts: str) -> None:
    (isolated / ".env").write_text(f"AWS_ACCESS_KEY_ID={ATTACKER_KEY_ID}\nAWS_SECRET_ACCESS_KEY={SOURCE_SECRET}\n")
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env={"AWS_ENDPOINT_URL_STS": moto_sts})
    assert result.returncode == 125, result.stderr
    assert "no source credentials" in result.stderr
    # The way out names a .env only as one to name or trust, never as one awsrun reads by itself.
    assert "(--env-file PATH) or trust (--trust-env-file)" in result.stderr
    assert len(warning_lines(result.stderr)) == 1
    assert result.stdout == ""


def test_untrusted_dotenv_is_not_even_parsed(isolated: Path, source_env: Dict[str, str]) -> None:
    (isolated / ".env").write_bytes(b"this line cannot be parsed\n\xff\xfe\n")
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=source_env)
    assert result.returncode == 0, result.stderr


def test_a_fifo_named_dotenv_does_not_hang(isolated: Path, source_env: Dict[str, str]) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(isolated / ".env")
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", "--dry-run", "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr


def test_awsrun_trust_settings_cannot_come_from_the_environment_or_the_dotenv(
        isolated: Path, source_env: Dict[str, str]) -> None:
    (isolated / ".env").write_text("AWSRUN_TRUST_ENV_FILE=true\nFOO=bar\n")
    env = {**source_env, "AWSRUN_TRUST_ENV_FILE": "true", "AWSRUN_LIST_TRUSTED_ENV_FILES": "true"}
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=env)
    assert result.returncode == 0, result.stderr
    assert "FOO" not in child_report(result.stdout)["env"]
    assert not store_file().exists()


# --- trusting, editing, naming -------------------------------------------------------------------

def test_trust_then_read_then_edit_untrusts(isolated: Path, source_env: Dict[str, str]) -> None:
    dotenv = isolated / ".env"
    dotenv.write_text("AWSRUN_SESSION_NAME=from-dotenv\nFOO=bar\n")
    trusted = run_awsrun(["--trust-env-file"])
    assert trusted.returncode == 0, trusted.stderr
    sha = hashlib.sha256(dotenv.read_bytes()).hexdigest()
    assert trusted.stdout == f"trusted {dotenv} (sha256 {sha})\n"

    used = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=source_env)
    assert used.returncode == 0, used.stderr
    assert warning_lines(used.stderr) == []
    report = child_report(used.stdout)["env"]
    assert report["FOO"] == "bar"
    assert report["AWSRUN_ASSUMED_ROLE_ARN"].endswith("/from-dotenv")

    dotenv.write_text("AWSRUN_SESSION_NAME=from-dotenv\nFOO=bar\nBASH_ENV=/tmp/evil.sh\n")
    edited = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=source_env)
    assert edited.returncode == 0, edited.stderr
    [warning] = warning_lines(edited.stderr)
    assert f"ignoring {dotenv}: it changed since you trusted it" in warning
    report = child_report(edited.stdout)["env"]
    assert "FOO" not in report and "BASH_ENV" not in report
    assert not report["AWSRUN_ASSUMED_ROLE_ARN"].endswith("/from-dotenv")


def test_trusted_file_elsewhere_is_not_this_folders_dotenv(isolated: Path, source_env: Dict[str, str]) -> None:
    trusted_folder, other = isolated / "trusted", isolated / "other"
    trusted_folder.mkdir(), other.mkdir()
    for folder in (trusted_folder, other):
        (folder / ".env").write_text("FOO=bar\n")  # the same bytes
    trust_env_file(trusted_folder / ".env")
    assert child_report(run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=source_env,
                                   cwd=trusted_folder).stdout)["env"]["FOO"] == "bar"
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=source_env, cwd=other)
    assert "FOO" not in child_report(result.stdout)["env"]
    assert f"untrusted {other / '.env'}" in result.stderr


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_named_file_is_trusted_by_being_named(isolated: Path, source_env: Dict[str, str], how: str) -> None:
    (isolated / ".env").write_text("AWSRUN_SESSION_NAME=named\nFOO=bar\n")
    args, env = (["--env-file", ".env"], {}) if how == "flag" else ([], {"AWSRUN_ENV_FILE": ".env"})
    result = run_awsrun([*args, "-r", ROLE_ARN, "--no-cache", *child()], env={**source_env, **env})
    assert result.returncode == 0, result.stderr
    assert warning_lines(result.stderr) == []
    report = child_report(result.stdout)["env"]
    assert report["FOO"] == "bar" and report["AWSRUN_ASSUMED_ROLE_ARN"].endswith("/named")
    assert not store_file().exists()


def test_trust_names_files_with_env_file_and_reads_all_before_storing(isolated: Path) -> None:
    (isolated / "a.env").write_text("A=1\n")
    result = run_awsrun(["--trust-env-file", "--env-file", "a.env", "--env-file", "missing.env"])
    assert result.returncode == 125 and "'missing.env'" in result.stderr and result.stdout == ""
    assert not store_file().exists()
    result = run_awsrun(["--trust-env-file", "--env-file", "a.env"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"trusted {isolated / 'a.env'} (sha256 ")


# --- credential_process runs awsrun in whatever folder the calling tool is in --------------------

@pytest.mark.skipif(not os.path.exists(AWS_CLI), reason="the AWS CLI is not in this venv")
def test_credential_process_in_a_hostile_folder_ignores_its_dotenv(isolated: Path, source_env: Dict[str, str]) -> None:
    marker = hostile_dotenv(isolated)
    command = shlex.join([sys.executable, "-m", "awsrun", "-p", "deploy", "--credential-process"])
    config(PROFILES + f"[profile tool]\ncredential_process = {command}\nregion = us-east-1\n")
    cache_home = isolated.parent / "xdg-cache"
    env = {**os.environ, **source_env, "CI": "true", "XDG_CACHE_HOME": str(cache_home)}
    result = subprocess.run([AWS_CLI, "sts", "get-caller-identity", "--profile", "tool", "--output", "json"],
                            env=env, cwd=isolated, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    arn = json.loads(result.stdout)["Arn"]
    assert arn.startswith("arn:aws:sts::123456789012:assumed-role/Deploy/"), arn
    assert "attacker" not in arn
    assert not cache_home.exists() and not os.path.exists(marker)


# --- the store ------------------------------------------------------------------------------------

def test_store_is_private_and_follows_xdg_config_home(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / ".env").write_text("A=1\n")
    assert run_awsrun(["--trust-env-file"]).returncode == 0
    folder = store_file().parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(store_file().stat().st_mode) == 0o600
    assert [entry.name for entry in folder.iterdir()] == [trust.STORE_NAME]  # no temporary file left
    xdg = isolated.parent / "xdg-config"
    result = run_awsrun(["--trust-env-file"], env={"XDG_CONFIG_HOME": str(xdg)})
    assert result.returncode == 0, result.stderr
    assert (xdg / "awsrun" / trust.STORE_NAME).is_file()


def _forged_store(isolated: Path) -> Path:
    """A store that trusts ./.env, written by someone who is not the user."""
    forged = isolated.parent / "forged.json"
    sha = hashlib.sha256((isolated / ".env").read_bytes()).hexdigest()
    forged.write_text(json.dumps({"version": 1, "files": {str(isolated / ".env"): sha}}))
    return forged


def _symlinked_file(isolated: Path) -> None:
    store_file().parent.mkdir(mode=0o700, parents=True)
    store_file().symlink_to(_forged_store(isolated))


def _symlinked_folder(isolated: Path) -> None:
    folder = isolated.parent / "forged-folder"
    folder.mkdir(mode=0o700)
    _forged_store(isolated).rename(folder / trust.STORE_NAME)
    (folder / trust.STORE_NAME).chmod(0o600)
    store_file().parent.parent.mkdir(parents=True)
    store_file().parent.symlink_to(folder)


def _writable_file(isolated: Path) -> None:
    store_file().parent.mkdir(mode=0o700, parents=True)
    _forged_store(isolated).rename(store_file())
    store_file().chmod(0o666)


def _writable_folder(isolated: Path) -> None:
    _writable_file(isolated)
    store_file().chmod(0o600)
    store_file().parent.chmod(0o777)


def _foreign_file(isolated: Path) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    _writable_file(isolated)
    store_file().chmod(0o600)
    os.chown(store_file(), 4242, -1)


@pytest.mark.parametrize("forge", [_symlinked_file, _symlinked_folder, _writable_file, _writable_folder, _foreign_file],
                         ids=["symlinked-file", "symlinked-folder", "writable-file", "writable-folder", "foreign-file"])
def test_a_store_others_could_write_trusts_nothing(isolated: Path, source_env: Dict[str, str], forge) -> None:
    (isolated / ".env").write_text("FOO=bar\n")
    forge(isolated)
    result = run_awsrun(["-r", ROLE_ARN, "--no-cache", *child()], env=source_env)
    assert result.returncode == 0, result.stderr
    assert "FOO" not in child_report(result.stdout)["env"]
    store_warning, ignored = warning_lines(result.stderr)
    assert "trusted .env list" in store_warning and "no .env file is trusted" in store_warning
    assert "ignoring untrusted" in ignored
    # Nor does trusting write through it.
    before = {path: path.read_bytes() for path in isolated.parent.rglob("*.json") if path.is_file()}
    refused = run_awsrun(["--trust-env-file"])
    assert refused.returncode == 125 and refused.stdout == "" and len(refused.stderr.splitlines()) == 1
    assert {path: path.read_bytes() for path in isolated.parent.rglob("*.json") if path.is_file()} == before


def test_list_and_forget(isolated: Path) -> None:
    (isolated / ".env").write_text("A=1\n")
    (isolated / "b.env").write_text("B=1\n")
    (isolated / "c.env").write_text("C=1\n")
    assert run_awsrun(["--trust-env-file"]).returncode == 0
    assert run_awsrun(["--trust-env-file", "--env-file", "b.env", "--env-file", "c.env"]).returncode == 0
    (isolated / "b.env").write_text("B=2\n")
    (isolated / "c.env").unlink()
    listed = run_awsrun(["--list-trusted-env-files"])
    assert listed.returncode == 0, listed.stderr
    states = {line.split()[1]: line.split()[0] for line in listed.stdout.splitlines()}
    assert states == {str(isolated / ".env"): "ok", str(isolated / "b.env"): "changed", str(isolated / "c.env"): "missing"}

    forgot = run_awsrun(["--forget-env-file"])
    assert forgot.stdout == f"forgot {isolated / '.env'}\n"
    again = run_awsrun(["--forget-env-file"])
    assert again.returncode == 0 and "nothing to forget" in again.stdout
    assert run_awsrun(["--forget-env-file", "--env-file", "c.env"]).stdout == f"forgot {isolated / 'c.env'}\n"
    listed = run_awsrun(["--list-trusted-env-files"])
    assert [line.split()[1] for line in listed.stdout.splitlines()] == [str(isolated / "b.env")]


def test_parallel_trusts_keep_every_entry(isolated: Path) -> None:
    names = [f"{index}.env" for index in range(4)]
    for name in names:
        (isolated / name).write_text(f"N={name}\n")
    runs = [subprocess.Popen([sys.executable, "-m", "awsrun", "--trust-env-file", "--env-file", name],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            for name in names]
    assert [run.wait(timeout=60) for run in runs] == [0] * len(names)
    for run in runs:
        run.stdout.close(), run.stderr.close()
    stored = json.loads(store_file().read_text())["files"]
    assert sorted(stored) == sorted(str(isolated / name) for name in names)


NOTHING_TRUSTED = "no trusted .env files (awsrun --trust-env-file trusts ./.env as it is now)\n"


def test_list_with_no_store_says_nothing_is_trusted(isolated: Path) -> None:
    result = run_awsrun(["--list-trusted-env-files"])
    assert (result.returncode, result.stdout, result.stderr) == (0, NOTHING_TRUSTED, "")
    assert not store_file().parent.exists()


def test_list_after_forgetting_the_last_file_says_nothing_is_trusted(isolated: Path) -> None:
    (isolated / ".env").write_text("A=1\n")
    assert run_awsrun(["--trust-env-file"]).returncode == 0
    assert run_awsrun(["--forget-env-file"]).returncode == 0
    result = run_awsrun(["--list-trusted-env-files"])
    assert (result.returncode, result.stdout, result.stderr) == (0, NOTHING_TRUSTED, "")


@pytest.mark.parametrize("argv, says", [
    (["--trust-env-file", "true"], "runs no command"),
    (["--trust-env-file", "-r", ROLE_ARN], "drop --role"),
    (["--trust-env-file", "--forget-env-file"], "exclude each other"),
    (["--list-trusted-env-files", "--env-file", "a.env"], "drop --env-file"),
    (["--forget-env-file", "--no-env-file"], "drop --no-env-file"),
])
def test_trust_actions_refuse_what_they_do_not_use(isolated: Path, argv: List[str], says: str) -> None:
    (isolated / ".env").write_text("A=1\n")
    result = run_awsrun(argv)
    assert result.returncode == 125 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert not store_file().exists()


# --- --dry-run shows what the .env gives -----------------------------------------------------------

def test_dry_run_lists_the_dotenv_variables(isolated: Path, source_env: Dict[str, str]) -> None:
    (isolated / ".env").write_text("FOO=bar\nALREADY=from-dotenv\nAWSRUN_SESSION_NAME=dry\n")
    trust_env_file()
    result = run_awsrun(["-r", ROLE_ARN, "--dry-run", "--", "true"], env={**source_env, "ALREADY": "real"})
    assert result.returncode == 0, result.stderr
    assert "set FOO=bar" in result.stdout.splitlines()
    assert "ALREADY" not in result.stdout  # the real environment's value stays, unchanged
    assert "AWSRUN_SESSION_NAME" not in result.stdout and "as session dry " in result.stdout


def test_dry_run_of_an_untrusted_dotenv_lists_none_of_it(isolated: Path, source_env: Dict[str, str]) -> None:
    (isolated / ".env").write_text("FOO=bar\n")
    result = run_awsrun(["-r", ROLE_ARN, "--dry-run", "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr
    assert "FOO" not in result.stdout and "ignoring untrusted" in result.stderr


# --- in-process: the decision, the messages, the cost ---------------------------------------------

@pytest.mark.parametrize("stored, content, expected", [
    ({}, b"A=1\n", trust.UNTRUSTED),
    ({"/p/.env": hashlib.sha256(b"A=1\n").hexdigest()}, b"A=1\n", trust.TRUSTED),
    ({"/p/.env": hashlib.sha256(b"A=1\n").hexdigest()}, b"A=1\n\n", trust.CHANGED),
    ({"/p/.env": hashlib.sha256(b"A=1\n").hexdigest()}, b"A=1\r\n", trust.CHANGED),
    ({"/q/.env": hashlib.sha256(b"A=1\n").hexdigest()}, b"A=1\n", trust.UNTRUSTED),
])
def test_verdict(stored: Dict[str, str], content: bytes, expected: str) -> None:
    assert trust.verdict(stored, "/p/.env", content) == expected


def test_messages_cannot_steer_the_terminal() -> None:
    message = trust.ignored_message("/tmp/a\x1b[2Jb\n/.env", trust.UNTRUSTED)
    assert message.isprintable() and "\\x1b" in message


def test_reading_and_trusting_import_no_botocore(isolated: Path) -> None:
    (isolated / ".env").write_text("A=1\n")
    code = (
        "import sys\n"
        "from awsrun.config import envfile\n"
        "assert envfile.read(['.env'], False, warn=print).values == {}\n"
        "assert 'hashlib' not in sys.modules  # never trusted: nothing to hash\n"
        "from awsrun.config import trust\n"
        "trust.trust_files(__import__('os').environ, ['.env'])\n"
        "assert envfile.read(['.env'], False).values == {'A': '1'}\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('botocore', 'boto3')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    for argv in (["--trust-env-file"], ["--list-trusted-env-files"], ["--forget-env-file"]):
        imported = subprocess.run([sys.executable, "-X", "importtime", "-m", "awsrun", *argv],
                                  capture_output=True, text=True, timeout=60)
        assert imported.returncode == 0 and "import time" in imported.stderr, imported.stderr
        assert "botocore" not in imported.stderr


def test_no_dotenv_costs_no_hashlib(isolated: Path) -> None:
    code = ("import sys\nfrom awsrun.config import envfile\n"
            "assert envfile.read(['.env'], False) == envfile.EnvFiles({}, {})\n"
            "print('hashlib' in sys.modules, 'json' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False False", result.stderr


def test_envfile_read_without_a_store_trusts_nothing(isolated: Path) -> None:
    (isolated / DEFAULT_PATH).write_text("A=1\n")
    warnings: List[str] = []
    assert envfile.read([DEFAULT_PATH], required=False, warn=warnings.append) == EnvFiles({}, {})
    assert warnings == [trust.ignored_message(str(isolated / DEFAULT_PATH), trust.UNTRUSTED)]
    assert envfile.read([DEFAULT_PATH], required=True).values == {"A": "1"}  # named: read
