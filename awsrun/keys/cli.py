"""awsrun-keys: keep long-lived AWS access keys in the OS keyring instead of plaintext files.

Usage:
  awsrun-keys add NAME [--stdin] [--debug]
  awsrun-keys import PROFILE [--debug]
  awsrun-keys list [--debug]
  awsrun-keys rotate NAME [--older-than AGE] [--debug]
  awsrun-keys remove NAME [--debug]
  awsrun-keys get NAME [--debug]
  awsrun-keys (-h | --help | --version)

Commands:
  add NAME          Ask for an access key id and secret (not echoed), check them with
                    STS, store them in the keyring as NAME and set
                    credential_process = awsrun-keys get NAME in [profile NAME].
  import PROFILE    Move PROFILE's keys from ~/.aws/credentials (or config) into the
                    keyring and point the profile at them. The files change only
                    once the keyring holds keys that STS accepted.
  list              Each stored NAME, its masked key id, the key's age and the
                    profiles that use it; never a secret.
  rotate NAME       Create a new key for the same IAM user, wait until STS accepts
                    it, store it, then delete the old one. Run it again to finish
                    an interrupted rotation.
  remove NAME       Delete NAME from the keyring and the credential_process lines
                    that name it. The key itself stays active in IAM.
  get NAME          Print NAME's key as credential_process JSON (for the AWS SDKs).

Options:
  --stdin           Read the key id and the secret from stdin, one per line.
  --older-than AGE  Rotate only a key older than AGE: a number and m, h, d or w (90d).
  --debug           Show tracebacks of awsrun-keys' own errors.
  -h, --help        Show this help and exit.
  --version         Show the version and exit.

The keyring is the one the keyring library chooses (macOS Keychain, Windows Credential
Locker, Secret Service, KWallet); name another in PYTHON_KEYRING_BACKEND. Exit status:
0 on success, 125 when awsrun-keys fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Callable, List, Mapping, NoReturn, Optional, Sequence, TextIO, Tuple

from awsrun import __version__
from awsrun.credentials import mask
from awsrun.errors import AwsrunError, ConfigError, ExitStatus, InvalidValue
from awsrun.keys import iniedit, profiles
from awsrun.keys.aws import Aws, AwsKeyError, KeyRejected, user_name
from awsrun.keys.keyinput import KeysUsageError, check_keys, read_keys_from
from awsrun.keys.keysource import check_name, read_keys
from awsrun.keys.rotate import age, parse_age, rotate
from awsrun.keys.store import Backend, Store, StoredKey, open_store
from awsrun.text import Console

__all__ = ["main", "run"]

PROG = "awsrun-keys"


class Deps:
    """What touches the world, replaceable in tests: the keyring backend, AWS, the clock, the terminal."""

    def __init__(self, backend: Optional[Backend] = None, aws: Optional[Aws] = None, sleep: Optional[Callable[[float], None]] = None,
                 clock: Optional[Callable[[], float]] = None, ask: Optional[Callable[[str], str]] = None) -> None:
        self.backend, self.aws = backend, aws
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.ask = ask


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None, *,
         stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None,
         deps: Optional[Deps] = None) -> int:
    """Run awsrun-keys; the one place that turns an exception into a message and an exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    console = Console({}, stdout or sys.stdout, stderr or sys.stderr, PROG)
    deps = deps or Deps()
    console.debug = "--debug" in argv
    try:
        args = _parse(argv)
        if args["--help"]:
            console.data(__doc__.strip() + "\n")
            return ExitStatus.OK
        if args["--version"]:
            console.data(f"{PROG} {__version__}\n")
            return ExitStatus.OK
        command = next(name for name in ("add", "import", "list", "rotate", "remove", "get") if args[name])
        return _COMMANDS[command](args, environ, stdin or sys.stdin, console, deps)
    except AwsrunError as exc:
        console.fail(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        console.fail("interrupted")
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # a bug or an unforeseen library error: still one line, no secret
        console.fail(f"internal error ({exc.__class__.__name__}); run with --debug for details")
        return ExitStatus.FAILURE


def run() -> NoReturn:
    """The console entry point; exits at once (get runs on every cold awsrun that uses it)."""
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _parse(argv: List[str]) -> dict:
    from docopt import DocoptExit, docopt

    try:
        return dict(docopt(__doc__, argv, default_help=False, version=None))
    except DocoptExit as exc:
        message = str(exc).splitlines()[0].strip()
        if message.lower().startswith(("usage:", "warning:")) or not message:
            # Never echo the whole command line: a key pasted as an argument would be shown again.
            if not argv:
                message = "no command given"
            elif argv[0] in _COMMANDS:
                message = f"wrong arguments for {argv[0]!r}"
            else:
                # Not even a prefix of it: the word may be a secret pasted in the wrong place.
                message = "unknown command; the commands are: add, import, list, rotate, remove, get"
        raise KeysUsageError(message) from None


def _aws(deps: Deps, environ: Mapping[str, str]) -> Aws:
    if deps.aws is None:
        deps.aws = Aws(environ)
    return deps.aws


def _store(deps: Deps, environ: Mapping[str, str]) -> Store:
    return open_store(deps.backend, environ)


# --- commands ---------------------------------------------------------------------------------

def _get(args: dict, environ: Mapping[str, str], stdin: TextIO, console: Console, deps: Deps) -> int:
    keys = read_keys(_name(args["NAME"]), deps.backend, environ)
    console.data(json.dumps({"Version": 1, "AccessKeyId": keys["AWS_ACCESS_KEY_ID"], "SecretAccessKey": keys["AWS_SECRET_ACCESS_KEY"]}) + "\n")
    return ExitStatus.OK


def _add(args: dict, environ: Mapping[str, str], stdin: TextIO, console: Console, deps: Deps) -> int:
    name = _name(args["NAME"])
    files = profiles.Files.load(environ)
    edits = profiles.plan_add(files, name)
    store = _store(deps, environ)
    if store.get(name) is not None:
        raise ConfigError(f"{name} is already in the keyring; rotate it, or remove it first")
    key_id, secret = read_keys_from(stdin if args["--stdin"] else None, deps.ask)
    arn, created = _verify(deps, environ, key_id, secret)
    _store_and_write(store, name, key_id, secret, created, edits)
    console.say(f"stored {mask(key_id)} of {arn} in the keyring ({store.name}) as {name}; "
        f"[profile {name}] in {files.config_path} uses it")
    return ExitStatus.OK


def _import(args: dict, environ: Mapping[str, str], stdin: TextIO, console: Console, deps: Deps) -> int:
    name = _name(args["PROFILE"])
    files = profiles.Files.load(environ)
    (key_id, secret), where, edits = profiles.plan_import(files, name)
    check_keys(key_id, secret)
    store = _store(deps, environ)
    if store.get(name) is not None:
        raise ConfigError(f"{name} is already in the keyring; remove it first ('awsrun-keys remove {name}')")
    arn, created = _verify(deps, environ, key_id, secret)
    _store_and_write(store, name, key_id, secret, created, edits)
    console.say(f"moved {mask(key_id)} of {arn} from {where} into the keyring ({store.name}) as {name}; "
        f"no plaintext copy is kept. Old copies of {where} (backups, repositories) still hold it: "
        f"run 'awsrun-keys rotate {name}' to make them useless")
    return ExitStatus.OK


def _store_and_write(store: Store, name: str, key_id: str, secret: str, created: float,
                     edits: List[iniedit.Edit]) -> None:
    """The keyring first, then the files; a failed write takes the keyring item back out."""
    store.put(name, StoredKey(key_id, secret, created))
    try:
        iniedit.write_all(edits)
    except BaseException:
        store.delete(name)
        raise


def _list(args: dict, environ: Mapping[str, str], stdin: TextIO, console: Console, deps: Deps) -> int:
    store = _store(deps, environ)
    users = profiles.users(profiles.Files.load(environ))
    items = [(name, store.get(name)) for name in store.names()]  # all read before anything is said
    console.line(f"keyring: {store.name}")
    rows = [("NAME", "KEY", "AGE", "PROFILES")]
    now = deps.clock()
    for name, item in items:
        if item is None:
            continue
        note = " (rotation unfinished: run 'awsrun-keys rotate " + name + "')" if item.pending or item.retired else ""
        rows.append((name, mask(item.key_id), age(now - item.created), ", ".join(users.get(name, [])) + note or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        console.line("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    return ExitStatus.OK


def _rotate(args: dict, environ: Mapping[str, str], stdin: TextIO, console: Console, deps: Deps) -> int:
    name = _name(args["NAME"])
    older_than = None
    if args["--older-than"] is not None:
        older_than = parse_age(args["--older-than"])
        if older_than is None:
            raise InvalidValue("--older-than", args["--older-than"], "use a number and m, h, d or w, e.g. 90d")
    store = _store(deps, environ)
    outcome = rotate(name, store, _aws(deps, environ), older_than=older_than, now=deps.clock(), sleep=deps.sleep,
                     say=console.say)
    console.say(outcome.message)
    return ExitStatus.OK


def _remove(args: dict, environ: Mapping[str, str], stdin: TextIO, console: Console, deps: Deps) -> int:
    name = _name(args["NAME"])
    files = profiles.Files.load(environ)
    users, edits = profiles.plan_remove(files, name)
    store = _store(deps, environ)
    item = store.get(name)
    if item is None and not users:
        raise ConfigError(f"no key named {name!r} in the keyring ({store.name}) and no profile uses it")
    iniedit.write_all(edits)
    store.delete(name)
    where = f"; removed credential_process from profile {', '.join(users)}" if users else ""
    key = f" {mask(item.key_id)}" if item else ""
    console.say(f"removed {name}{key} from the keyring{where}. The key is still active in IAM: delete it there if it is no longer needed")
    return ExitStatus.OK


_COMMANDS = {"add": _add, "import": _import, "list": _list, "rotate": _rotate, "remove": _remove, "get": _get}


# --- helpers ----------------------------------------------------------------------------------

def _name(name: str) -> str:
    return check_name(name)


def _verify(deps: Deps, environ: Mapping[str, str], key_id: str, secret: str) -> Tuple[str, float]:
    """The key's ARN (STS must accept it) and its age from IAM when the key may list its own keys."""
    aws = _aws(deps, environ)
    try:
        arn = aws.identity(key_id, secret)
    except KeyRejected as exc:
        raise ConfigError(f"STS rejected the key {mask(key_id)} ({exc.fields.get('code')}): wrong secret, deleted or deactivated; nothing was stored") from None
    created = deps.clock()
    user = user_name(arn)
    if user:
        try:
            created = next((key.created for key in aws.list_keys(key_id, secret, user) if key.key_id == key_id), created)
        except AwsKeyError:  # no iam:ListAccessKeys: the age counts from now
            pass
    return arn, created
