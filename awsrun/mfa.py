"""Ask a person for an MFA code on the terminal itself, so piped stdin/stdout do not matter."""

from __future__ import annotations

import getpass
import os

from awsrun.errors import ConfigError

__all__ = ["has_terminal", "prompt"]

TERMINAL = "/dev/tty"


def has_terminal() -> bool:
    try:
        os.close(os.open(TERMINAL, os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def prompt(serial: str, attempt: int) -> str:
    """Read a code without echo from the controlling terminal; refuse when there is none."""
    if not has_terminal():
        raise ConfigError(
            f"an MFA code is needed for {serial} and there is no terminal to ask on: "
            "pass --mfa-code CODE or set AWSRUN_MFA_CODE"
        )
    again = "" if attempt == 1 else f" (try {attempt} of 3)"
    # getpass reads /dev/tty itself and turns echo off there.
    return getpass.getpass(f"MFA code for {serial}{again}: ").strip()
