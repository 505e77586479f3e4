"""The one way to start a child while awsrun outlives it: make awsrun private, then start it.

awsrun holds the source credentials (and, with --each-role, every role's session) while
its commands run as the same user. Every mode that starts a child instead of exec-ing it
(--refresh, --each-role, exec mode's fallback without exec) goes through start() here, so
a new mode cannot forget the guard; a test checks nothing else in awsrun starts a process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import IO, Callable, Mapping, Optional, Sequence, Union

from awsrun.errors import CommandNotExecutable, CommandNotFound

__all__ = ["make_private", "start", "open_browser"]

Stream = Union[None, int, IO[bytes]]

_lock = threading.Lock()
_private: Optional[bool] = None  # None: not asked yet in this process


def _undumpable() -> Optional[str]:
    """prctl(PR_SET_DUMPABLE, 0), as ssh-agent does: only CAP_SYS_PTRACE may then read this
    process's memory or /proc/<pid>/environ, and execve gives each child the usual setting back.
    None when done, else why not."""
    if not sys.platform.startswith("linux"):
        return "this needs Linux's prctl(PR_SET_DUMPABLE)"
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) == 0:  # PR_SET_DUMPABLE = 4
            return None
        return f"prctl: {os.strerror(ctypes.get_errno())}"
    except (OSError, AttributeError):
        return "prctl is not available"


def make_private(warn: Callable[[str], None]) -> None:
    """Keep other processes of the user out of awsrun's memory; once per process, said once if impossible."""
    global _private
    with _lock:
        if _private is not None:
            return
        why = _undumpable()
        _private = why is None
        if why:
            warn(f"could not make awsrun's process private ({why}); "
                 "commands of the same user can read its environment and memory while it runs")


def start(command: Sequence[str], environ: Mapping[str, str], warn: Callable[[str], None], *,
          stdin: Stream = None, stdout: Stream = None, stderr: Stream = None) -> subprocess.Popen:
    """Start ``command`` with exactly ``environ``, awsrun made private first.

    Signals Python ignores (SIGPIPE, SIGXFSZ) are the command's defaults again, as after
    exec mode. A missing program is 127, one that cannot run 126, as in exec mode.
    """
    make_private(warn)
    try:
        return subprocess.Popen(list(command), env=dict(environ), stdin=stdin, stdout=stdout, stderr=stderr,
                                restore_signals=True)
    except FileNotFoundError:  # also a #! line naming a missing interpreter
        raise CommandNotFound(command[0]) from None
    except OSError as exc:  # EACCES, ENOEXEC (no #! line), ...
        raise CommandNotExecutable(command[0], exc.strerror or "") from None



def open_browser(url: str, environ: Mapping[str, str], warn: Callable[[str], None]) -> bool:
    """Open ``url`` in the browser Python's webbrowser picks ($BROWSER first), awsrun made private first.

    A browser webbrowser names by its command (``$BROWSER``, xdg-open, ...) is started here with
    exactly ``environ``; the others (macOS, Windows, remote-controlled browsers) by webbrowser.
    False where none can be started: webbrowser finds none, the command fails, or Linux has no
    display and no $BROWSER (a text browser would take over the terminal)."""
    no_display = not any(environ.get(name) for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and no_display:
        return False
    make_private(warn)
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if type(browser) not in (webbrowser.GenericBrowser, webbrowser.BackgroundBrowser):
        return bool(browser.open(url, new=2))
    try:
        child = start([browser.name, *(arg.replace("%s", url) for arg in browser.args)], environ, warn)
    except (CommandNotFound, CommandNotExecutable):
        return False
    # As webbrowser does: a generic browser's command returns once the URL is handed over.
    return type(browser) is webbrowser.BackgroundBrowser or child.wait() == 0
