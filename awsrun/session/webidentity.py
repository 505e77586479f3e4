"""The web identity token of a profile (web_identity_token_file): read and checked locally.

The token is a secret: it goes to AssumeRoleWithWebIdentity and nowhere else, never into
a message. The command's environment is scrubbed of it by value (source_tokens), since CI
systems hand the same token over in variables of any name. No botocore here.
"""

from __future__ import annotations

import os

from typing import FrozenSet, Iterable, List, Mapping, Optional

from awsrun.config import configfiles
from awsrun.errors import AwsrunError, ConfigError

__all__ = ["MAX_TOKEN_LENGTH", "read_web_identity_token", "source_tokens"]

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


def source_tokens(environ: Mapping[str, str], profiles: Iterable[Optional[str]],
                  memo_folder: Optional[str] = None) -> FrozenSet[str]:
    """Every web identity token a source of this run could be: AWS_WEB_IDENTITY_TOKEN_FILE's and
    each web_identity_token_file on the source_profile chains of ``profiles``, of $AWS_PROFILE,
    $AWS_DEFAULT_PROFILE and of default. Read anew (a cache hit called no STS, yet a CI variable
    still holds the token), stripped; files that cannot be read are left out.
    """
    paths: List[str] = [environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") or ""]
    names = [*profiles, environ.get("AWS_DEFAULT_PROFILE"), environ.get("AWS_PROFILE"), "default"]
    try:
        known = configfiles.read(environ, memo_folder).profiles
    except (ValueError, OSError):  # the run itself says what is wrong with the files
        known = {}
    for name in names:
        seen: List[str] = []
        while isinstance(name, str) and name in known and name not in seen:
            seen.append(name)
            path = known[name].get("web_identity_token_file")
            if isinstance(path, str):
                paths.append(path)
            name = known[name].get("source_profile")
    tokens = set()
    for path in dict.fromkeys(filter(None, paths)):
        try:
            tokens.add(read_web_identity_token(os.path.expanduser(path)))
        except AwsrunError:
            pass
    return frozenset(tokens)
