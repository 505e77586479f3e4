"""The default role session name: stable across runs and traceable in CloudTrail."""

from __future__ import annotations

import os
import re
from typing import Mapping

__all__ = ["default_session_name", "sanitise"]

_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]+", re.ASCII)
MAX_LENGTH = 64


def sanitise(text: str, keep_tail: str = "") -> str:
    """Replace characters STS refuses and cut to 64, keeping ``keep_tail`` whole at the end."""
    head = _NOT_ALLOWED.sub("-", text).strip("-")
    tail = _NOT_ALLOWED.sub("-", keep_tail)[-MAX_LENGTH:]
    name = head[: MAX_LENGTH - len(tail)] + tail
    return name if len(name) >= 2 else (name + "--")[:2]


def default_session_name(environ: Mapping[str, str]) -> str:
    """GitHub Actions: repository and run id; GitLab CI: project and job id; else user@host."""
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_RUN_ID"):
        repo = environ.get("GITHUB_REPOSITORY", "github").replace("/", ".")
        return sanitise(f"gha@{repo}", "@" + environ["GITHUB_RUN_ID"])
    if environ.get("GITLAB_CI") == "true" and environ.get("CI_JOB_ID"):
        project = environ.get("CI_PROJECT_PATH", "gitlab").replace("/", ".")
        return sanitise(f"gitlab@{project}", "@" + environ["CI_JOB_ID"])
    return sanitise(f"{_user(environ)}@{_host() or 'localhost'}")


def _user(environ: Mapping[str, str]) -> str:
    # As getpass.getuser(), without its import cost on every run.
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name):
            return environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):  # no passwd entry: a bare container
        return "unknown"


def _host() -> str:
    try:
        return os.uname().nodename
    except AttributeError:  # Windows
        return os.environ.get("COMPUTERNAME", "localhost")
