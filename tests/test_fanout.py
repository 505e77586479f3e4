"""--each-role: one command under many roles, awsrun as a real process against moto or a fake STS."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List

import pytest

from tests.conftest import SOURCE_KEY_ID, run_awsrun, trust_env_file
from tests.fake_sts import FakeSts, Reply, Request, assume_role_ok, error, get_session_token_ok

DEPLOY = "arn:aws:iam::123456789012:role/Deploy"
READONLY = "arn:aws:iam::210987654321:role/ReadOnly"
AUDIT = "arn:aws:iam::333333333333:role/team/Audit"
ROLES = [DEPLOY, READONLY, AUDIT]
LABELS = ["Deploy@123456789012", "ReadOnly@210987654321", "Audit@333333333333"]
SUMMARY_ROW = re.compile(r"^awsrun:   (\S+)\s+(\S+)  (.*)$")


def each(*roles: str) -> List[str]:
    return [arg for role in roles for arg in ("--each-role", role)]


def summary(stderr: str) -> List[List[str]]:
    """The summary rows: [label, duration, outcome] in the order printed."""
    return [list(match.groups()) for line in stderr.splitlines() if (match := SUMMARY_ROW.match(line))]


def py(code: str) -> List[str]:
    return [sys.executable, "-c", code]


# --- against moto ---------------------------------------------------------------------------


def test_each_role_runs_the_command_once_per_role_with_that_roles_session(source_env: Dict[str, str]) -> None:
    code = "import os; print(os.environ['AWSRUN_ASSUMED_ROLE_ARN']); print(os.environ['AWS_ACCESS_KEY_ID'][:4])"
    result = run_awsrun(["--no-cache", *each(*ROLES), "--", *py(code)], env=source_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    for label, role in zip(LABELS, ["Deploy", "ReadOnly", "Audit"]):
        mine = [line for line in lines if line.startswith(f"[{label}] ")]
        assert f":assumed-role/{role}/" in mine[0]
        assert mine[1] == f"[{label}] ASIA"
    assert SOURCE_KEY_ID not in result.stdout
    assert [row[0] for row in summary(result.stderr)] == LABELS
    assert [row[2] for row in summary(result.stderr)] == ["ok"] * 3


def test_the_environment_is_what_exec_mode_gives(source_env: Dict[str, str]) -> None:
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    env = {**source_env, "AWS_BEARER_TOKEN_BEDROCK": "leaky", "AWS_SDK_LOAD_CONFIG": "1", "KEEP_ME": "1"}
    fan = run_awsrun(["--no-cache", *each(DEPLOY), "--no-prefix", "--", *py(code)], env=env)
    single = run_awsrun(["--no-cache", "-r", DEPLOY, "--", *py(code)], env=env)
    assert fan.returncode == single.returncode == 0, fan.stderr + single.stderr
    got, want = json.loads(fan.stdout), json.loads(single.stdout)
    volatile = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
                "AWSRUN_ASSUMED_KEY_ID"}
    assert set(got) == set(want)
    assert {k: v for k, v in got.items() if k not in volatile} == {k: v for k, v in want.items() if k not in volatile}
    assert "AWS_BEARER_TOKEN_BEDROCK" not in got and got["KEEP_ME"] == "1"
    assert got["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull


@pytest.mark.parametrize("codes, status", [
    ((0, 0, 0), 0),
    ((0, 3, 0), 123),
    ((1, 2, 3), 123),
])
def test_exit_status_is_zero_or_123(codes: tuple, status: int, source_env: Dict[str, str]) -> None:
    by_role = json.dumps(dict(zip(["Deploy", "ReadOnly", "Audit"], codes)))
    code = f"import os, sys; sys.exit({by_role}[os.environ['AWSRUN_ASSUMED_ROLE_ARN'].split('/')[1]])"
    result = run_awsrun(["--no-cache", *each(*ROLES), "--", *py(code)], env=source_env)
    assert result.returncode == status, result.stderr
    assert [row[2] for row in summary(result.stderr)] == ["ok" if c == 0 else f"exit {c}" for c in codes]


def test_a_single_role_gives_the_commands_own_status_and_stdin(source_env: Dict[str, str]) -> None:
    code = "import sys; print(sys.stdin.read().upper()); sys.exit(7)"
    result = run_with_input(["--no-cache", *each(DEPLOY), "--", *py(code)], source_env, "hello")
    assert result.returncode == 7, result.stderr
    assert result.stdout == "[Deploy@123456789012] HELLO\n"


def run_with_input(args: List[str], env: Dict[str, str], text: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "awsrun", *args], env={**os.environ, **env}, input=text,
                          capture_output=True, text=True, timeout=60)


def test_many_roles_get_no_stdin(source_env: Dict[str, str]) -> None:
    code = "import sys; print(repr(sys.stdin.read()))"
    result = run_with_input(["--no-cache", *each(DEPLOY, READONLY), "--", *py(code)], source_env, "secret input")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["[Deploy@123456789012] ''", "[ReadOnly@210987654321] ''"]


def test_one_role_does_get_stdin(source_env: Dict[str, str]) -> None:
    code = "import sys; print(repr(sys.stdin.read()))"
    result = run_with_input(["--no-cache", *each(DEPLOY), "--", *py(code)], source_env, "piped")
    assert result.stdout == "[Deploy@123456789012] 'piped'\n", result.stderr


# Each child writes many lines to both streams in chunks that split lines anywhere.
NOISY = """
import os, random, sys
role = os.environ["AWSRUN_ASSUMED_ROLE_ARN"].split("/")[1]
rng = random.Random(role)
for stream, fd in (("out", 1), ("err", 2)):
    pass
