"""--dry-run: the calls a run would make and the command's environment diff, no secret.

Exec mode and --each-role show their plans through here; the environment is built by the
one builder (environment.child_environment) with placeholder credentials.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Callable, Collection, List, Mapping, Optional, Sequence

from awsrun.config.roottask import RootTask
from awsrun.config.validate import region_partition
from awsrun.credentials import Credentials, datetime, timedelta, timezone
from awsrun.deliver import environment

if TYPE_CHECKING:
    from awsrun.session.hops import Hop

__all__ = ["print_plan"]


def _assumed_role_arn(role_arn: str, session_name: str) -> str:
    """The ARN STS will name the session by (so the dry run shows the role's AWS_ACCOUNT_ID)."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return "<assumed-role ARN>"
    return f"arn:{parts[1]}:sts::{parts[4]}:assumed-role/{parts[5].rsplit('/', 1)[-1]}/{session_name}"


def print_plan(line: Callable[[str], None], hops: Sequence[Hop], region: str, environ: Mapping[str, str],
               base: Mapping[str, str], command: List[str], block: bool, config_file: str,
               secrets: Collection[str] = (), root: Optional[RootTask] = None) -> None:
    """What --dry-run shows, one ``line`` at a time (the console makes each inert).

    The diff is against awsrun's own environment, so the variables a .env adds show too.
    """
    for hop in hops:
        r = hop.request
        mfa = f" with MFA {r.mfa_serial}" if r.mfa_serial else ""
        line(f"would assume {r.role_arn} as session {r.session_name} for {r.duration}s in {region}{mfa}")
    last = hops[-1].request if hops else None
    arn = _assumed_role_arn(last.role_arn, last.session_name) if last else "<assumed-role ARN>"
    duration = last.duration if last else 0
    if root:
        partition = region_partition(region)
        line(f"would assume root in {root.account} for {root.task_policy_arn(partition)} for {root.duration}s in {region}")
        arn, duration = root.principal_arn(partition), root.duration
    expiry = datetime.now(timezone.utc) + timedelta(seconds=duration)
    placeholder = Credentials("<temporary>", "<temporary>", "<temporary>", expiry, arn)
    child = environment.child_environment(base, placeholder, region, block, config_file, secrets)
    for name in sorted(set(environ) - set(child)):
        line(f"remove {name}")
    for name, value in child.items():
        if environ.get(name) != value:
            line(f"set {name}={value}")
    line("exec " + shlex.join(command))
