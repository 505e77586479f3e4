"""Fixtures for awsrun-keys: an in-memory keyring, a real Secret Service, IAM users in moto, the console script."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, NamedTuple, Optional

import pytest

keyring = pytest.importorskip("keyring", reason="awsrun-keys needs the keyring library: pip install 'awsrun[keyring]'")
from keyring.backend import KeyringBackend  # noqa: E402
from keyring.errors import PasswordDeleteError  # noqa: E402


class MemoryKeyring(KeyringBackend):
    """A keyring backend in a dict, for logic tests in-process."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: Dict[tuple, str] = {}

    def get_password(self, service: str, username: str) -> Optional[str]:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class IamUser(NamedTuple):
    name: str
    key_id: str
    secret: str
    arn: str


def iam_client(url: str) -> object:
    import botocore.session

    session = botocore.session.Session()
    return session.create_client("iam", region_name="us-east-1", endpoint_url=url,
                                 aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x" * 40)


def new_iam_user(url: str) -> IamUser:
    """An IAM user with one access key, made in moto so that GetCallerIdentity names the user."""
    iam = iam_client(url)
    name = f"alice-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]  # type: ignore[attr-defined]
    key = iam.create_access_key(UserName=name)["AccessKey"]  # type: ignore[attr-defined]
    return IamUser(name, key["AccessKeyId"], key["SecretAccessKey"], arn)


def iam_key_ids(url: str, user: str) -> list:
    return sorted(key["AccessKeyId"] for key in iam_client(url).list_access_keys(UserName=user)["AccessKeyMetadata"])  # type: ignore[attr-defined]


@pytest.fixture
def iam_env(moto_sts: str, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    """STS and IAM endpoints at moto, in this process and for children."""
    env = {"AWS_ENDPOINT_URL_STS": moto_sts, "AWS_ENDPOINT_URL_IAM": moto_sts, "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def keys_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on PATH with awsrun-keys, as the console script would be, run by this Python."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "awsrun-keys"
    script.write_text(f"#!{sys.executable}\nfrom awsrun.keys.cli import run\nrun()\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    home = Path(os.environ["HOME"])  # keyring's keyringrc.cfg and awsrun-keys' remembered backend stay in the test
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    root = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    return folder


_MISSING = [tool for tool in ("dbus-daemon", "gnome-keyring-daemon") if not shutil.which(tool)]


class SecretService(NamedTuple):
    env: Dict[str, str]
    keyring_pid: int


@contextlib.contextmanager
def running_secret_service() -> Iterator[SecretService]:
    """gnome-keyring-daemon's Secret Service on a private D-Bus session bus, its login keyring unlocked."""
    if _MISSING:
        pytest.skip(f"a real Secret Service needs {' and '.join(_MISSING)} (Debian: apt-get install gnome-keyring dbus)")
    pytest.importorskip("secretstorage", reason="keyring's Secret Service backend needs secretstorage")
    home = tempfile.mkdtemp(prefix="awsrun-keyring-")
    runtime = os.path.join(home, "run")
    os.mkdir(runtime, 0o700)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home, "XDG_RUNTIME_DIR": runtime,
           "XDG_DATA_HOME": os.path.join(home, "data")}
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = bus.stdout.readline().strip()  # type: ignore[union-attr]
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon.stdin.write(b"test-login-password")  # type: ignore[union-attr]
    daemon.stdin.close()  # type: ignore[union-attr]
    try:
        probe = {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        for _ in range(20):
            done = subprocess.run([sys.executable, "-c", "import keyring; keyring.set_password('awsrun-probe', 'p', 'p')"],
                                  env=probe, capture_output=True)
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.skip(f"gnome-keyring-daemon did not start: {done.stderr.decode()[-300:]}")
        yield SecretService({key: env[key] for key in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}, daemon.pid)
    finally:
        for process in (daemon, bus):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def secret_service_session() -> Iterator[SecretService]:
    with running_secret_service() as service:
        yield service


@pytest.fixture
def secret_service(secret_service_session: SecretService, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretService]:
    """The session's Secret Service for this test, emptied of awsrun-keys items afterwards."""
    for name, value in secret_service_session.env.items():
        monkeypatch.setenv(name, value)
    yield secret_service_session
    import secretstorage

    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        for item in collection.search_items({"service": "awsrun-keys"}):
            item.delete()
    finally:
        connection.close()


def stored_items() -> Dict[str, str]:
    """Every awsrun-keys item in the Secret Service, read with secretstorage itself."""
    import secretstorage

    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        return {item.get_attributes()["username"]: item.get_secret().decode()
                for item in collection.search_items({"service": "awsrun-keys"})}
    finally:
        connection.close()
