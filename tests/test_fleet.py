"""Fleets: --each-account against moto's Organizations, --shard, --max-failures, --rerun, and
STS throttling at fan-out, awsrun as a real process."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest

from tests.conftest import SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.fake_sts import FakeSts, Reply, Request, assume_role_ok, error

MANAGEMENT = "123456789012"  # moto's own account: the organization's management account
SUMMARY_ROW = re.compile(r"^awsrun:   (\S+)\s+(\S+)  (.*)$")
DRY_ROW = re.compile(r"^\[(\S+)\] account (\d{12}) \((.*)\): would assume (\S+)$")


class Org:
    """The organization moto holds: root > prod (a, tags env=prod team=web) > prod-eu (b, env=prod);
    root > c (no tags); root > gone (closed: not ACTIVE)."""

    def __init__(self, url: str) -> None:
        import botocore.session

        self.url = url
        org = botocore.session.Session().create_client(
            "organizations", region_name="us-east-1", endpoint_url=url,
            aws_access_key_id=SOURCE_KEY_ID, aws_secret_access_key=SOURCE_SECRET)
        org.create_organization(FeatureSet="ALL")
        self.root = org.list_roots()["Roots"][0]["Id"]
        self.prod = org.create_organizational_unit(ParentId=self.root, Name="prod")["OrganizationalUnit"]["Id"]
        self.prod_eu = org.create_organizational_unit(ParentId=self.prod, Name="prod-eu")["OrganizationalUnit"]["Id"]

        def account(name: str, parent: str, tags: Dict[str, str]) -> str:
            made = org.create_account(Email=f"{name}@example.com", AccountName=name,
                                      Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            number = made["CreateAccountStatus"]["AccountId"]
            if parent != self.root:
                org.move_account(AccountId=number, SourceParentId=self.root, DestinationParentId=parent)
            return number

        self.a = account("a", self.prod, {"env": "prod", "team": "web"})
        self.b = account("b", self.prod_eu, {"env": "prod"})
        self.c = account("c", self.root, {})
        gone = account("gone", self.root, {})
        org.close_account(AccountId=gone)
        self.gone = gone
        self.active = sorted([MANAGEMENT, self.a, self.b, self.c])


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    """moto's server of this module alone, holding one organization for every test here."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield Org(f"http://{host}:{port}")
    server.stop()


def org_env(org: Org) -> Dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
            "AWS_ENDPOINT_URL_STS": org.url, "AWS_ENDPOINT_URL_ORGANIZATIONS": org.url}


def dry_rows(stdout: str) -> List[List[str]]:
    return [list(match.groups()) for line in stdout.splitlines() if (match := DRY_ROW.match(line))]


def summary(stderr: str) -> List[List[str]]:
    return [list(match.groups()) for line in stderr.splitlines() if (match := SUMMARY_ROW.match(line))]


def py(code: str) -> List[str]:
    return [sys.executable, "-c", code]


# --- --each-account against moto's Organizations ----------------------------------------------


@pytest.mark.parametrize("filters, kept", [
    ([], "active"),
    (["--ou", "{prod}"], ["a", "b"]),  # nested OUs included
    (["--ou", "{prod_eu}"], ["b"]),
    (["--ou", "{root}"], "active"),
    (["--ou", "{prod_eu}", "--ou", "{root}"], "active"),
    (["--account-tag", "env=prod"], ["a", "b"]),
    (["--account-tag", "env=prod", "--account-tag", "team=web"], ["a"]),  # all must match
    (["--skip-account", "{a}", "--skip-account", "{c}"], ["management", "b"]),
    (["--ou", "{prod}", "--account-tag", "env=prod", "--skip-account", "{b}"], ["a"]),
])
def test_dry_run_lists_the_accounts_the_filters_keep(org: Org, filters: List[str], kept: object) -> None:
    names = {"management": MANAGEMENT, "a": org.a, "b": org.b, "c": org.c}
    args = [value.format(**vars(org)) for value in filters]
    result = run_awsrun(["--each-account", "--role-name", "ops/Deploy", *args, "--dry-run", "--", "true"],
                        env=org_env(org))
    assert result.returncode == 0, result.stderr
    want = org.active if kept == "active" else sorted(names[name] for name in kept)  # type: ignore[union-attr]
    rows = dry_rows(result.stdout)
    assert [row[1] for row in rows] == want  # ordered by account id; the closed account never
    assert all(row[0] == f"Deploy@{row[1]}" and row[3] == f"arn:aws:iam::{row[1]}:role/ops/Deploy" for row in rows)
    assert {row[1]: row[2] for row in rows}.get(org.a, "a") == "a"


