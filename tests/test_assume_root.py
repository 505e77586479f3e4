"""--assume-root ACCOUNT --task-policy NAME: a root session in a member account for one task.

moto has no AssumeRoot: awsrun runs as a process against tests/fake_sts.py, which answers
AssumeRoot (Credentials, SourceIdentity, no AssumedRoleUser) and records what botocore sent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import pytest

from awsrun.errors import ExitStatus
from tests.conftest import CHILD, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun
from tests.fake_sts import (
    ISSUED_KEY_ID,
    ROOT_KEY_ID,
    ROOT_SECRET,
    ROOT_TOKEN,
    FakeSts,
    Reply,
    assume_role_ok,
    assume_root_ok,
    error,
)

MEMBER = "111122223333"
TASK = "S3UnlockBucketPolicy"
TASK_ARN = f"arn:aws:iam::aws:policy/root-task/{TASK}"
ROOT = ["--assume-root", MEMBER, "--task-policy", TASK]
SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}


def awsrun_at(sts: FakeSts, *args: str, env: Dict[str, str] = {}) -> object:
    return run_awsrun([*args], env={**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url, **env})


def one_line_failure(result: object, *words: str) -> str:
    assert result.returncode == ExitStatus.FAILURE, result.stderr  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, result.stderr  # type: ignore[attr-defined]
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in lines[0]
    return lines[0]


def test_the_command_gets_the_root_session_and_no_source_keys(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_root_ok(source_identity="admin")])
    result = awsrun_at(sts, *ROOT, "--", sys.executable, str(CHILD))
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    env = child_report(result.stdout)["env"]  # type: ignore[attr-defined]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]) == (ROOT_KEY_ID, ROOT_SECRET, ROOT_TOKEN)
    assert SOURCE_SECRET not in json.dumps(env) and SOURCE_KEY_ID not in json.dumps(env)
    assert env["AWSRUN_ASSUMED_ROLE_ARN"] == f"arn:aws:iam::{MEMBER}:root"
    assert env["AWS_ACCOUNT_ID"] == MEMBER  # the member account, for account-based endpoints
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"  # exec mode's neutral files, as for a role
    assert f"assumed arn:aws:iam::{MEMBER}:root for {TASK}" in result.stderr  # type: ignore[attr-defined]
    (request,) = sts.requests
    assert request.form == {"Action": "AssumeRoot", "Version": "2011-06-15", "TargetPrincipal": MEMBER,
                            "TaskPolicyArn.arn": TASK_ARN, "DurationSeconds": "900"}
    assert f"Credential={SOURCE_KEY_ID}/" in request.authorization
    assert "/us-east-1/sts/" in request.authorization  # signed for the region's endpoint


JUMP_PROFILE = """[profile mgmt]
role_arn = arn:aws:iam::123456789012:role/OrgRootAccess
source_profile = keys
[profile keys]
"""


@pytest.mark.parametrize("jump, config", [
    pytest.param(["--role", "123456789012:OrgRootAccess"], "", id="role"),
    pytest.param(["-p", "mgmt"], JUMP_PROFILE, id="profile"),
    pytest.param(["-p", "mgmt", "--tag", "team=ops"], JUMP_PROFILE, id="profile-with-a-tag-for-its-role"),
])
def test_a_role_jump_runs_first_and_assume_root_is_signed_with_its_session(
    fake_sts: Callable[[Sequence[Reply]], FakeSts], isolated: Path, jump: List[str], config: str
) -> None:
    if config:
        home = Path(isolated).parent / "home" / ".aws"
        (home / "config").write_text(config)
        (home / "credentials").write_text(f"[keys]\naws_access_key_id = {SOURCE_KEY_ID}\n"
                                          f"aws_secret_access_key = {SOURCE_SECRET}\n")
    sts = fake_sts([assume_role_ok(), assume_root_ok()])
    result = run_awsrun([*jump, *ROOT, "--", sys.executable, str(CHILD)],
                        env={"AWS_ENDPOINT_URL_STS": sts.url, **({} if config else SOURCE)})
    assert result.returncode == 0, result.stderr
    assert child_report(result.stdout)["env"]["AWS_ACCESS_KEY_ID"] == ROOT_KEY_ID
    first, second = sts.requests
    assert (first.form["Action"], first.form["RoleArn"]) == ("AssumeRole", "arn:aws:iam::123456789012:role/OrgRootAccess")
    assert f"Credential={SOURCE_KEY_ID}/" in first.authorization
    assert second.form["Action"] == "AssumeRoot"
    assert f"Credential={ISSUED_KEY_ID}/" in second.authorization  # the jump's session, not the source


def test_a_cached_root_session_is_reused_and_keyed_by_task_policy(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_root_ok()])
    first = awsrun_at(sts, *ROOT, "--", sys.executable, str(CHILD))
    again = awsrun_at(sts, *ROOT, "--", sys.executable, str(CHILD))
    assert first.returncode == again.returncode == 0, again.stderr  # type: ignore[attr-defined]
    assert child_report(again.stdout)["env"]["AWS_ACCESS_KEY_ID"] == ROOT_KEY_ID  # type: ignore[attr-defined]
    assert "reusing cached session" in again.stderr  # type: ignore[attr-defined]
    assert len(sts.requests) == 1
    other = awsrun_at(sts, "--assume-root", MEMBER, "--task-policy", "SQSUnlockQueuePolicy",
                      "--", sys.executable, str(CHILD))
    assert other.returncode == 0 and len(sts.requests) == 2  # type: ignore[attr-defined]
    assert sts.requests[1].form["TaskPolicyArn.arn"] == "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy"


def test_output_modes_deliver_the_root_session(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_root_ok()])
    process = awsrun_at(sts, *ROOT, "--credential-process", "--no-cache")
    assert process.returncode == 0, process.stderr  # type: ignore[attr-defined]
    document = json.loads(process.stdout)  # type: ignore[attr-defined]
    assert (document["AccessKeyId"], document["SecretAccessKey"]) == (ROOT_KEY_ID, ROOT_SECRET)
    export = awsrun_at(sts, *ROOT, "--export", "--no-cache")
    assert export.returncode == 0, export.stderr  # type: ignore[attr-defined]
    assert f"AWS_ACCESS_KEY_ID={ROOT_KEY_ID}" in export.stdout.replace("'", "")  # type: ignore[attr-defined]
    assert [request.form["Action"] for request in sts.requests] == ["AssumeRoot", "AssumeRoot"]


def test_dry_run_says_what_it_would_assume_and_calls_nothing(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_root_ok()])
    result = awsrun_at(sts, *ROOT, "--region", "eu-west-1", "--dry-run", "--", "aws", "s3api", "delete-bucket-policy")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert f"would assume root in {MEMBER} for {TASK_ARN} for 900s in eu-west-1" in result.stdout  # type: ignore[attr-defined]
    assert f"set AWSRUN_ASSUMED_ROLE_ARN=arn:aws:iam::{MEMBER}:root" in result.stdout  # type: ignore[attr-defined]
    assert sts.requests == []


def test_the_task_policy_follows_the_partition_of_the_region(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_root_ok()])
    result = awsrun_at(sts, *ROOT, "--region", "us-gov-west-1", "--no-cache", "--", sys.executable, str(CHILD))
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert sts.requests[0].form["TaskPolicyArn.arn"] == f"arn:aws-us-gov:iam::aws:policy/root-task/{TASK}"
    assert child_report(result.stdout)["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == f"arn:aws-us-gov:iam::{MEMBER}:root"  # type: ignore[attr-defined]


# (options, extra environment, words the one line must hold): all refused before any request
LOCAL_REFUSALS = [
    pytest.param([*ROOT, "--duration", "1800"], {}, ["1800", "900s", "AssumeRoot"], id="duration-over-900"),
    pytest.param(["--assume-root", "11112222333", "--task-policy", TASK], {}, ["11112222333", "12-digit"], id="short-account"),
    pytest.param(["--assume-root", "1111-2222-3333", "--task-policy", TASK], {}, ["12-digit"], id="dashed-account"),
    pytest.param(["--assume-root", MEMBER, "--task-policy", "S3UnlockBuckettPolicy"], {},
                 ["S3UnlockBuckettPolicy", "did you mean S3UnlockBucketPolicy?"], id="task-policy-typo"),
    pytest.param(["--assume-root", MEMBER, "--task-policy", "arn:aws:iam::aws:policy/AdministratorAccess"], {},
                 ["root-task/NAME"], id="not-a-root-task-arn"),
    pytest.param(["--assume-root", MEMBER, "--task-policy", f"arn:aws-cn:iam::aws:policy/root-task/{TASK}"], {},
                 ["partition aws", "us-east-1"], id="task-arn-of-another-partition"),
    pytest.param(["--task-policy", TASK], {}, ["--task-policy needs --assume-root"], id="task-policy-alone"),
    pytest.param(["--assume-root", MEMBER], {}, ["--assume-root needs --task-policy"], id="assume-root-alone"),
    pytest.param([*ROOT, "--each-role", "123456789012:Audit"], {}, ["--each-role"], id="with-each-role"),
    pytest.param([*ROOT, "--each-account", "--role-name", "Audit"], {}, ["--each-account"], id="with-each-account"),
    pytest.param([*ROOT, "--expect", "1h"], {}, ["--expect", "900s root session"], id="expect-longer"),
    # Without a role before AssumeRoot, the options of AssumeRole would silently go nowhere.
    pytest.param([*ROOT, "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"], {},
                 ["--policy-arn shapes the role sessions", "assumes no role", "drop it or add --role"], id="policy-arn-no-role"),
    pytest.param([*ROOT, "--tag", "team=ops"], {"AWSRUN_SOURCE_IDENTITY": "alice"},
                 ["--tag, --source-identity shape", "drop them"], id="tag-and-source-identity-no-role"),
    pytest.param(ROOT, {"AWS_ENDPOINT_URL_STS": "https://sts.amazonaws.com"},
                 ["regional", "https://sts.amazonaws.com", "global"], id="global-endpoint"),
    pytest.param([*ROOT, "--region", "eu-west-1"], {"AWS_ENDPOINT_URL_STS": "", "AWS_ENDPOINT_URL": "https://sts.amazonaws.com"},
                 ["regional", "https://sts.eu-west-1.amazonaws.com"], id="global-endpoint-for-all-services"),
]


@pytest.mark.parametrize("options, env, words", LOCAL_REFUSALS)
def test_refused_locally_in_one_line(fake_sts: Callable[[Sequence[Reply]], FakeSts], options: List[str],
                                     env: Dict[str, str], words: List[str]) -> None:
    sts = fake_sts([assume_root_ok()])
    result = awsrun_at(sts, *options, "--", sys.executable, str(CHILD), env=env)
    one_line_failure(result, *words)
    assert sts.requests == []  # and the network guard saw nothing leave 127.0.0.1


NOT_MANAGEMENT = ("User: arn:aws:sts::444455556666:assumed-role/Admin/me is not authorized to perform: "
                  "sts:AssumeRoot on resource: arn:aws:iam::111122223333:root")
# (STS's answer, words the one line must hold)
STS_FAILURES = [
    pytest.param(error("AccessDenied", 403, NOT_MANAGEMENT),
                 ["AccessDenied", MEMBER, TASK, "management account", "delegated administrator"], id="not-management-account"),
    pytest.param(error("AccessDenied", 403, "no identity-based policy allows the sts:AssumeRoot action "
                                            "with sts:TaskPolicyArn " + TASK_ARN),
                 ["AccessDenied", "sts:TaskPolicyArn", "sts:AssumeRoot allowed for this task policy"], id="task-policy-not-allowed"),
    pytest.param(error("RegionDisabledException", 403, "STS is not activated in this region"),
                 ["not activated", "us-east-1"], id="region-disabled"),
    pytest.param(error("InvalidParameterValue", 400, "Root sessions are not enabled for the organization"),
                 ["AssumeRoot", "InvalidParameterValue", "Root sessions are not enabled"], id="other-error"),
]


@pytest.mark.parametrize("reply, words", STS_FAILURES)
def test_sts_refusals_are_one_line_and_125(fake_sts: Callable[[Sequence[Reply]], FakeSts], reply: Reply,
                                            words: List[str]) -> None:
    sts = fake_sts([reply])
    result = awsrun_at(sts, *ROOT, "--", sys.executable, str(CHILD))
    line = one_line_failure(result, *words)
    assert SOURCE_SECRET not in line
    assert result.stdout == ""  # type: ignore[attr-defined]


# --- in process: which endpoint botocore picks for AssumeRoot (no request is made) ----------


@pytest.mark.parametrize("setting", ["legacy", "regional"])
def test_the_sts_client_is_regional_even_where_the_config_asks_for_legacy_global(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    from awsrun.session.source import Source
    from awsrun.session.sts import global_endpoint

    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", setting)
    client = Source(SOURCE).client("us-east-1", 1, 1)
    assert client.meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"
    assert not global_endpoint(client.meta.endpoint_url)
    assert hasattr(client, "assume_root")  # the repo's STS loader keeps the whole model


@pytest.mark.parametrize("url, is_global", [
    ("https://sts.amazonaws.com", True),
    ("https://STS.amazonaws.com./", True),
    ("https://sts-fips.amazonaws.com", True),
    ("https://sts.us-east-1.amazonaws.com", False),
    ("https://sts.cn-north-1.amazonaws.com.cn", False),
    ("http://127.0.0.1:8080", False),
])
def test_global_endpoint(url: str, is_global: bool) -> None:
    from awsrun.session.sts import global_endpoint

    assert global_endpoint(url) is is_global


# The command of a --refresh run: asks its credential endpoint once, prints what it served.
ASK_ENDPOINT = """
import json, os, urllib.request
request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                 headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(request, timeout=5) as answer:
    document = json.load(answer)
print(json.dumps({"key": document["AccessKeyId"], "arn": document.get("RoleArn"),
                  "env_key": os.environ.get("AWS_ACCESS_KEY_ID")}))
"""


def test_refresh_serves_the_root_session_from_its_endpoint(fake_sts: Callable[[Sequence[Reply]], FakeSts]) -> None:
    sts = fake_sts([assume_root_ok()])
    result = awsrun_at(sts, *ROOT, "--refresh", "--no-cache", "--", sys.executable, "-c", ASK_ENDPOINT)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    served = json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]
    assert served == {"key": ROOT_KEY_ID, "arn": f"arn:aws:iam::{MEMBER}:root", "env_key": None}
    assert [request.form["Action"] for request in sts.requests] == ["AssumeRoot"]
