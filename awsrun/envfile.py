"""Read .env files with python-dotenv, without interpolation and without touching os.environ."""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Dict, List, Mapping, NamedTuple, Sequence

from awsrun.errors import ConfigError

__all__ = ["EnvFiles", "read"]

DEFAULT_PATH = ".env"


class EnvFiles(NamedTuple):
    """The merged values of the .env files read (later files win) and which file gave each."""

    values: Mapping[str, str] = MappingProxyType({})
    origin: Mapping[str, str] = MappingProxyType({})


def read(paths: Sequence[str], required: bool) -> EnvFiles:
    """Read ``paths`` in order; a missing file is an error only when ``required``."""
    values: Dict[str, str] = {}
    origin: Dict[str, str] = {}
    for path in paths:
        if not os.path.exists(path):
            if required:
                raise ConfigError(f"cannot read env file {path!r}: no such file")
            continue
        for key, value in _read_one(path).items():
            values[key] = value
            origin[key] = path
    return EnvFiles(values, origin)


def _read_one(path: str) -> Dict[str, str]:
    from dotenv import dotenv_values

    if not os.path.isfile(path):
        raise ConfigError(f"cannot read env file {path!r}: not a regular file")
    import logging

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
        parsed = dotenv_values(path, interpolate=False, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path!r}: {exc.strerror or exc}") from None
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
