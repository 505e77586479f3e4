"""The role's account id (issue 19, part 1): what a command's SDK resolves, and never a stale one.

A botocore child run by awsrun (exec mode, --each-role, --refresh) against moto, whose AssumeRole
names the session in the account of the role asked for; the neutral config copy; --export and
--unset evaluated by bash; the credential_process JSON read by botocore itself.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.deliver import neutral
from tests.conftest import run_awsrun

ACCOUNT = "111122223333"
OTHER = "444455556666"
STALE = "999999999999"  # the shell's AWS_ACCOUNT_ID, and the config's aws_account_id: another account's
ROLE = f"arn:aws:iam::{ACCOUNT}:role/X"
OTHER_ROLE = f"arn:aws:iam::{OTHER}:role/path/Y"

# A botocore program: the account id its resolved credentials carry, the DynamoDB endpoint it
# would call (account-based: the request is stopped before it is sent), and what it was given.
PROBE = """
import json, os
import botocore.session

class Sent(Exception):
    pass

def stop(request, **kwargs):
    raise Sent(request.url)

session = botocore.session.Session()
credentials = session.get_credentials()
client = session.create_client("dynamodb", region_name="us-east-1")
client.meta.events.register("before-send", stop)
try:
    client.list_tables()
except Sent as sent:
    url = str(sent)
config_file = os.environ.get("AWS_CONFIG_FILE", "")
served = None
if "AWS_CONTAINER_CREDENTIALS_FULL_URI" in os.environ:  # --refresh: what the endpoint answers
    import urllib.request
    request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                     headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as answer:
        served = json.load(answer)
