"""--export and --unset write only shell variable names: a name from the environment is anyone's
text, and ``eval`` of a name like ``AWS_BEARER_TOKEN_X;touch${IFS}pwned;#`` would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.deliver import output
from awsrun.credentials import Credentials
from tests.conftest import ROLE_ARN, run_awsrun

HOSTILE = [
    "AWS_BEARER_TOKEN_X;touch${IFS}pwned;#",
    "AWS_BEARER_TOKEN_X$(touch pwned)",
    "AWS_BEARER_TOKEN_X`touch pwned`",
    "AWS_BEARER_TOKEN_X\ntouch pwned",
    "AWS_BEARER_TOKEN_X touch pwned",
    "AWS_BEARER_TOKEN_X'; touch pwned; '",
    "AWS_BEARER_TOKEN_X|touch pwned",
    "AWS_BEARER_TOKEN_XÄ",
]
GOOD = "AWS_BEARER_TOKEN_BEDROCK"
CREDENTIALS = Credentials("ASIAEXAMPLEEXAMPLE01", "s" * 40, "t" * 60,
                          datetime(2031, 1, 1, tzinfo=timezone.utc), "arn:aws:sts::123456789012:assumed-role/R/s")


def _names_in(text: str) -> List[str]:
    return [line for line in text.splitlines() if "pwned" in line or "Ä" in line]


@pytest.mark.parametrize("fmt", sorted(output.FORMATS))
@pytest.mark.parametrize("name", HOSTILE)
def test_no_format_writes_a_name_that_is_not_a_shell_name(fmt: str, name: str) -> None:
    text = output.export_lines(CREDENTIALS, "us-east-1", fmt, {name: "x", GOOD: "y"})
    assert _names_in(text) == []
    if output.FORMATS[fmt][1] is not None:  # the formats that can unset still unset a good name
        assert output.FORMATS[fmt][1](GOOD) in text.splitlines()
        assert _names_in(output.unset_lines(fmt)) == []


@pytest.mark.parametrize("names, kept", [
    (["A", "_a1", "a_B_9", "1A", "A-B", "A.B", "", "AÄ", "A\n", "A;B", "A B", "é"], ["A", "_a1", "a_B_9"]),
])
def test_shell_names(names: List[str], kept: List[str]) -> None:
    assert output.shell_names(names) == kept


SHELLS = [
    pytest.param("sh", ["bash", "-c", 'eval "$(cat export.txt)"'], id="bash"),
    pytest.param("sh", ["sh", "-c", 'eval "$(cat export.txt)"'], id="sh"),
    pytest.param("sh", ["bash", "-c", ". ./export.txt"], id="bash-source"),
    pytest.param("fish", ["fish", "--no-config", "-c", "source export.txt"], id="fish",
                 marks=pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")),
    pytest.param("powershell", ["pwsh", "-NoProfile", "-Command", ". ./export.txt"], id="powershell",
                 marks=pytest.mark.skipif(shutil.which("pwsh") is None, reason="pwsh is not installed")),
]


@pytest.mark.parametrize("fmt, shell", SHELLS)
def test_an_evaluated_export_runs_no_name_from_the_environment(fmt: str, shell: List[str], source_env: Dict[str, str],
                                                               tmp_path: Path) -> None:
    env = {**source_env, **{name: "x" for name in HOSTILE if "\n" not in name}, GOOD: "y"}
    for args in (["-r", ROLE_ARN, "--no-cache", "--export", "--format", fmt], ["--unset", "--format", fmt]):
        result = run_awsrun(args, env=env)
        assert result.returncode == 0, result.stderr
        (tmp_path / "export.txt").write_text(result.stdout + "\n")
        evaluated = subprocess.run(shell, cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True,
                                   timeout=30, stdin=subprocess.DEVNULL)
        assert not (tmp_path / "pwned").exists(), result.stdout
        assert evaluated.returncode == 0, evaluated.stderr
        if "--export" in args:
            assert output.FORMATS[fmt][1](GOOD) in result.stdout.splitlines()
