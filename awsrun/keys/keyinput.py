"""The key id and secret awsrun-keys is given: read from stdin or the terminal, checked locally."""

from __future__ import annotations

from typing import Callable, Optional, TextIO, Tuple

from awsrun.credentials import mask
from awsrun.errors import InvalidValue, UsageError

__all__ = ["KeysUsageError", "read_keys_from", "check_keys"]


class KeysUsageError(UsageError):
    template = "{detail} (see 'awsrun-keys --help')"


def read_keys_from(stdin: Optional[TextIO], ask: Optional[Callable[[str], str]] = None) -> Tuple[str, str]:
    """The key id and secret: two lines of ``stdin``, or asked for on the terminal without echo."""
    if stdin is not None:
        lines = stdin.read().splitlines()
        lines = [line.strip() for line in lines if line.strip()]
        if len(lines) != 2:
            raise KeysUsageError(f"--stdin expects two lines, the key id then the secret; got {len(lines)}")
        key_id, secret = lines
    else:
        ask = ask or _ask_terminal
        key_id = ask("AWS access key id: ").strip()
        secret = ask("AWS secret access key: ").strip()
    check_keys(key_id, secret)
    return key_id, secret


def _ask_terminal(prompt: str) -> str:
    import getpass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)  # no terminal: never read from a pipe unasked
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise KeysUsageError("no terminal to ask for the key on; pipe it in with --stdin") from None
        except EOFError:
            raise KeysUsageError("no key given") from None


def check_keys(key_id: str, secret: str) -> None:
    """Refuse, locally and without showing the secret, what cannot be a long-lived key."""
    import re

    if key_id.startswith("ASIA"):
        raise InvalidValue("access key id", mask(key_id), "an ASIA... key is temporary (it needs a session token); store a long-lived AKIA... key")
    if not re.fullmatch(r"AKIA[A-Z0-9]{12,124}", key_id):
        raise InvalidValue("access key id", mask(key_id), "a long-lived key id is AKIA followed by 16 capital letters and digits")
    if not re.fullmatch(r"[A-Za-z0-9/+=]{20,128}", secret):
        raise InvalidValue("secret access key", f"({len(secret)} characters)", "a secret is about 40 of A-Z a-z 0-9 / + =")
