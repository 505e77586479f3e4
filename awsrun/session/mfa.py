"""Ask a person for an MFA code on the terminal itself, so piped stdin/stdout do not matter."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

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
    import getpass  # with termios: not loaded on a run that asks nothing (a cache hit imports this module)

    again = "" if attempt == 1 else f" (try {attempt} of 3)"
    # getpass reads /dev/tty itself and turns echo off there.
    with _terminal_kept():
        return getpass.getpass(f"MFA code for {serial}{again}: ").strip()


@contextlib.contextmanager
def _terminal_kept() -> Iterator[None]:
    """Put the terminal's settings back however the prompt ends.

    getpass restores echo when it returns or raises (Ctrl-C, and SIGTERM, which awsrun turns
    into an exception); a hangup or Ctrl-\\ would kill the process first and leave echo off.
    Those are caught here, the settings restored, and the signal's own death then follows.
    """
    try:
        import signal
        import termios
        import threading
    except ImportError:  # Windows: no termios
        yield
        return
    try:
        fd = os.open(TERMINAL, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield
        return
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        os.close(fd)
        yield
        return

    def restore() -> None:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)

    def die_restored(signum: int, frame: object) -> None:
        restore()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():  # only it may set handlers
        for name in ("SIGHUP", "SIGQUIT"):
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) == signal.SIG_DFL:
                previous[number] = signal.signal(number, die_restored)
    try:
        yield
    finally:
        restore()
        for number, handler in previous.items():
            signal.signal(number, handler)
        os.close(fd)