@pytest.mark.parametrize("filters, words", [
    (["--ou", "{prod_eu}", "--skip-account", "{b}"], "--skip-account {b} emptied the account list"),
    (["--account-tag", "env=staging"], "--account-tag env=staging emptied the account list"),
    (["--ou", "{prod}", "--account-tag", "team=db"], "--account-tag team=db emptied"),
])
def test_a_filter_that_empties_the_list_is_named(org: Org, filters: List[str], words: str) -> None:
    args = [value.format(**vars(org)) for value in filters]
    result = run_awsrun(["--each-account", "--role-name", "Deploy", *args, "--", "true"], env=org_env(org))
    assert result.returncode == 125
    assert words.format(**vars(org)) in result.stderr and len(result.stderr.splitlines()) == 1


def test_each_account_runs_once_per_account_with_its_role(org: Org) -> None:
    code = "import os; print(os.environ['AWSRUN_ASSUMED_ROLE_ARN'].split(':')[4])"
    result = run_awsrun(["--no-cache", "--each-account", "--role-name", "Deploy", "--ou", org.prod, "--", *py(code)],
                        env=org_env(org))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"[Deploy@{n}] {n}" for n in (org.a, org.b))
    assert [row[0] for row in summary(result.stderr)] == [f"Deploy@{n}" for n in sorted((org.a, org.b))]


@pytest.mark.parametrize("jump, status, words", [
    (f"arn:aws:iam::{MANAGEMENT}:role/OrgReader", 0, ""),
    # moto answers for the account of the credentials: another account's organization is empty.
    ("arn:aws:iam::111111111111:role/OrgReader", 125, "the organization lists no ACTIVE account"),
])
def test_accounts_are_listed_with_the_session_of_role(org: Org, jump: str, status: int, words: str) -> None:
    result = run_awsrun(["--role", jump, "--each-account", "--role-name", "Deploy", "--dry-run", "--", "true"],
                        env=org_env(org))
    assert result.returncode == status, result.stderr
    assert words in result.stderr
    if status == 0:
        assert [row[1] for row in dry_rows(result.stdout)] == org.active


@pytest.mark.parametrize("args, words", [
    (["--each-account", "--", "true"], "--each-account needs --role-name NAME"),
    (["--each-account", "--role-name", "arn:aws:iam::123456789012:role/Deploy", "--", "true"],
     "invalid role-name 'arn:aws:iam::123456789012:role/Deploy'"),
    (["--each-account", "--role-name", "/Deploy", "--", "true"], "did you mean Deploy?"),
    (["--each-account", "--role-name", "De ploy", "--", "true"], "expected NAME or PATH/NAME"),
    (["--each-account", "--role-name", "D", "--ou", "prod", "--", "true"], "invalid ou 'prod'"),
    (["--each-account", "--role-name", "D", "--skip-account", "12345", "--", "true"], "12-digit account id"),
    (["--each-account", "--role-name", "D", "--account-tag", "env", "--", "true"], "invalid account-tag 'env'"),
    (["--role-name", "D", "--each-role", "123456789012:X", "--", "true"], "--role-name goes with --each-account"),
    (["--ou", "r-abcd", "--", "true"], "--ou goes with --each-account"),
    (["--each-account", "--role-name", "D", "--each-role", "123456789012:X", "--", "true"], "exclude each other"),
    (["--shard", "1/2", "--", "true"], "--shard goes with --each-role, --each-account or --rerun"),
    (["--each-account", "--role-name", "D", "--export"], "does not go with --export"),
])
def test_fleet_options_are_checked_locally(args: List[str], words: str) -> None:
    result = run_awsrun(args)  # no credentials, no endpoint: refused before any AWS call
    assert result.returncode == 125
    assert words in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


