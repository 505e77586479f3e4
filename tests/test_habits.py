"""AWS CLI habits: durations as people write them, typos caught with a suggestion, role ARN
mistakes explained, -v naming .env."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest

from awsrun import validate
from awsrun.errors import InvalidValue
from tests.conftest import ROLE_ARN, run_awsrun

# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [("900", 900), ("3600", 3600), ("0003600", 3600), ("15m", 900), ("1h", 3600), ("90m", 5400),
     ("12h", 43200), ("1h30m", 5400), ("1h30m15s", 5415), ("3600s", 3600), ("2h0m", 7200), ("720m", 43200)],
)
def test_session_duration_accepts(value: str, seconds: int) -> None:
    assert validate.session_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["899", "14m", "12h1s", "13h", "", "h", "1.5h", "1H", "1d", "m15", "30m1h", "1h 30m", "-1h", "1e3",
              "1234567h", "15 m", "１５m"],
)
def test_session_duration_refuses_naming_the_forms(value: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        validate.session_duration(value)
    assert repr(value) in str(raised.value)
    assert "15m to 12h" in str(raised.value) and "1h30m" in str(raised.value)


@pytest.mark.parametrize("value, seconds", [("0", 0), ("600", 600), ("10m", 600), ("1h", 3600), ("12h", 43200)])
def test_min_ttl_accepts_durations(value: str, seconds: int) -> None:
    assert validate.min_ttl(value) == seconds


@pytest.mark.parametrize("value", ["12h1s", "-1", "ten", "1h-", ""])
def test_min_ttl_refuses(value: str) -> None:
    with pytest.raises(InvalidValue, match="0 to 12h"):
        validate.min_ttl(value)


def test_profile_duration_seconds_stays_seconds_only() -> None:
    # The AWS CLI reads duration_seconds as seconds; a profile must mean the same to both.
    with pytest.raises(InvalidValue):
        validate.duration("1h")


@pytest.mark.parametrize(
    "args, env, dotenv, shown",
    [
        (["-d", "15m"], {}, "", "for 900s"),
        (["--duration", "1h30m"], {}, "", "for 5400s"),
        ([], {"AWSRUN_DURATION": "12h"}, "", "for 43200s"),
        ([], {}, "AWSRUN_DURATION=90m\n", "for 5400s"),
        (["-d", "2700"], {}, "", "for 2700s"),
    ],
    ids=["flag-15m", "flag-1h30m", "env-12h", "dotenv-90m", "plain-seconds"],
)
def test_duration_forms_everywhere_a_duration_is_read(
    source_env: Dict[str, str], args: List[str], env: Dict[str, str], dotenv: str, shown: str
) -> None:
    if dotenv:
        Path(".env").write_text(dotenv)
    result = run_awsrun(["-r", ROLE_ARN, *args, "--dry-run", "--", "true"], env={**source_env, **env})
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout


def test_min_ttl_as_a_duration_on_the_command_line(source_env: Dict[str, str]) -> None:
    result = run_awsrun(["-r", ROLE_ARN, "--min-ttl", "10m", "-v", "--dry-run", "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr
    assert "min-ttl = 10m (from --min-ttl)" in result.stderr


def test_bad_duration_is_one_line_naming_the_forms() -> None:
    result = run_awsrun(["-r", ROLE_ARN, "-d", "1.5h", "--", "true"])
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1
    assert "invalid duration '1.5h'" in result.stderr and "15m" in result.stderr
