"""--rerun REPORT: the roles that did not end ok in an earlier run's JSON report, under the
same labels, so a flaky fleet run is finished without running the successes again.

The report is read through the one bounded reader (files.read_bounded) and must be
awsrun's own JSON report (report.json_report): anything else is refused in one line.
"""

from __future__ import annotations

import json
import re
from typing import List, Tuple

from awsrun.config import validate
from awsrun.config.validate import RoleRef
from awsrun.errors import AwsrunError, ConfigError
from awsrun.files import NOT_REGULAR, read_bounded, size_text

__all__ = ["MAX_REPORT_BYTES", "failed_roles"]

# A role's entry holds at most 20 lines of stderr: 64 MiB holds tens of thousands of them.
MAX_REPORT_BYTES = 64 << 20
# A label names --output-dir's files: only what fanout.plan.labels makes (NAME@ACCOUNT, #N on repeats).
_LABEL = r"[\w+=,.@-]{1,64}@\d{12}(?:#\d{1,6})?"


def failed_roles(path: str) -> Tuple[List[RoleRef], List[str]]:
    """The roles (and their labels) whose status in the report at ``path`` was not 0."""
    shown = f"--rerun {path}"

    def refuse(why: str) -> ConfigError:
        if why == NOT_REGULAR:
            return ConfigError(f"{shown}: not a regular file; name the JSON file an earlier --report wrote")
        return ConfigError(f"{shown}: larger than {size_text(MAX_REPORT_BYTES)}, the most a report may hold here")

    try:
        document = json.loads(read_bounded(path, MAX_REPORT_BYTES, refuse).decode("utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON, a NUL in the path
        reason = getattr(exc, "strerror", None) or "not JSON"
        raise ConfigError(f"cannot read {shown}: {reason}; name the JSON file an earlier --report FILE.json wrote") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not isinstance(document.get("exit_status"), int) or not all(
            isinstance(item, dict) and isinstance(item.get("label"), str) and isinstance(item.get("role"), str)
            and (item.get("status") is None or isinstance(item.get("status"), int)) for item in results):
        raise ConfigError(f"{shown}: not an awsrun JSON report (expected exit_status and results with label, "
                          "role and status, as --report FILE.json writes)")
    roles, names = [], []
    for item in results:
        if item["status"] == 0:
            continue
        try:
            roles.append(validate.role(item["role"]))
        except AwsrunError:
            raise ConfigError(f"{shown}: the role of {item['label']!r} is not a role ARN; not an awsrun report?") from None
        if not re.fullmatch(_LABEL, item["label"], re.ASCII):
            raise ConfigError(f"{shown}: label {item['label']!r} is not one awsrun makes (NAME@ACCOUNT)")
        names.append(item["label"])
    if not roles:
        raise ConfigError(f"{shown}: every role ended ok; nothing to run again")
    return roles, names
