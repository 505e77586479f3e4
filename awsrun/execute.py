"""The only place that runs the command: look it up first, then exec it in place of awsrun."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Mapping, NoReturn, Sequence

from awsrun.errors import CommandNotExecutable, CommandNotFound

__all__ = ["resolve", "exec_command"]


def resolve(command: str, environ: Mapping[str, str]) -> str:
    """Find ``command`` on the child's PATH as execvpe will: 127 if absent, 126 if not runnable."""
    search_path = environ.get("PATH", os.defpath)
    found = shutil.which(command, path=search_path)
    if found:
        return found
    if shutil.which(command, mode=os.F_OK, path=search_path):
        raise CommandNotExecutable(command, "no execute permission")
    if os.sep in command and os.path.isdir(command):
        raise CommandNotExecutable(command, "a directory")
    raise CommandNotFound(command)


def exec_command(argv: Sequence[str], environ: Mapping[str, str]) -> NoReturn:
    """Replace awsrun with the command: same PID, its exit status, its signals."""
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform == "win32":  # no exec on Windows: run it and pass the status on
        import subprocess

        sys.exit(subprocess.call(list(argv), env=dict(environ)))
    try:
        os.execvpe(argv[0], list(argv), dict(environ))
    except FileNotFoundError:
        raise CommandNotFound(argv[0]) from None
    except OSError as exc:  # EACCES, ENOEXEC (no #! line), ...
        raise CommandNotExecutable(argv[0], exc.strerror or "") from None