# --- --shard -----------------------------------------------------------------------------------

FLEET = [f"arn:aws:iam::{account:012d}:role/R{index}" for index, account in
         enumerate([9, 3, 7, 3, 1, 12, 5, 8, 2, 10, 4])]


def shard_labels(shard: str, env: Dict[str, str]) -> List[str]:
    roles = [arg for role in FLEET for arg in ("--each-role", role)]
    result = run_awsrun([*roles, "--shard", shard, "--dry-run", "--", "true"], env=env)
    assert result.returncode == 0, result.stderr
    return sorted({line[1:line.index("]")] for line in result.stdout.splitlines() if line.startswith("[")})


@pytest.mark.parametrize("count", [1, 3, 4, 11, 13])
def test_shards_are_disjoint_cover_every_role_and_are_stable(count: int, source_env: Dict[str, str]) -> None:
    shards = [shard_labels(f"{k}/{count}", source_env) for k in range(1, count + 1)]
    everyone = [label for shard in shards for label in shard]
    assert sorted(everyone) == sorted(f"R{i}@{a:012d}" for i, a in enumerate([9, 3, 7, 3, 1, 12, 5, 8, 2, 10, 4]))
    assert len(everyone) == len(set(everyone)) == len(FLEET)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shard_labels(f"1/{count}", source_env) == shards[0]  # the same on a rerun


def test_a_shard_past_the_roles_runs_nothing(source_env: Dict[str, str]) -> None:
    # Slice K holds [(K-1)*L//N, K*L//N): one role over two shards is in the second.
    result = run_awsrun(["--each-role", FLEET[0], "--shard", "1/2", "--", "false"], env=source_env)
    assert result.returncode == 0 and "shard 1/2 holds none of the 1 roles" in result.stderr


@pytest.mark.parametrize("value, words", [
    ("0/3", "K must be from 1 to N=3 (closest: 1/3"),
    ("4/3", "closest: 3/3"),
    ("3", "expected K/N"),
    ("1/0", "N must be from 1"),
    ("a/b", "expected K/N"),
])
def test_a_bad_shard_is_refused_in_one_line(value: str, words: str) -> None:
    result = run_awsrun(["--each-role", FLEET[0], "--shard", value, "--", "true"])
    assert result.returncode == 125 and f"invalid shard {value!r}" in result.stderr and words in result.stderr


# --- --max-failures and --rerun ------------------------------------------------------------------


def test_max_failures_starts_no_new_run(source_env: Dict[str, str], tmp_path: Path) -> None:
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    roles = [arg for role in FLEET[:5] for arg in ("--each-role", role)]
    args = ["--no-cache", "--parallel", "1", "--max-failures", "2", *roles, "--", "false"]
    result = run_awsrun([*args[:-2], "--report", str(report), "--", "false"], env=source_env)
    assert result.returncode == 123, result.stderr
    outcomes = [row[2] for row in summary(result.stderr)]
    assert outcomes == ["exit 1", "exit 1", "not started", "not started", "not started"]
    assert "--max-failures 2: 2 runs failed, the rest were not started" in result.stderr
    statuses = [item["status"] for item in json.loads(report.read_text())["results"]]
    assert statuses == [1, 1, None, None, None]
    assert run_awsrun([*args[:-2], "--report", str(junit), "--", "false"], env=source_env).returncode == 123
    assert ET.parse(junit).getroot().find("testsuite").get("skipped") == "3"  # type: ignore[union-attr]


