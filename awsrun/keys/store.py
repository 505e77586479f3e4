"""The OS keyring, through the `keyring` library: one JSON item per NAME, and an index of names.

The keyring API cannot enumerate items, so a separate item (".names") lists them; it holds
no secret. Backends that keep secrets in clear or drop them silently are refused unless the
user named the backend explicitly (PYTHON_KEYRING_BACKEND or keyring's keyringrc.cfg).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Callable, List, Mapping, NamedTuple, Optional, Protocol, TypeVar

from awsrun.credentials import mask
from awsrun.errors import AwsrunError
from awsrun.files import WriteError, write_text, xdg_folder

__all__ = ["SERVICE", "KeyringFailure", "StoredKey", "Pending", "Backend", "Store", "open_store", "unsafe_reason",
           "backend_name"]

T = TypeVar("T")

SERVICE = "awsrun-keys"
_INDEX = ".names"  # a NAME must begin with a letter or digit, so it can never be this

# module.Class of backends that store in clear or fail silently.
_UNSAFE = {
    "keyring.backends.fail.Keyring": "it stores nothing (no usable keyring was found)",
    "keyring.backends.null.Keyring": "it stores nothing and fails silently",
    "keyrings.alt.file.PlaintextKeyring": "it stores secrets in a plaintext file",
}


class KeyringFailure(AwsrunError):
    """The keyring is missing, refused, locked, or refused access."""


class Pending(NamedTuple):
    """A new key created during a rotation, not yet known to work."""

    key_id: str
    secret: str
    created: float

    def __repr__(self) -> str:
        return f"Pending(key_id={mask(self.key_id)!r})"


class StoredKey(NamedTuple):
    """One keyring item: the key in use, and what an unfinished rotation left."""

    key_id: str
    secret: str
    created: float  # epoch seconds: IAM's CreateDate when known, else when it was stored
    pending: Optional[Pending] = None  # created, stored, not yet verified
    retired: Optional[str] = None  # the old key id, still to be deleted in IAM

    def __repr__(self) -> str:
        return f"StoredKey(key_id={mask(self.key_id)!r}, pending={self.pending!r}, retired={self.retired and mask(self.retired)!r})"

    def to_json(self) -> str:
        document: dict = {"version": 1, "key_id": self.key_id, "secret": self.secret, "created": self.created}
        if self.pending:
            document["pending"] = self.pending._asdict()
        if self.retired:
            document["retired"] = self.retired
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "StoredKey":
        document = json.loads(text)
        pending = document.get("pending")
        return cls(
            key_id=str(document["key_id"]),
            secret=str(document["secret"]),
            created=float(document.get("created") or time.time()),
            pending=Pending(str(pending["key_id"]), str(pending["secret"]), float(pending["created"])) if pending else None,
            retired=document.get("retired") or None,
        )


class Backend(Protocol):
    """What awsrun-keys uses of a keyring backend (keyring.backend.KeyringBackend, or a test's own)."""

    def get_password(self, service: str, username: str) -> Optional[str]: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...

    def delete_password(self, service: str, username: str) -> None: ...


def backend_name(backend: Backend) -> str:
    """module.Class of a backend, as keyring names it in PYTHON_KEYRING_BACKEND."""
    return f"{type(backend).__module__}.{type(backend).__name__}"


def unsafe_reason(backend: Backend) -> Optional[str]:
    """Why ``backend`` must not hold keys (None when it may); a chainer is judged by its members."""
    name = backend_name(backend)
    if name in _UNSAFE:
        return _UNSAFE[name]
    members = getattr(backend, "backends", None)
    if name == "keyring.backends.chainer.ChainerBackend" and members is not None:
        if not members:
            return _UNSAFE["keyring.backends.fail.Keyring"]
        reasons = [unsafe_reason(member) for member in members]
        return next((reason for reason in reasons if reason), None)
    return None


class Store:
    """Keys by NAME in one keyring backend; every backend error becomes one KeyringFailure line."""

    def __init__(self, backend: Backend, hinted: bool = False) -> None:
        self.backend = backend
        self.name = backend_name(backend)
        self.hinted = hinted  # chosen from the remembered name, not by keyring just now

    def get(self, name: str) -> Optional[StoredKey]:
        text = self._call("read", lambda: self.backend.get_password(SERVICE, name))
        if text is None:
            return None
        try:
            return StoredKey.from_json(text)
        except (ValueError, KeyError, TypeError):
            raise KeyringFailure(f"the keyring item {SERVICE}/{name} is not one awsrun-keys wrote; remove it with 'awsrun-keys remove {name}'") from None

    def put(self, name: str, key: StoredKey) -> None:
        self._call("write", lambda: self.backend.set_password(SERVICE, name, key.to_json()))
        names = self.names()
        if name not in names:
            self._write_index(sorted([*names, name]))

    def delete(self, name: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self._call("delete", lambda: self.backend.delete_password(SERVICE, name))
        except KeyringFailure as failure:
            if not isinstance(failure.__cause__, PasswordDeleteError):
                raise
        self._write_index([known for known in self.names() if known != name])

    def names(self) -> List[str]:
        text = self._call("read", lambda: self.backend.get_password(SERVICE, _INDEX))
        try:
            names = json.loads(text) if text else []
        except ValueError:
            names = []
        return [str(name) for name in names] if isinstance(names, list) else []

    def _write_index(self, names: List[str]) -> None:
        self._call("write", lambda: self.backend.set_password(SERVICE, _INDEX, json.dumps(names)))

    def _call(self, what: str, call: Callable[[], T]) -> T:
        from keyring.errors import KeyringLocked, PasswordDeleteError

        try:
            return call()
        except KeyringLocked:
            raise KeyringFailure(f"the keyring ({self.name}) is locked; unlock it and run again") from None
        except PasswordDeleteError as exc:
            raise KeyringFailure(f"could not delete from the keyring ({self.name})") from exc
        except Exception as exc:  # backends raise their own types (dismissed prompts, D-Bus errors)
            raise KeyringFailure(
                f"could not {what} the keyring ({self.name}): {_one_line(exc)}; is it unlocked, and was access allowed?"
            ) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def open_store(backend: Optional[Backend] = None, environ: Optional[Mapping[str, str]] = None, use_hint: bool = True) -> Store:
    """The keyring backend keyring chooses (or ``backend``), refused when unsafe and not named explicitly.

    keyring chooses by loading every backend it knows (entry points, the macOS one even on
    Linux): more time than Python's own start. So the backend found is remembered (its
    name only, in the user's cache folder) and loaded directly next time; when that fails,
    keyring chooses again.
    """
    if backend is not None:
        return Store(backend)
    try:
        import keyring
        import keyring.core
    except ImportError:
        raise KeyringFailure("the OS keyring needs the keyring library: pip install 'awsrun[keyring]'") from None
    environ = os.environ if environ is None else environ
    try:
        explicit = keyring.core.load_env() or keyring.core.load_config()
    except Exception as exc:  # a named backend that cannot load, an unreadable keyringrc.cfg
        raise KeyringFailure(f"could not open the keyring: {_one_line(exc)}") from None
    if explicit is not None:
        return Store(explicit)
    hint = _hint_file(environ)
    remembered = _remembered(hint) if use_hint else None
    if remembered is not None:
        return Store(remembered, hinted=True)
    try:
        chosen = keyring.get_keyring()
    except Exception as exc:
        raise KeyringFailure(f"could not open the keyring: {_one_line(exc)}") from None
    reason = unsafe_reason(chosen)
    if reason:
        raise KeyringFailure(
            f"refusing the keyring backend {backend_name(chosen)}: {reason}; start the desktop keyring "
            "(Secret Service, KWallet) or name a backend in PYTHON_KEYRING_BACKEND"
        )
    if _REMEMBERABLE.fullmatch(backend_name(chosen)):
        _remember(hint, backend_name(chosen))
    return Store(chosen)


def _hint_file(environ: Mapping[str, str]) -> str:
    return os.path.join(xdg_folder(environ, "XDG_CACHE_HOME", ".cache"), "awsrun-keys", "backend")


# Only backends shipped with keyring or keyrings.* are remembered: loading one imports its
# module, and the hint file must not be a way to import a module from the working folder.
_REMEMBERABLE = re.compile(r"(keyring\.backends|keyrings)(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _remembered(hint: str) -> Optional[Backend]:
    """The backend named in the hint file, when it loads, is viable and safe; else None."""
    import keyring.core

    try:
        with open(hint, encoding="utf-8") as stream:
            name = stream.read(200).strip()
        if not _REMEMBERABLE.fullmatch(name):
            return None
        chosen = keyring.core.load_keyring(name)
    except Exception:  # no hint, a stale one, a backend no longer viable: let keyring choose
        return None
    return None if unsafe_reason(chosen) else chosen


def _remember(hint: str, name: str) -> None:
    try:
        os.makedirs(os.path.dirname(hint), mode=0o700, exist_ok=True)
        write_text(hint, name + "\n")  # 0600, atomic, never through a link
    except (OSError, WriteError):  # only a speed-up
        pass
