"""--refresh: run the command as a child, serving credentials that renew themselves.

awsrun stays the parent: it keeps the source credentials in its own memory, serves the
current role session on a loopback endpoint (awsrun.deliver.server), assumes the role again
before that session gets close to expiry, passes signals on to the child and exits with
the child's status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Callable, Mapping, Optional, Sequence

from awsrun.credentials import Credentials, datetime, timedelta, timezone
from awsrun.deliver import launch

__all__ = ["Refresher", "run_child", "FORWARDED_SIGNALS", "in_terminal_foreground"]

# SDKs renew container credentials from 15 minutes before expiry; serve ones that have
# comfortably more than that.
REFRESH_MARGIN = timedelta(minutes=20)
RETRY_AFTER = timedelta(seconds=30)
FORWARDED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Refresher:
    """Holds the served session and renews it on schedule; the clock is injectable."""

    def __init__(
        self,
        initial: Credentials,
        fetch: Callable[[], Credentials],
        warn: Callable[[str], None],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._credentials = initial
        self._fetch, self._warn, self._clock = fetch, warn, clock
        self._received_at = clock()
        self._lock = threading.Lock()
        self._failing = False
        self._retry_at: Optional[datetime] = None

    def current(self) -> Credentials:
        with self._lock:
            return self._credentials

    def due(self) -> datetime:
        """When the served session should be replaced."""
        credentials = self.current()
        if self._retry_at is not None:
            return self._retry_at
        life = credentials.expiration - self._received_at
        # A short session is renewed halfway through the life it had when received,
        # a long one 20 minutes before it ends.
        margin = min(REFRESH_MARGIN, max(life / 2, timedelta(0)))
        return credentials.expiration - margin

    def tick(self) -> None:
        """Renew if due. A failure keeps the old session served while it is valid, warns once, retries."""
        if self._clock() < self.due():
            return
        try:
            fresh = self._fetch()
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the child keeps running
            if not self._failing:
                expiry = self.current().expiration.strftime("%H:%M:%SZ")
                self._warn(f"could not renew the role session ({exc}); still serving the current one "
                           f"(valid until {expiry}) and retrying")
                self._failing = True
            self._retry_at = self._clock() + RETRY_AFTER
            return
        with self._lock:
            self._credentials, self._received_at = fresh, self._clock()
        if self._failing:
            self._warn("renewed the role session again")
        self._failing, self._retry_at = False, None

    def seconds_to_wait(self) -> float:
        return max(0.0, (self.due() - self._clock()).total_seconds())


def _forward(child: subprocess.Popen) -> Callable[[int, object], None]:
    """Pass a signal on to the child once.

    Keyboard signals (Ctrl-C, Ctrl-\\, hangup) already reach the child when awsrun and the
    child are the terminal's foreground process group; sending them again would make one
    Ctrl-C count twice. Every other signal sent to awsrun is passed on.
    """

    def handler(signum: int, frame: object) -> None:
        if signum != signal.SIGTERM and _in_terminal_foreground():
            return
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    return handler


def _in_terminal_foreground() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


in_terminal_foreground = _in_terminal_foreground  # --each-role forwards signals the same way


def run_child(command: Sequence[str], environ: Mapping[str, str], refresher: Refresher,
              warn: Callable[[str], None]) -> int:
    """Start the command (awsrun.deliver.launch), renew credentials while it runs, return its status (128+N if killed by N)."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(min(refresher.seconds_to_wait(), 3600.0)):
            refresher.tick()

    child = launch.start(command, environ, warn)
    previous = {sig: signal.signal(sig, _forward(child)) for sig in FORWARDED_SIGNALS}
    worker = threading.Thread(target=renew, name="awsrun-refresh", daemon=True)
    worker.start()
    try:
        while True:
            try:
                status = child.wait()
                break
            except KeyboardInterrupt:  # only if a handler was replaced behind our back
                continue
    finally:
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