def test_rerun_runs_again_only_what_did_not_end_ok(source_env: Dict[str, str], tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    code = "import os, sys; sys.exit(0 if 'R1' in os.environ['AWSRUN_ASSUMED_ROLE_ARN'] else 3)"
    roles = [arg for role in FLEET[:4] for arg in ("--each-role", role)]
    ran = run_awsrun(["--no-cache", *roles, "--report", str(first), "--", *py(code)], env=source_env)
    assert ran.returncode == 123
    again = run_awsrun(["--no-cache", "--rerun", str(first), "--report", str(second), "--", "true"], env=source_env)
    assert again.returncode == 0, again.stderr
    failed = [item["label"] for item in json.loads(first.read_text())["results"] if item["status"] != 0]
    assert [row[0] for row in summary(again.stderr)] == failed == ["R0@000000000009", "R2@000000000007", "R3@000000000003"]
    done = run_awsrun(["--rerun", str(second), "--", "true"], env=source_env)
    assert done.returncode == 125 and "every role ended ok; nothing to run again" in done.stderr


@pytest.mark.parametrize("content, words", [
    ("<testsuites/>", "not JSON"),
    ('{"results": []}', "not an awsrun JSON report"),
    ('{"exit_status": 1, "results": [{"label": "x"}]}', "not an awsrun JSON report"),
    ('{"exit_status": 1, "results": [{"label": "../../etc@123456789012", "role": "arn:aws:iam::123456789012:role/X", '
     '"status": 1}]}', "is not one awsrun makes"),
    ('{"exit_status": 1, "results": [{"label": "X@123456789012", "role": "nope", "status": 1}]}', "not a role ARN"),
])
def test_rerun_refuses_what_is_not_an_awsrun_report(content: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(content)
    result = run_awsrun(["--rerun", str(path), "--", "true"])
    assert result.returncode == 125 and words in result.stderr and len(result.stderr.splitlines()) == 1


def test_rerun_reads_through_the_bounded_reader() -> None:
    result = run_awsrun(["--rerun", "/dev/zero", "--", "true"])
    assert result.returncode == 125 and "not a regular file" in result.stderr


# --- throttling ----------------------------------------------------------------------------------


class PerRoleSts(FakeSts):
    """Answers each role with its own script (the last reply repeats), whatever order threads call in."""

    def __init__(self, script: List[Reply]) -> None:
        super().__init__(script)
        self.seen: Dict[str, int] = {}

    def _next_reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            role = request.form.get("RoleArn", "")
            self.seen[role] = self.seen.get(role, 0) + 1
            return self._script[min(self.seen[role] - 1, len(self._script) - 1)]  # type: ignore[return-value]


@pytest.mark.parametrize("script, outcome, attempts", [
    ([error("Throttling", 400, "Rate exceeded"), assume_role_ok()], "ok", 2),
    ([error("Throttling", 400, "Rate exceeded")], "awsrun failed (125): STS throttled AssumeRole (Throttling) on all 3 attempts; wait and run again", 3),
])
def test_a_throttled_role_is_retried_then_reported(script: List[Reply], outcome: str, attempts: int,
                                                   source_env: Dict[str, str]) -> None:
    roles = [arg for role in FLEET[:3] for arg in ("--each-role", role)]
    with PerRoleSts(script) as sts:
        result = run_awsrun(["--no-cache", *roles, "--", "true"], env={**source_env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert {row[2] for row in summary(result.stderr)} == {outcome}, result.stderr
    assert set(sts.seen.values()) == {attempts}


def test_never_more_sts_calls_in_flight_than_parallel(source_env: Dict[str, str]) -> None:
    from tests.fake_sts import slow

    roles = [arg for index in range(12) for arg in ("--each-role", f"arn:aws:iam::{index + 1:012d}:role/R")]
    with FakeSts([slow(0.2, assume_role_ok())]) as sts:
        result = run_awsrun(["--no-cache", "--parallel", "3", *roles, "--", "true"],
                            env={**source_env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert sts.most_in_flight == 3


def test_organizations_throttling_is_retried(source_env: Dict[str, str]) -> None:
    """Organizations speaks JSON: a TooManyRequestsException, then the accounts."""
    throttled = Reply(status=400, body=json.dumps({"__type": "TooManyRequestsException", "Message": "slow down"}))
    listing = Reply(body=json.dumps({"Accounts": [
        {"Id": "222222222222", "Name": "two", "Status": "ACTIVE"},
        {"Id": "111111111111", "Name": "one", "Status": "ACTIVE"},
        {"Id": "333333333333", "Name": "three", "Status": "SUSPENDED"}]}))
    with FakeSts([throttled, listing]) as org:
        result = run_awsrun(["--each-account", "--role-name", "R", "--dry-run", "--", "true"],
                            env={**source_env, "AWS_ENDPOINT_URL_ORGANIZATIONS": org.url})
    assert result.returncode == 0, result.stderr
    assert [row[:3] for row in dry_rows(result.stdout)] == [["R@111111111111", "111111111111", "one"],
                                                         ["R@222222222222", "222222222222", "two"]]
    assert [request.headers.get("x-amz-target") for request in org.requests] == ["AWSOrganizationsV20161128.ListAccounts"] * 2


def test_accounts_are_listed_page_by_page(source_env: Dict[str, str]) -> None:
    first = Reply(body=json.dumps({"Accounts": [{"Id": "111111111111", "Name": "one", "Status": "ACTIVE"}],
                                   "NextToken": "page-2"}))
    second = Reply(body=json.dumps({"Accounts": [{"Id": "222222222222", "Name": "two", "Status": "ACTIVE"}]}))
    with FakeSts([first, second]) as org:
        result = run_awsrun(["--each-account", "--role-name", "R", "--dry-run", "--", "true"],
                            env={**source_env, "AWS_ENDPOINT_URL_ORGANIZATIONS": org.url})
    assert result.returncode == 0, result.stderr
    assert [row[1] for row in dry_rows(result.stdout)] == ["111111111111", "222222222222"]
    assert len(org.requests) == 2  # the second asked for page-2


@pytest.mark.parametrize("account, status", [(MANAGEMENT, 0), ("111111111111", 125)])
def test_a_profiles_role_is_the_session_that_lists(org: Org, account: str, status: int, isolated: Path) -> None:
    home = Path(isolated).parent / "home" / ".aws"
    (home / "credentials").write_text(f"[src]\naws_access_key_id = {SOURCE_KEY_ID}\n"
                                      f"aws_secret_access_key = {SOURCE_SECRET}\n")
    (home / "config").write_text(f"[profile mgmt]\nrole_arn = arn:aws:iam::{account}:role/OrgReader\n"
                                 "source_profile = src\nregion = us-east-1\n")
    env = {"AWS_ENDPOINT_URL_STS": org.url, "AWS_ENDPOINT_URL_ORGANIZATIONS": org.url}
    result = run_awsrun(["-p", "mgmt", "--each-account", "--role-name", "Deploy", "--dry-run", "--", "true"], env=env)
    assert result.returncode == status, result.stderr
    if status:  # moto answers for the account of the credentials: the profile's role's account
        assert "the organization lists no ACTIVE account" in result.stderr
    else:
        assert [row[1] for row in dry_rows(result.stdout)] == org.active


def test_a_dotenv_file_may_not_choose_what_runs_again(tmp_path: Path) -> None:
    from tests.conftest import trust_env_file

    Path(".env").write_text(f"AWSRUN_RERUN={tmp_path / 'r.json'}\n")
    trust_env_file()
    result = run_awsrun(["--", "true"])
    assert result.returncode == 125 and "a .env file may not choose which roles run again; pass --rerun" in result.stderr