data = {1: b"", 2: b""}
for i in range(1500):
    for fd, name in ((1, "out"), (2, "err")):
        data[fd] += f"{role} {name} {i} {'x' * rng.randrange(0, 300)}".encode() + b"\\n"
for fd in (1, 2):
    blob = data[fd]
    while blob:
        size = rng.randrange(1, 5000)
        written = os.write(fd, blob[:size])
        blob = blob[written:]
os.write(1, f"{role} out last-without-newline".encode())
"""


def test_lines_of_concurrent_runs_never_mix(source_env: Dict[str, str]) -> None:
    roles = [f"arn:aws:iam::{n:012d}:role/R{n}" for n in range(1, 7)]
    result = subprocess.run(
        [sys.executable, "-m", "awsrun", "--no-cache", "--parallel", "6", *each(*roles), "--", *py(NOISY)],
        env={**os.environ, **source_env}, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    line = re.compile(rb"^\[R(\d+)@(\d{12})\] R(\d+) (out|err) (\d+|last-without-newline) ?x*$")
    for stream, name in ((result.stdout, b"out"), (result.stderr, b"err")):
        counts: Dict[bytes, int] = {}
        for text in stream.split(b"\n"):
            if not text.startswith(b"[R"):
                continue  # the summary on stderr
            match = line.match(text)
            assert match, text[:200]
            assert match.group(1) == match.group(3) and int(match.group(2)) == int(match.group(1))
            assert match.group(4) == name
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
        assert counts == {str(n).encode(): 1500 + (name == b"out") for n in range(1, 7)}
    assert result.stdout.endswith(b"\n")


def test_output_dir_gets_one_file_pair_per_role_and_the_terminal_only_the_summary(
    source_env: Dict[str, str], tmp_path: Path,
) -> None:
    out = tmp_path / "logs"
    code = "import os, sys; print('to out'); print('to err', file=sys.stderr); sys.exit(1 if 'Read' in os.environ['AWSRUN_ASSUMED_ROLE_ARN'] else 0)"
    result = run_awsrun(["--no-cache", "--output-dir", str(out), *each(DEPLOY, READONLY), "--", *py(code)], env=source_env)
    assert result.returncode == 123
    assert result.stdout == ""
    assert [row[0] for row in summary(result.stderr)] == LABELS[:2]
    assert all(line.startswith("awsrun: ") for line in result.stderr.splitlines())
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{label}.{kind}" for label in LABELS[:2] for kind in ("out", "err"))
    assert (out / "Deploy@123456789012.out").read_text() == "to out\n"
    assert (out / "ReadOnly@210987654321.err").read_text() == "to err\n"


def test_output_dir_never_writes_through_a_symlink(source_env: Dict[str, str], tmp_path: Path) -> None:
    out, victim = tmp_path / "logs", tmp_path / "victim"
    out.mkdir()
    victim.write_text("precious")
    (out / "Deploy@123456789012.out").symlink_to(victim)
    result = run_awsrun(["--no-cache", "--output-dir", str(out), *each(DEPLOY, READONLY), "--", "echo", "hi"], env=source_env)
    assert result.returncode == 125
    assert victim.read_text() == "precious"
    assert [row[2] for row in summary(result.stderr)][1] == "ok"


def test_no_prefix_writes_lines_as_they_are(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["--no-cache", "--no-prefix", *each(DEPLOY, READONLY), "--", "echo", "plain"], env=source_env)
    assert result.stdout == "plain\nplain\n", result.stderr


def test_junit_report_parses_back(source_env: Dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    code = ("import os, sys; role = os.environ['AWSRUN_ASSUMED_ROLE_ARN']; "
            "print('denied <&> \\x1b[31m', role, file=sys.stderr); sys.exit(0 if 'Deploy' in role else 4)")
    result = run_awsrun(["--no-cache", "--report", str(report), *each(*ROLES), "--", *py(code)], env=source_env)
    assert result.returncode == 123
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == LABELS
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.get("message") == "exit 4"
    assert "denied <&> \\x1b[31m" in failure.text and "assumed-role/ReadOnly/" in failure.text


def test_json_report(source_env: Dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = run_awsrun(["--no-cache", "--report", str(report), *each(DEPLOY, READONLY), "--", "false"], env=source_env)
    document = json.loads(report.read_text())
    assert document["exit_status"] == result.returncode == 123
    assert [(r["label"], r["status"], r["role"]) for r in document["results"]] == [
        (LABELS[0], 1, DEPLOY), (LABELS[1], 1, READONLY)]


def test_roles_from_a_file_and_the_environment(source_env: Dict[str, str], tmp_path: Path) -> None:
    listing = tmp_path / "roles.txt"
    listing.write_text(f"# the accounts\n\n{DEPLOY}\n  {READONLY}  \n# {AUDIT}\n")
    result = run_awsrun(["--no-cache", "--each-role", f"@{listing}", "--", "true"], env=source_env)
    assert [row[0] for row in summary(result.stderr)] == LABELS[:2], result.stderr
    env = {**source_env, "AWSRUN_EACH_ROLE": f"{AUDIT}, {DEPLOY}"}
    result = run_awsrun(["--no-cache", "--", "true"], env=env)
    assert [row[0] for row in summary(result.stderr)] == [LABELS[2], LABELS[0]], result.stderr


def test_the_same_role_twice_gets_distinct_labels(source_env: Dict[str, str]) -> None:
    other_path = "arn:aws:iam::123456789012:role/ops/Deploy"
    result = run_awsrun(["--no-cache", *each(DEPLOY, other_path, DEPLOY), "--", "true"], env=source_env)
    assert [row[0] for row in summary(result.stderr)] == [LABELS[0], LABELS[0] + "#2", LABELS[0] + "#3"]


def test_quiet_prints_no_summary(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["--no-cache", "-q", *each(DEPLOY, READONLY), "--", "true"], env=source_env)
    assert result.returncode == 0 and result.stderr == ""


def test_cached_sessions_are_shared_with_exec_mode(source_env: Dict[str, str]) -> None:
    code = "import os; print(os.environ['AWS_ACCESS_KEY_ID'])"
    single = run_awsrun(["--cache", "-r", DEPLOY, "--", *py(code)], env=source_env)
    fan = run_awsrun(["--cache", "--no-prefix", *each(DEPLOY, READONLY), "--", *py(code)], env=source_env)
    assert single.stdout.strip() in fan.stdout.splitlines(), fan.stderr


def test_two_hundred_roles_twenty_at_a_time(source_env: Dict[str, str]) -> None:
    roles = [f"arn:aws:iam::{n:012d}:role/Many" for n in range(1, 201)]
    began = time.monotonic()
    result = run_awsrun(["--no-cache", "--parallel", "20", *each(*roles), "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = summary(result.stderr)
    assert len(rows) == 200 and {row[2] for row in rows} == {"ok"}
    assert time.monotonic() - began < 60


# --- local checks: nothing starts -----------------------------------------------------------


@pytest.mark.parametrize("extra, message", [
    (["--each-role", "123:Short"], "invalid role '123:Short'"),
    (["--each-role", "arn:aws-cn:iam::123456789012:role/China"], "partition"),
    (["-r", "123456789012:Jump", "-d", "7200", "--each-role", DEPLOY], "role 2 of 2"),
    (["--parallel", "0", "--each-role", DEPLOY], "invalid parallel '0'"),
    (["--each-role", "@/nonexistent/roles"], "cannot read the roles"),
    (["--report", "/nonexistent/dir/r.xml", "--each-role", DEPLOY], "invalid report"),
])
def test_one_bad_role_or_option_refuses_the_whole_run(
    extra: List[str], message: str, source_env: Dict[str, str], tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    fake = FakeSts([assume_role_ok()]).start()
    try:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": fake.url, "AWS_REGION": "us-east-1"}
        result = run_awsrun(["--no-cache", *each(READONLY), *extra, "--", "touch", str(marker)], env=env)
    finally:
        fake.stop()
    assert result.returncode == 125
    assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert not marker.exists() and fake.requests == []


@pytest.mark.parametrize("extra, message", [
    (["--export"], "does not go with --export"),
    (["--credential-process"], "does not go with --credential-process"),
    (["--refresh", "--", "true"], "does not go with --refresh"),
    (["--unset"], "does not go with --unset"),
    ([], "needs a COMMAND"),
])
def test_combinations_refused_with_one_line(extra: List[str], message: str) -> None:
    result = run_awsrun([*each(DEPLOY), *extra])
    assert result.returncode == 125 and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_fanout_options_need_each_role() -> None:
    result = run_awsrun(["-r", DEPLOY, "--output-dir", "x", "--", "true"])
    assert result.returncode == 125 and "--output-dir goes with --each-role" in result.stderr


def test_a_missing_command_is_found_before_anything_starts(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["--no-cache", *each(DEPLOY, READONLY), "--", "no-such-command-here"], env=source_env)
    assert result.returncode == 127 and summary(result.stderr) == []


def test_dry_run_prints_each_roles_plan_without_calling_sts(source_env: Dict[str, str]) -> None:
    with FakeSts([assume_role_ok()]) as fake:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": fake.url}
        result = run_awsrun(["--dry-run", "-r", "123456789012:Jump", *each(DEPLOY, READONLY), "--", "true"], env=env)
    assert result.returncode == 0, result.stderr
    assert fake.requests == []
    would = [line for line in result.stdout.splitlines() if "would assume" in line]
    assert [line.split()[0] for line in would] == ["[Deploy@123456789012]"] * 2 + ["[ReadOnly@210987654321]"] * 2
    assert would[1].split()[3] == DEPLOY and would[3].split()[3] == READONLY
    assert "arn:aws:iam::123456789012:role/Jump" in would[0] and "arn:aws:iam::123456789012:role/Jump" in would[2]


# --- a fake STS that answers by role --------------------------------------------------------


class RoutingSts(FakeSts):
    """Answers each request by its RoleArn (or action), whatever order the threads call in."""

    def __init__(self, routes: Dict[str, Reply], default: Reply) -> None:
        super().__init__([default])
        self.routes, self.default = routes, default
        self.arrivals: List[float] = []

    def _next_reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.arrivals.append(time.monotonic())
        key = request.form.get("RoleArn") or request.form.get("Action", "")
        return self.routes.get(key, self.default)


def assumed(sts: FakeSts, role: str) -> List[Request]:
    return [request for request in sts.requests if request.form.get("RoleArn") == role]


def test_a_role_sts_refuses_fails_alone(source_env: Dict[str, str], tmp_path: Path) -> None:
    code = "import sys; open(sys.argv[1], 'a').write('ran\\n')"
    denied = error("AccessDenied", 403, "not allowed to assume ReadOnly")
    with RoutingSts({READONLY: denied}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        report = tmp_path / "r.xml"
        result = run_awsrun(["--no-cache", "--report", str(report), *each(*ROLES), "--",
                             *py(code), str(tmp_path / "ran")], env=env)
    assert result.returncode == 125, result.stderr
    rows = summary(result.stderr)
    assert [row[0] for row in rows] == LABELS
    assert rows[0][2] == rows[2][2] == "ok"
    assert rows[1][2].startswith("awsrun failed (125): STS denied AssumeRole on " + READONLY)
    assert (tmp_path / "ran").read_text() == "ran\n" * 2
    error_element = ET.parse(report).getroot().find("testsuite").findall("testcase")[1].find("error")
    assert "STS denied" in error_element.get("message")


@pytest.mark.parametrize("extra, said_by", [
    ([], "the summary"),
    (["-q"], "the role's own line"),
])
def test_the_reason_a_role_was_refused_is_said_once(extra: List[str], said_by: str,
                                                   source_env: Dict[str, str], tmp_path: Path) -> None:
    listing = tmp_path / "roles"
    listing.write_text(f"{DEPLOY}\n{READONLY}\n")
    denied = error("AccessDenied", 403, "not allowed to assume ReadOnly")
    with RoutingSts({READONLY: denied}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["--no-cache", *extra, "--each-role", f"@{listing}", "--", "true"], env=env)
    assert result.returncode == 125, result.stderr
    assert result.stderr.count("not allowed to assume ReadOnly") == 1, (said_by, result.stderr)
    said = next(line for line in result.stderr.splitlines() if "not allowed to assume ReadOnly" in line)
    assert LABELS[1] in said


def test_the_junit_suite_time_is_the_runs_wall_time(source_env: Dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    began = time.monotonic()
    result = run_awsrun(["--no-cache", "--parallel", "2", "--report", str(report), *each(DEPLOY, READONLY),
                         "--", *py("import time; time.sleep(1)")], env=source_env)
    wall = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    cases = [float(case.get("time")) for case in suite.findall("testcase")]
    assert all(0.95 <= seconds < 1.8 for seconds in cases), cases
    assert float(suite.get("time")) < 1.8 and float(suite.get("time")) <= wall
    assert float(ET.parse(report).getroot().get("time")) == float(suite.get("time"))


def test_throttling_is_retried_then_reported_per_role(source_env: Dict[str, str]) -> None:
    with RoutingSts({READONLY: error("Throttling", 400, "Rate exceeded")}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["--no-cache", *each(DEPLOY, READONLY), "--", "true"], env=env)
    assert result.returncode == 125
    assert len(assumed(sts, READONLY)) == 3 and len(assumed(sts, DEPLOY)) == 1
    assert "STS throttled AssumeRole (Throttling) on all 3 attempts" in summary(result.stderr)[1][2]


def test_roles_are_assumed_in_parallel_up_to_the_limit(source_env: Dict[str, str]) -> None:
    roles = [f"arn:aws:iam::{n:012d}:role/Slow" for n in range(1, 7)]
    delayed = Reply(body=assume_role_ok().body, delay=0.6)
    with RoutingSts({}, delayed) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["--no-cache", "--parallel", "3", *each(*roles), "--", "true"], env=env)
    assert result.returncode == 0, result.stderr
    arrivals = sorted(sts.arrivals)
    assert len(arrivals) == 6
    assert arrivals[2] - arrivals[0] < 0.5  # three at once ...
    assert arrivals[3] - arrivals[0] >= 0.55  # ... and no fourth before one of them is answered


def test_shared_hops_are_assumed_once(source_env: Dict[str, str]) -> None:
    jump = "arn:aws:iam::999999999999:role/Jump"
    with RoutingSts({}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["--no-cache", "-r", jump, *each(*ROLES), "--", "true"], env=env)
    assert result.returncode == 0, result.stderr
    assert len(assumed(sts, jump)) == 1
    assert [len(assumed(sts, role)) for role in ROLES] == [1, 1, 1]


def test_mfa_code_is_used_once_for_an_mfa_session_then_every_role(source_env: Dict[str, str]) -> None:
    serial = "arn:aws:iam::123456789012:mfa/alice"
    with RoutingSts({"GetSessionToken": get_session_token_ok()}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["--no-cache", "--mfa-serial", serial, "--mfa-code", "123456", *each(*ROLES), "--", "true"],
                            env=env)
    assert result.returncode == 0, result.stderr
    sessions = [r for r in sts.requests if r.form.get("Action") == "GetSessionToken"]
    assert len(sessions) == 1 and sessions[0].form["TokenCode"] == "123456"
    for role in ROLES:
        (request,) = assumed(sts, role)
        assert "TokenCode" not in request.form and "SerialNumber" not in request.form
        assert "ASIAFAKEMFASESSION01" in request.authorization


# --- signals --------------------------------------------------------------------------------

WAITER = """
import os, signal, sys, time
open(os.path.join(sys.argv[1], os.environ["AWSRUN_ASSUMED_ROLE_ARN"].split("/")[1]), "w").close()
time.sleep(30)
"""


def test_sigterm_stops_every_run_and_prints_the_summary_so_far(source_env: Dict[str, str], tmp_path: Path) -> None:
    started = tmp_path / "started"
    started.mkdir()
    roles = [f"arn:aws:iam::{n:012d}:role/W{n}" for n in range(1, 6)]
    awsrun = subprocess.Popen(
        [sys.executable, "-m", "awsrun", "--no-cache", "--parallel", "2", *each(*roles), "--", *py(WAITER), str(started)],
        env={**os.environ, **source_env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(list(started.iterdir())) < 2:
            assert time.monotonic() < deadline and awsrun.poll() is None, awsrun.stderr.read() if awsrun.poll() else ""
            time.sleep(0.05)
        os.kill(awsrun.pid, signal.SIGTERM)
        _, stderr = awsrun.communicate(timeout=20)
    finally:
        if awsrun.poll() is None:
            awsrun.kill()
            awsrun.wait()
    assert awsrun.returncode == 143, stderr
    rows = summary(stderr)
    assert [row[0] for row in rows] == [f"W{n}@{n:012d}" for n in range(1, 6)]
    assert [row[2] for row in rows] == ["signal SIGTERM"] * 2 + ["not started"] * 3
    assert sorted(p.name for p in started.iterdir()) == ["W1", "W2"]


# Records each signal it gets in argv[1]/ROLE, says it is ready in argv[2]/ROLE, waits for a
# duplicate after the first, then exits 0.
TRAP = """
import os, signal, sys, time
role = os.environ["AWSRUN_ASSUMED_ROLE_ARN"].split("/")[1]
got = []

