"""The only place that runs the command: look it up first, then exec it in place of awsrun."""

from __future__ import annotations

import os
import sys
from typing import Callable, Mapping, NoReturn, Sequence

from awsrun.errors import CommandNotExecutable, CommandNotFound

__all__ = ["resolve", "exec_command"]


def resolve(command: str, environ: Mapping[str, str]) -> str:
    """Find ``command`` on the child's PATH as execvpe will: 127 if absent, 126 if not runnable.

    The same walk as os.execvpe's own (os.get_exec_path; a name with a slash is taken as
    it is), not shutil.which's: what is checked is what will run, and shutil's import
    (its compression modules) would cost every exec more than the lookup.
    """
    if os.path.dirname(command):
        candidates = [command]
    else:
        candidates = [os.path.join(folder, command) for folder in os.get_exec_path(environ)]
    for path in candidates:
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    for path in candidates:
        if os.path.isdir(path) and os.sep in command:
            raise CommandNotExecutable(command, "a directory")
        if os.path.exists(path) and not os.path.isdir(path):
            raise CommandNotExecutable(command, "no execute permission")
    raise CommandNotFound(command)


def exec_command(argv: Sequence[str], environ: Mapping[str, str], warn: Callable[[str], None]) -> NoReturn:
    """Replace awsrun with the command: same PID, its exit status, its signals."""
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform == "win32":  # no exec on Windows: awsrun stays, so the command starts as every child does
        from awsrun.deliver import launch  # only here: exec mode's fast path never loads subprocess

        sys.exit(launch.start(argv, environ, warn).wait())
    restore = _default_signals()
    try:
        try:
            os.execvpe(argv[0], list(argv), dict(environ))
        finally:  # only reached when the exec failed: awsrun reports it, not dying of SIGPIPE
            restore()
    except FileNotFoundError:
        raise CommandNotFound(argv[0]) from None
    except OSError as exc:  # EACCES, ENOEXEC (no #! line), ...
        raise CommandNotExecutable(argv[0], exc.strerror or "") from None


def _default_signals() -> Callable[[], None]:
    """Give the command the signal dispositions it would have had without awsrun.

    Python ignores SIGPIPE and SIGXFSZ at start-up, and execve keeps ignored signals
    ignored: without this, ``awsrun ... -- yes | head -1`` makes ``yes`` fail on EPIPE
    instead of dying quietly of SIGPIPE. subprocess does the same for its children. Signals
    ignored by awsrun's own parent (``nohup``) stay ignored, and the mask, which awsrun
    never changes, passes on as it came.
    """
    try:  # as in cli.run(): the C module, without signal.py's enums
        import _signal as signal
    except ImportError:  # an interpreter without CPython's C module
        import signal

    numbers = [getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, signal.SIG_DFL) for signum in numbers}
    # Handlers awsrun installed (SIGTERM, Python's SIGINT) are reset by execve itself.

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore
