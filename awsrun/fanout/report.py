"""What --each-role reports: the summary table, the exit status, JUnit XML and JSON.

Pure functions of the results, so that each form is tested as a table of cases.
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from awsrun import files

__all__ = ["Result", "exit_status", "summary_lines", "junit_xml", "json_report", "write", "SOME_FAILED"]

# What xargs returns when one or more invocations failed.
SOME_FAILED = 123
OWN_FAILURE = 125

# XML 1.0 allows only tab, newline and carriage return below 0x20, no surrogates, no U+FFFE/FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# A value in the JSON report's object of one role.
Field = Union[str, int, float, None, List[str]]


class Result(NamedTuple):
    """How one role's run ended.

    ``status`` is the command's exit status, 128+N when a signal N killed it, 125 when
    awsrun failed for the role (``reason`` says why), None when it was never started.
    """

    label: str
    role_arn: str
    status: Optional[int]
    seconds: float
    reason: str = ""
    signal: Optional[int] = None
    stderr_tail: Tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == 0

    def outcome(self) -> str:
        """One phrase: ``ok``, ``exit 3``, ``signal SIGKILL``, ``awsrun failed: ...``, ``not started``."""
        if self.status is None:
            return "not started"
        if self.reason:
            return f"awsrun failed ({self.status}): {self.reason}"
        if self.signal is not None:
            return f"signal {_signal_name(self.signal)}"
        return "ok" if self.status == 0 else f"exit {self.status}"


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def exit_status(results: Sequence[Result], single: bool) -> int:
    """0 when every run exited 0; 125 when awsrun failed for any; else 123. One role: its own status."""
    if single and results and results[0].status is not None:
        return results[0].status
    if any(result.reason and result.status == OWN_FAILURE for result in results):
        return OWN_FAILURE
    if all(result.passed for result in results):
        return 0
    return SOME_FAILED


def summary_lines(results: Sequence[Result]) -> List[str]:
    """The summary table, one row per role in the order given."""
    width = max((len(result.label) for result in results), default=0)
    rows = []
    for result in results:
        seconds = "-" if result.status is None else f"{result.seconds:.2f}s"
        rows.append(f"  {result.label.ljust(width)}  {seconds:>8}  {result.outcome()}")
    failed = sum(1 for result in results if not result.passed)
    head = f"{len(results)} role{'s' if len(results) != 1 else ''}, {failed} not ok"
    return [head, *rows]


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def junit_xml(results: Sequence[Result], suite: str = "awsrun", wall: Optional[float] = None) -> bytes:
    """A JUnit XML document: one testcase per role, a failure (or error) with the last lines of stderr.

    The suite's time is ``wall``, the run's wall time (roles run in parallel: the sum of
    their times would be more than the run took); without it, the sum.
    """
    import xml.etree.ElementTree as ET

    failures = sum(1 for r in results if r.status not in (0, None) and not r.reason)
    errors = sum(1 for r in results if r.reason)
    skipped = sum(1 for r in results if r.status is None)
    total = sum(r.seconds for r in results) if wall is None else wall
    attributes = {"name": suite, "tests": str(len(results)), "failures": str(failures), "errors": str(errors),
                  "skipped": str(skipped), "time": f"{total:.3f}"}
    root = ET.Element("testsuites", attributes)
    suite_element = ET.SubElement(root, "testsuite", attributes)
    for result in results:
        case = ET.SubElement(suite_element, "testcase", {
            "classname": suite, "name": _xml_text(result.label), "time": f"{result.seconds:.3f}"})
        properties = ET.SubElement(case, "properties")
        ET.SubElement(properties, "property", {"name": "role", "value": _xml_text(result.role_arn)})
        if result.status is None:
            ET.SubElement(case, "skipped", {"message": "not started"})
        elif result.status != 0:
            kind = "error" if result.reason else "failure"
            element = ET.SubElement(case, kind, {"message": _xml_text(result.outcome()), "type": kind})
            element.text = _xml_text("\n".join(result.stderr_tail))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _as_dict(result: Result) -> Dict[str, Field]:
    return {"label": result.label, "role": result.role_arn, "status": result.status,
            "signal": _signal_name(result.signal) if result.signal is not None else None,
            "seconds": round(result.seconds, 3), "outcome": result.outcome(),
            "awsrun_error": result.reason or None, "stderr_tail": list(result.stderr_tail)}


def json_report(results: Sequence[Result], status: int) -> bytes:
    """The same as the JUnit report, as JSON: the exit status and one object per role."""
    import json

    document = {"exit_status": status, "results": [_as_dict(result) for result in results]}
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def write(path: str, results: Sequence[Result], status: int, wall: Optional[float] = None) -> None:
    """Write the report atomically, as any new file (never through a link): JSON when ``path``
    ends in .json, JUnit XML otherwise (``wall``: the suite's time). Raises files.WriteError."""
    data = json_report(results, status) if path.lower().endswith(".json") else junit_xml(results, wall=wall)
    files.write_bytes(path, data, mode=files.PUBLIC)
