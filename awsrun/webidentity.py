"""The web identity token of a profile (web_identity_token_file): read and checked locally.

The token is a secret: it goes to AssumeRoleWithWebIdentity and nowhere else, never into
a message. No botocore here.
"""

from __future__ import annotations

import os

from awsrun.errors import ConfigError

__all__ = ["MAX_TOKEN_LENGTH", "read_web_identity_token"]

MAX_TOKEN_LENGTH = 20000  # STS's limit on WebIdentityToken


def read_web_identity_token(path: str) -> str:
    """The token in ``path``, checked locally; it is a secret and never shown."""
    try:
        # Non-blocking: a FIFO with no writer named in a profile must not hang the run.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as stream:
            data = stream.read(MAX_TOKEN_LENGTH + 2)
    except OSError as exc:
        raise ConfigError(f"cannot read the web identity token file {path}: {exc.strerror or exc}") from None
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"the web identity token file {path} does not hold a token (not ASCII text)") from None
    if not token:
        raise ConfigError(f"the web identity token file {path} is empty")
    if len(token) > MAX_TOKEN_LENGTH or any(not 32 < ord(char) < 127 for char in token):
        raise ConfigError(f"the web identity token file {path} does not hold a token "
                          f"(one line of at most {MAX_TOKEN_LENGTH} printable characters)")
    return token
