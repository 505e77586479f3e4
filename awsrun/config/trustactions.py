"""The --trust-env-file, --list-trusted-env-files and --forget-env-file actions over the trust store.

Reached only when one of them is given: no other run imports this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, List, Mapping

from awsrun.config.envfile import DEFAULT_PATH
from awsrun.config.trust import TRUSTED, entries, forget_files, read_bytes, shown, trust_files, verdict
from awsrun.errors import ConfigError, ExitStatus, UsageError

if TYPE_CHECKING:
    from awsrun.config.settings import Args

__all__ = ["ACTIONS", "NOTHING_TRUSTED", "run_action"]

ACTIONS = ("--trust-env-file", "--list-trusted-env-files", "--forget-env-file")
_ALLOWED_WITH_ACTIONS = {"--env-file", "--debug", "--help", "--version", "--", "ARG", "COMMAND"} | set(ACTIONS)


def _check(args: Args, action: str) -> None:
    chosen = [name for name in ACTIONS if args.get(name)]
    if len(chosen) > 1:
        raise UsageError(" and ".join(chosen) + " exclude each other")
    if args["COMMAND"]:
        raise UsageError(f"{action} runs no command: drop {args['COMMAND']!r}")
    if action == "--list-trusted-env-files" and args["--env-file"]:
        raise UsageError("--list-trusted-env-files lists every trusted file: drop --env-file")
    extra = sorted(key for key, value in args.items() if key not in _ALLOWED_WITH_ACTIONS and value not in (None, False, []))
    if extra:
        raise UsageError(f"{action} goes only with --env-file: drop {extra[0]}")


def run_action(args: Args, environ: Mapping[str, str], line: Callable[[str], None]) -> int:
    """Trust, list or forget .env files as ``args`` ask; say one ``line`` per file (the console makes it inert)."""
    action = next(name for name in ACTIONS if args.get(name))
    _check(args, action)
    paths = args["--env-file"] or [DEFAULT_PATH]
    if action == "--list-trusted-env-files":
        lines = _listing(entries(environ)) or [NOTHING_TRUSTED]
    elif action == "--trust-env-file":
        lines = [f"trusted {shown(path)} (sha256 {sha})" for path, sha in trust_files(environ, paths)]
    else:
        lines = [f"forgot {shown(path)}" if was else f"not trusted, nothing to forget: {shown(path)}"
                 for path, was in forget_files(environ, paths)]
    for text in lines:
        line(text)
    return ExitStatus.OK


NOTHING_TRUSTED = "no trusted .env files (awsrun --trust-env-file trusts ./.env as it is now)"


def _listing(trusted: Mapping[str, str]) -> List[str]:
    """One line per trusted file: whether it still matches (ok), changed, or is gone (missing)."""
    lines = []
    for path, sha in sorted(trusted.items()):
        try:
            state = "ok" if verdict(trusted, path, read_bytes(path)) == TRUSTED else "changed"
        except ConfigError:
            state = "missing" if not os.path.lexists(path) else "unreadable"
        lines.append(f"{state:10} {shown(path)} (sha256 {sha})")
    return lines
