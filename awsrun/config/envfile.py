"""Read .env files with python-dotenv, without interpolation and without touching os.environ.

A ./.env that awsrun finds by itself is read only once the user trusted it (awsrun/config/trust.py).
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence

from awsrun.errors import ConfigError

__all__ = ["DEFAULT_PATH", "EnvFiles", "read"]

DEFAULT_PATH = ".env"


class EnvFiles(NamedTuple):
    """The merged values of the .env files read (later files win) and which file gave each."""

    values: Mapping[str, str] = MappingProxyType({})
    origin: Mapping[str, str] = MappingProxyType({})


def read(paths: Sequence[str], required: bool, environ: Optional[Mapping[str, str]] = None,
         warn: Optional[Callable[[str], None]] = None) -> EnvFiles:
    """Read ``paths`` in order.

    Named files (``required``) must exist and are trusted by being named. A file awsrun
    found by itself (not ``required``: ./.env) is read only when the trust store in
    ``environ``'s config folder holds its path and the SHA-256 of its bytes; otherwise
    ``warn`` says why and it is skipped. A folder named .env (a virtualenv) is no .env file.
    """
    values: Dict[str, str] = {}
    origin: Dict[str, str] = {}
    trusted: Optional[Mapping[str, str]] = None
    for path in paths:
        if not required and not os.path.isfile(path):
            continue
        # Here, not at the top: a run without a .env loads no trust store, json or file reader.
        from awsrun.config import trust

        if not required:
            if trusted is None:
                trusted = trust.load(os.environ if environ is None else environ, warn or _ignore)
            absolute = os.path.abspath(path)
            if absolute not in trusted:  # never read what was never trusted
                (warn or _ignore)(trust.ignored_message(absolute, trust.UNTRUSTED))
                continue
            content = trust.read_bytes(path)
            decision = trust.verdict(trusted, absolute, content)
            if decision != trust.TRUSTED:
                (warn or _ignore)(trust.ignored_message(absolute, decision))
                continue
        else:
            content = trust.read_bytes(path)
        for key, value in _parse(path, content).items():
            values[key] = value
            origin[key] = path
    return EnvFiles(values, origin)


def _ignore(message: str) -> None:
    pass


def _parse(path: str, content: bytes) -> Dict[str, str]:
    import io
    import logging

    from dotenv import dotenv_values

    class UnparsedLines(logging.Handler):
        """python-dotenv only logs the lines it cannot parse; collect their numbers."""

        def __init__(self) -> None:
            super().__init__()
            self.lines: List[object] = []

        def emit(self, record: logging.LogRecord) -> None:
            if "could not parse" in str(record.msg) and record.args:
                self.lines.append(record.args[0])  # type: ignore[index]

    logger = logging.getLogger("dotenv.main")
    collector = UnparsedLines()
    logger.addHandler(collector)
    propagate, logger.propagate = logger.propagate, False
    try:
        # Decoded as open(path, encoding="utf-8") would: the same text python-dotenv reads from a path.
        text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8")
        parsed = dotenv_values(stream=text, interpolate=False)
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read env file {path!r}: not UTF-8 text") from None
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
    if collector.lines:
        raise ConfigError(f"env file {path!r} line {collector.lines[0]}: python-dotenv cannot parse this line")
    # A bare KEY (no '=') gives None: there is nothing to set.
    values = {key: value for key, value in parsed.items() if value is not None}
    for key, value in values.items():
        if "\0" in key or "\0" in value:  # no environment can hold it: refuse before any STS call
            raise ConfigError(f"env file {path!r}: {key!r} holds a NUL character")
    return values