def on(signum, frame):
    with open(os.path.join(sys.argv[1], role), "a") as stream:
        stream.write(signal.Signals(signum).name + "\\n")
    got.append(signum)

for name in ("SIGTERM", "SIGINT"):
    signal.signal(getattr(signal, name), on)
open(os.path.join(sys.argv[2], role), "w").close()
deadline = time.monotonic() + 15
while not got and time.monotonic() < deadline:
    time.sleep(0.02)
time.sleep(0.4)
"""


@pytest.mark.parametrize("key, name, status", [("\x03", "SIGINT", 130), (None, "SIGTERM", 143)], ids=["ctrl-c", "kill-term"])
def test_on_a_terminal_each_run_gets_the_signal_exactly_once(
    key: str, name: str, status: int, source_env: Dict[str, str], tmp_path: Path,
) -> None:
    import io

    import pexpect

    record, ready = tmp_path / "signals", tmp_path / "ready"
    record.mkdir()
    ready.mkdir()
    roles = [DEPLOY, READONLY, AUDIT]
    awsrun = pexpect.spawn(
        sys.executable, ["-m", "awsrun", "--no-cache", "--parallel", "2", *each(*roles), "--", *py(TRAP), str(record), str(ready)],
        env={**os.environ, **source_env}, encoding="utf-8", timeout=30,
    )
    awsrun.logfile_read = io.StringIO()
    try:
        deadline = time.monotonic() + 30
        while len(list(ready.iterdir())) < 2:
            assert time.monotonic() < deadline, awsrun.logfile_read.getvalue()
            time.sleep(0.05)
        if key:
            awsrun.send(key)
        else:
            os.kill(awsrun.pid, signal.SIGTERM)
        awsrun.expect(pexpect.EOF)
    finally:
        awsrun.close(force=True)
    output = awsrun.logfile_read.getvalue()
    assert awsrun.exitstatus == status, output
    assert {p.name: p.read_text().split() for p in record.iterdir()} == {"Deploy": [name], "ReadOnly": [name]}
    assert re.search(r"Audit@333333333333 +-  not started", output), output


def test_when_nobody_reads_the_output_any_more_the_runs_end_as_they_would_in_a_pipe(source_env: Dict[str, str]) -> None:
    awsrun = subprocess.Popen([sys.executable, "-m", "awsrun", "--no-cache", *each(DEPLOY, READONLY), "--", "yes"],
                              env={**os.environ, **source_env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        assert awsrun.stdout.readline().endswith(b"] y\n")
        awsrun.stdout.close()
        _, stderr = awsrun.communicate(timeout=30)
    finally:
        if awsrun.poll() is None:
            awsrun.kill()
            awsrun.wait()
    assert awsrun.returncode == 123
    assert [row[2] for row in summary(stderr.decode())] == ["signal SIGPIPE"] * 2


def test_output_dir_gets_awsruns_reason_but_never_through_a_symlink(source_env: Dict[str, str], tmp_path: Path) -> None:
    out, victim = tmp_path / "logs", tmp_path / "victim"
    out.mkdir()
    victim.write_text("precious")
    (out / "Audit@333333333333.err").symlink_to(victim)
    denied = error("AccessDenied", 403, "no")
    with RoutingSts({READONLY: denied, AUDIT: denied}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["--no-cache", "--output-dir", str(out), *each(*ROLES), "--", "true"], env=env)
    assert result.returncode == 125
    assert victim.read_text() == "precious"
    assert (out / "ReadOnly@210987654321.err").read_text().startswith("awsrun: STS denied AssumeRole on " + READONLY)
    assert [row[2][:13] for row in summary(result.stderr)] == ["ok", "awsrun failed", "awsrun failed"]


@pytest.mark.parametrize("variable", ["AWSRUN_REPORT", "AWSRUN_OUTPUT_DIR"])
def test_a_dotenv_may_not_choose_where_awsrun_writes(variable: str, source_env: Dict[str, str], isolated: Path,
                                                     tmp_path: Path) -> None:
    target = tmp_path / "home" / ".bashrc"
    target.write_text("precious")
    (isolated / ".env").write_text(f"{variable}={target}\n")
    trust_env_file(isolated / ".env")
    result = run_awsrun(["--no-cache", *each(DEPLOY, READONLY), "--", "true"], env=source_env)
    assert result.returncode == 125
    assert f"{variable} in " in result.stderr and "may not choose where awsrun writes" in result.stderr
    assert target.read_text() == "precious" and summary(result.stderr) == []


def test_no_secret_reaches_the_terminal_or_the_report(source_env: Dict[str, str], tmp_path: Path) -> None:
    from tests.conftest import SOURCE_SECRET
    from tests.fake_sts import ISSUED_SECRET, ISSUED_TOKEN

    report = tmp_path / "r.json"
    with RoutingSts({READONLY: error("AccessDenied", 403, "no")}, assume_role_ok()) as sts:
        env = {**source_env, "AWS_ENDPOINT_URL_STS": sts.url}
        result = run_awsrun(["-v", "--no-cache", "--report", str(report), *each(*ROLES), "--", "false"], env=env)
    everything = result.stdout + result.stderr + report.read_text()
    assert result.returncode == 125 and "STS denied" in everything
    for secret in (SOURCE_SECRET, ISSUED_SECRET, ISSUED_TOKEN):
        assert secret not in everything


def test_verbose_explains_each_roles_hops(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["-v", "--no-cache", "-r", "999999999999:Jump", *each(DEPLOY, READONLY), "--", "true"],
                        env=source_env)
    assert result.returncode == 0, result.stderr
    explained = [line for line in result.stderr.splitlines() if re.match(r"awsrun: \S+@\d{12}: role ", line)]
    assert [line.split(": role ")[0] for line in explained] == [
        "awsrun: Deploy@123456789012", "awsrun: Deploy@123456789012", "awsrun: ReadOnly@210987654321"]
    assert "Jump (from --role)" in explained[0]
    assert f"{DEPLOY} (from --each-role)" in explained[1] and f"{READONLY} (from --each-role)" in explained[2]
