"""--assume-root ACCOUNT with --task-policy NAME: a root session in a member account for one task.

Checked locally (no botocore): the account is 12 digits, the task policy one of AWS's
root-task policies (a typo gets the closest name), the session at most 900 seconds.
session/sts.py makes the AssumeRoot call; this module only says what it will ask for.
"""

import re
from typing import NamedTuple, Optional

from awsrun.errors import ConfigError, InvalidValue

__all__ = ["RootTask", "TASK_POLICIES", "MAX_ROOT_DURATION", "root_task"]

# The task policies AWS offers for AssumeRoot (arn:PARTITION:iam::aws:policy/root-task/NAME).
TASK_POLICIES = ("IAMAuditRootUserCredentials", "IAMCreateRootUserPassword", "IAMDeleteRootUserCredentials",
                 "S3UnlockBucketPolicy", "SQSUnlockQueuePolicy")
MAX_ROOT_DURATION = 900  # AssumeRoot's DurationSeconds: at most 15 minutes, and that is its default
_TASK_ARN = r"arn:(?P<partition>aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):iam::aws:policy/root-task/(?P<name>.+)"


class RootTask(NamedTuple):
    """The AssumeRoot a run ends with: the member account, the task policy, the session length."""

    account: str
    task: str  # the policy's name, one of TASK_POLICIES
    duration: int
    partition: Optional[str] = None  # set when the task policy was given as a full ARN

    def task_policy_arn(self, partition: str) -> str:
        return f"arn:{self.partition or partition}:iam::aws:policy/root-task/{self.task}"

    def principal_arn(self, partition: str) -> str:
        """What the session is: the member account's root user. It names the account (as an
        assumed-role ARN does), so whatever reads the account from the ARN keeps working."""
        return f"arn:{partition}:iam::{self.account}:root"


def root_task(account: str, task_policy: str, duration: Optional[int], duration_shown: str,
              duration_origin: str) -> RootTask:
    """Check --assume-root, --task-policy and the root session's length (``duration`` None: 900)."""
    if not re.fullmatch(r"[0-9]{12}", account, re.ASCII):
        raise InvalidValue("--assume-root account", account, "expected the member account's 12-digit id")
    partition = None
    full = re.fullmatch(_TASK_ARN, task_policy, re.ASCII)
    name = full["name"] if full else task_policy
    if full:
        partition = full["partition"]
    elif task_policy.startswith("arn:"):
        raise InvalidValue("--task-policy", task_policy,
                           "expected a name from " + ", ".join(TASK_POLICIES) +
                           " or arn:PARTITION:iam::aws:policy/root-task/NAME")
    if name not in TASK_POLICIES:
        from awsrun.config.typos import closest

        raise InvalidValue("--task-policy", task_policy, "expected one of " + ", ".join(TASK_POLICIES) +
                           closest(name, TASK_POLICIES))
    if duration is not None and not 0 < duration <= MAX_ROOT_DURATION:
        raise ConfigError(f"duration {duration_shown} (from {duration_origin}) is longer than a root session can "
                          f"last: AssumeRoot allows at most {MAX_ROOT_DURATION}s (15m), the default with --assume-root")
    return RootTask(account, name, duration or MAX_ROOT_DURATION, partition)