print(json.dumps({
    "method": credentials.method,
    "account_id": credentials.get_frozen_credentials().account_id,
    "AWS_ACCOUNT_ID": os.environ.get("AWS_ACCOUNT_ID"),
    "role": os.environ.get("AWSRUN_ASSUMED_ROLE_ARN"),
    "dynamodb": url,
    "config": open(config_file).read() if os.path.isfile(config_file) else None,
    "served": {"AccountId": served.get("AccountId"), "RoleArn": served.get("RoleArn")} if served else None,
}))
"""
CONFIG = f"""[default]
region = us-east-1
aws_account_id = {STALE}
account_id_endpoint_mode = required
"""


def probes(stdout: str) -> List[dict]:
    """Each probe's JSON line (--each-role may prefix them with the role's label)."""
    return [json.loads(line[line.index("{"):]) for line in stdout.splitlines() if "{" in line]


@pytest.fixture
def probe(tmp_path: Path) -> str:
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG)
    return str(path)


def expect_role_account(report: dict, account: str) -> None:
    assert report["account_id"] == report["AWS_ACCOUNT_ID"] == account
    assert report["role"].startswith(f"arn:aws:sts::{account}:assumed-role/")
    assert report["dynamodb"].startswith(f"https://{account}.ddb.us-east-1.amazonaws.com")
    # The command's config keeps the endpoint mode, and has no account of its own.
    assert "account_id_endpoint_mode = required" in report["config"]
    assert "aws_account_id" not in report["config"] and STALE not in report["config"]


@pytest.mark.parametrize("mode, method", [([], "env"), (["--refresh"], "container-role")], ids=["exec", "refresh"])
def test_the_command_resolves_the_roles_account_never_the_inherited_one(
        mode: List[str], method: str, probe: str, source_env: Dict[str, str]) -> None:
    env = {**source_env, "AWS_ACCOUNT_ID": STALE}
    result = run_awsrun([*mode, "--no-cache", "-r", ROLE, "--", sys.executable, probe], env=env)
    assert result.returncode == 0, result.stderr
    [report] = probes(result.stdout)
    assert report["method"] == method
    expect_role_account(report, ACCOUNT)
    if mode:  # the endpoint's own answer names the account, as the container-credentials protocol has it
        assert report["served"] == {"AccountId": ACCOUNT, "RoleArn": report["role"]}


def test_a_cache_hit_gives_the_same_account(probe: str, source_env: Dict[str, str]) -> None:
    env = {**source_env, "AWS_ACCOUNT_ID": STALE}
    for _ in range(2):  # the second run reads the session from the cache, without STS
        result = run_awsrun(["-r", ROLE, "--", sys.executable, probe], env=env)
        assert result.returncode == 0, result.stderr
        [report] = probes(result.stdout)
        expect_role_account(report, ACCOUNT)


def test_each_role_gives_each_command_its_own_roles_account(probe: str, source_env: Dict[str, str]) -> None:
    env = {**source_env, "AWS_ACCOUNT_ID": STALE}
    result = run_awsrun(["--no-cache", "--each-role", ROLE, "--each-role", OTHER_ROLE, "--",
                         sys.executable, probe], env=env)
    assert result.returncode == 0, result.stderr
    reports = sorted(probes(result.stdout), key=lambda report: report["account_id"])
    assert len(reports) == 2
    expect_role_account(reports[0], ACCOUNT)
    expect_role_account(reports[1], OTHER)


def test_dry_run_shows_the_roles_account_replacing_the_inherited_one(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["--dry-run", "--no-cache", "-r", OTHER_ROLE, "--", "true"],
                        env={**source_env, "AWS_ACCOUNT_ID": STALE})
    assert result.returncode == 0, result.stderr
    assert f"set AWS_ACCOUNT_ID={OTHER}" in result.stdout.splitlines()
    assert f"arn:aws:sts::{OTHER}:assumed-role/Y/" in result.stdout
    assert STALE not in result.stdout


# --- the neutral config copy --------------------------------------------------------------------

NEUTRAL = [
    # profile awsrun ran as, config -> the copy
    (None, f"[default]\naws_account_id = {STALE}\naccount_id_endpoint_mode = preferred\nregion = eu-west-1\n",
     "[default]\naccount_id_endpoint_mode = preferred\nregion = eu-west-1\n"),
    ("work", f"[default]\naws_account_id = {STALE}\n[profile work]\naws_account_id = {OTHER}\n"
             "account_id_endpoint_mode = required\n",
     "[default]\naccount_id_endpoint_mode = required\n\n[profile work]\naccount_id_endpoint_mode = required\n"),
    ("work", f"[profile work]\nrole_arn = {ROLE}\naws_account_id = {ACCOUNT}\n[profile other]\n"
             f"aws_account_id = {OTHER}\naccount_id_endpoint_mode = disabled\n",
     "[default]\n\n[profile work]\n\n[profile other]\naccount_id_endpoint_mode = disabled\n"),
]


@pytest.mark.parametrize("profile, config, copy", NEUTRAL)
def test_the_neutral_copy_keeps_the_endpoint_mode_and_never_an_account_id(profile: str, config: str,
                                                                          copy: str) -> None:
    assert neutral.neutral_text(config.encode(), profile) == copy


# --- --export and --unset, evaluated by bash --------------------------------------------------------

ROUND_TRIP = (
    'awsrun() { "$PY" -m awsrun "$@"; }\n'
    'eval "$(awsrun -r "$ROLE" --region us-east-1 --no-cache --export)" || exit 97\n'
    'echo "exported=${AWS_ACCOUNT_ID-<unset>}"\n'
    'eval "$(awsrun --unset)" || exit 98\n'
    'echo "after=${AWS_ACCOUNT_ID-<unset>}"\n'
)


@pytest.mark.parametrize("before", [{"AWS_ACCOUNT_ID": STALE}, {}], ids=["stale", "none"])
def test_export_sets_the_roles_account_and_unset_gives_back_the_shells(
        before: Dict[str, str], source_env: Dict[str, str]) -> None:
    env = {**os.environ, **source_env, **before, "PY": sys.executable, "ROLE": ROLE}
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", ROUND_TRIP], env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"exported={ACCOUNT}", f"after={before.get('AWS_ACCOUNT_ID', '<unset>')}"]


# --- credential_process ------------------------------------------------------------------------------

CONSUMER = """
import json, botocore.session
credentials = botocore.session.Session(profile="via-awsrun").get_credentials()
print(json.dumps({"method": credentials.method, "account_id": credentials.get_frozen_credentials().account_id}))
"""


def test_credential_process_gives_botocore_the_roles_account(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["-r", ROLE, "--no-cache", "--credential-process"], env=source_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccountId"] == ACCOUNT
    # An SDK's own credential_process reading it, beside a profile account id it must not take.
    command = shlex.join([sys.executable, "-m", "awsrun", "-r", ROLE, "--no-cache", "--credential-process"])
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile via-awsrun]\ncredential_process = {command}\naws_account_id = {STALE}\n")
    consumer = subprocess.run([sys.executable, "-c", CONSUMER], env={**os.environ, **source_env},
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert consumer.returncode == 0, consumer.stderr
    assert json.loads(consumer.stdout) == {"method": "custom-process", "account_id": ACCOUNT}
