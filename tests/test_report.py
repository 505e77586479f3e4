"""awsrun.fanout.report and the pure parts of --each-role: exit status, summary, JUnit and JSON, labels."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from typing import List

import pytest

from awsrun.fanout import report
from awsrun.fanout.plan import labels
from awsrun.fanout.report import Result
from awsrun.config.validate import role

OK = Result("A@111111111111", "arn:aws:iam::111111111111:role/A", 0, 1.5)
FAILED = Result("B@222222222222", "arn:aws:iam::222222222222:role/B", 3, 0.25, stderr_tail=("boom",))
AWSRUN = Result("C@333333333333", "arn:aws:iam::333333333333:role/C", 125, 0.1, reason="STS denied AssumeRole")
KILLED = Result("D@444444444444", "arn:aws:iam::444444444444:role/D", 128 + signal.SIGKILL, 2.0, signal=signal.SIGKILL)
NOT_STARTED = Result("E@555555555555", "arn:aws:iam::555555555555:role/E", None, 0.0)
NOT_FOUND = Result("F@666666666666", "arn:aws:iam::666666666666:role/F", 127, 0.0, reason="command not found: 'x'")


@pytest.mark.parametrize("results, single, status", [
    ([OK], True, 0),
    ([FAILED], True, 3),
    ([KILLED], True, 137),
    ([AWSRUN], True, 125),
    ([OK, OK], False, 0),
    ([OK, FAILED], False, 123),
    ([OK, KILLED], False, 123),
    ([FAILED, AWSRUN], False, 125),
    ([AWSRUN, OK], False, 125),
    ([OK, NOT_FOUND], False, 123),
    ([OK, NOT_STARTED], False, 123),
])
def test_exit_status(results: List[Result], single: bool, status: int) -> None:
    assert report.exit_status(results, single) == status


@pytest.mark.parametrize("result, outcome", [
    (OK, "ok"),
    (FAILED, "exit 3"),
    (AWSRUN, "awsrun failed (125): STS denied AssumeRole"),
    (KILLED, "signal SIGKILL"),
    (NOT_STARTED, "not started"),
])
def test_outcome(result: Result, outcome: str) -> None:
    assert result.outcome() == outcome


def test_summary_keeps_the_order_given_and_aligns() -> None:
    lines = report.summary_lines([FAILED, OK, NOT_STARTED])
    assert lines[0] == "3 roles, 2 not ok"
    assert [line.split()[0] for line in lines[1:]] == [FAILED.label, OK.label, NOT_STARTED.label]
    assert lines[1] == "  B@222222222222     0.25s  exit 3"
    assert lines[3] == "  E@555555555555         -  not started"


@pytest.mark.parametrize("text, shown", [
    ("plain", "plain"),
    ("<tag> & \"quotes\"", "<tag> & \"quotes\""),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("nul\x00 bell\x07 ff\x0c", "nul\\x00 bell\\x07 ff\\x0c"),
    ("tab\tkept", "tab\tkept"),
    ("bad \ufffe char", "bad \\xfffe char"),
    ("lone \udc80 surrogate", "lone \\xdc80 surrogate"),
])
def test_junit_escapes_what_xml_forbids_and_parses_back(text: str, shown: str) -> None:
    result = FAILED._replace(label=f"B{text}", stderr_tail=(text, "last"))
    root = ET.fromstring(report.junit_xml([OK, result]))
    case = root.find("testsuite").findall("testcase")[1]
    assert case.get("name") == f"B{shown}"
    assert case.find("failure").text == f"{shown}\nlast"


def test_junit_counts_and_elements() -> None:
    root = ET.fromstring(report.junit_xml([OK, FAILED, AWSRUN, KILLED, NOT_STARTED]))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "2", "1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [r.label for r in (OK, FAILED, AWSRUN, KILLED, NOT_STARTED)]
    assert [child.tag for case in cases for child in case if child.tag != "properties"] == [
        "failure", "error", "failure", "skipped"]
    assert cases[1].find("failure").get("message") == "exit 3"
    assert cases[2].find("error").get("message") == "awsrun failed (125): STS denied AssumeRole"
    assert cases[0].find("properties/property").get("value") == OK.role_arn
    assert cases[0].get("time") == "1.500"


def test_json_report_holds_the_same() -> None:
    document = json.loads(report.json_report([OK, AWSRUN, KILLED], 125))
    assert document["exit_status"] == 125
    assert [(r["label"], r["status"], r["signal"], r["awsrun_error"]) for r in document["results"]] == [
        (OK.label, 0, None, None), (AWSRUN.label, 125, None, "STS denied AssumeRole"),
        (KILLED.label, 137, "SIGKILL", None)]


@pytest.mark.parametrize("path, first", [("r.xml", b"<?xml"), ("r.json", b"{"), ("R.JSON", b"{"), ("junit", b"<?xml")])
def test_write_picks_the_format_by_name(path: str, first: bytes, tmp_path) -> None:
    target = tmp_path / path
    report.write(str(target), [OK], 0)
    assert target.read_bytes().startswith(first)


@pytest.mark.parametrize("roles, expected", [
    (["111111111111:Deploy"], ["Deploy@111111111111"]),
    (["arn:aws:iam::111111111111:role/a/b/Deploy", "arn:aws-cn:iam::222222222222:role/Deploy"],
     ["Deploy@111111111111", "Deploy@222222222222"]),
    (["111111111111:Deploy", "111111111111:ops/Deploy", "111111111111:Deploy", "111111111111:Other"],
     ["Deploy@111111111111", "Deploy@111111111111#2", "Deploy@111111111111#3", "Other@111111111111"]),
])
def test_labels_are_short_stable_and_unique(roles: List[str], expected: List[str]) -> None:
    got = labels([role(value) for value in roles])
    assert got == expected
    assert all("/" not in label for label in got)




def test_junit_suite_time_is_the_wall_time_given_not_the_sum() -> None:
    root = ET.fromstring(report.junit_xml([OK, KILLED], wall=2.25))
    assert root.get("time") == root.find("testsuite").get("time") == "2.250"
    assert [case.get("time") for case in root.find("testsuite").findall("testcase")] == ["1.500", "2.000"]
