"""--expect: never hand the command a session that ends before it is expected to.

The parser as a table; then awsrun as a process: refusals before any STS call (fake STS
counting requests), the cache replacing a session with too little left, --refresh.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.config import validate
from awsrun.errors import InvalidValue
from tests.conftest import ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun
from tests.fake_sts import FakeSts, assume_role_issuing, assume_role_ok
from tests.test_profiles import JUMP, TARGET, assert_one_line_failure, child_cmd, write_aws


@pytest.mark.parametrize("text, seconds", [
    ("2700", 2700), ("45m", 2700), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("12h", 43200),
])
def test_expect_accepts_seconds_and_units(text: str, seconds: int) -> None:
    assert validate.expect(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "13h", "43201", "45x", "m", "1.5h", "-5m", "h1", "1d", "45M"])
def test_expect_refuses_other_text(text: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        validate.expect(text)
    assert repr(text) in str(caught.value) and "45m" in str(caught.value)


@pytest.fixture
def sts_env(tmp_path: Path) -> Dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET,
            "XDG_CACHE_HOME": str(tmp_path / "xdg")}


@pytest.mark.parametrize("argv, environ, words", [
    pytest.param(["-r", ROLE_ARN, "--expect", "2h"], {}, ["--expect 2h", "3600s", "--duration", "--refresh"],
                 id="longer-than-default-duration"),
    pytest.param(["-r", ROLE_ARN, "-d", "1800", "--expect", "45m"], {}, ["45m", "1800s", "from --duration", "2700"],
                 id="longer-than-given-duration"),
    pytest.param(["-r", ROLE_ARN], {"AWSRUN_EXPECT": "50m", "AWSRUN_DURATION": "900"}, ["50m", "$AWSRUN_EXPECT", "900s"],
                 id="from-the-environment"),
    pytest.param(["-r", JUMP, "-r", TARGET, "--expect", "61m"], {}, ["role 2 of 2", "3600s", "--refresh"],
                 id="chained-capped-at-an-hour"),
    pytest.param(["-p", "deploy", "--expect", "2h"], {}, ["role 2 of 2", "another role", "--refresh"],
                 id="profile-chain-capped-at-an-hour"),
    pytest.param(["-r", ROLE_ARN, "--export", "--expect", "2h"], {}, ["--expect 2h"], id="export-too"),
])
def test_a_session_too_short_is_refused_before_sts(sts_env: Dict[str, str], argv: List[str],
                                                    environ: Dict[str, str], words: List[str]) -> None:
    write_aws(f"[profile jump]\nrole_arn = {JUMP}\nsource_profile = base\n\n"
              f"[profile deploy]\nrole_arn = {TARGET}\nsource_profile = jump\n",
              f"[base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n")
    with FakeSts([assume_role_ok()]) as sts:
        tail = [] if "--export" in argv else child_cmd(0)
        result = run_awsrun([*argv, *tail], env={**sts_env, **environ, "AWS_ENDPOINT_URL_STS": sts.url})
    assert_one_line_failure(result, *words)
    assert sts.requests == []


def test_expect_within_the_duration_runs(sts_env: Dict[str, str]) -> None:
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "-d", "3600", "--expect", "45m", *child_cmd(0)],
                            env={**sts_env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert len(sts.requests) == 1


def test_refresh_satisfies_any_expect(sts_env: Dict[str, str]) -> None:
    result = run_awsrun(["--dry-run", "--refresh", "-r", JUMP, "-r", TARGET, "--expect", "6h", *child_cmd(0)],
                        env=sts_env)
    assert result.returncode == 0, result.stderr
    assert "would assume" in result.stdout


def test_cached_session_with_too_little_left_is_replaced(sts_env: Dict[str, str]) -> None:
    """STS first issues a 20-minute session: enough for --min-ttl's 15, not for --expect 30m."""
    argv = ["--cache", "-r", ROLE_ARN, "-d", "3600"]
    with FakeSts([assume_role_issuing(timedelta(minutes=20)), assume_role_ok(timedelta(hours=1))]) as sts:
        env = {**sts_env, "AWS_ENDPOINT_URL_STS": sts.url}
        first = run_awsrun([*argv, *child_cmd(0)], env=env)
        again = run_awsrun([*argv, *child_cmd(0)], env=env)
        assert len(sts.requests) == 1, again.stderr  # reused: 20 minutes > 15
        expecting = run_awsrun([*argv, "--expect", "30m", *child_cmd(0)], env=env)
        assert len(sts.requests) == 2, expecting.stderr  # replaced: 20 minutes < 30
    assert first.returncode == again.returncode == expecting.returncode == 0
    assert "reusing cached session" in again.stderr
    assert "reusing" not in expecting.stderr and "assumed " in expecting.stderr


def test_a_session_issued_shorter_than_expected_is_not_handed_over(sts_env: Dict[str, str]) -> None:
    with FakeSts([assume_role_ok(timedelta(minutes=20))]) as sts:
        result = run_awsrun(["--no-cache", "-r", ROLE_ARN, "--expect", "30m", *child_cmd(0)],
                            env={**sts_env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert_one_line_failure(result, "sooner than --expect 30m", "--refresh")
    assert len(sts.requests) == 1
