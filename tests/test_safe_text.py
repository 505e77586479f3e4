"""Text from outside is printed inert: no control reaches the terminal, one message stays
one line, and no URL's password is shown.

awsrun runs as a real process against tests/fake_sts.py, whose answers carry carriage
returns, C1 controls (U+009B, the one-byte CSI) and bidi overrides (U+202E); profile names,
file names and endpoint URLs come from the environment and the command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awsrun import text as text_module
from awsrun.text import safe_text
from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun
from tests.fake_sts import FakeSts, assume_role_ok, closed_port_url, raw

SOURCE = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
FORGED = "awsrun: assumed arn:aws:sts::123456789012:assumed-role/Admin/x"
# What must never reach stderr raw: every C0 but nothing, DEL, C1, bidi and separators.
RAW_CONTROLS = [chr(c) for c in range(0x20) if c != 0x0A] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)] + [
    "\u061c", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWSRUN_NO_CACHE", "true")


def inert(stderr: str) -> List[str]:
    """stderr's lines, checked to hold no control and to each be one of awsrun's own."""
    assert not [c for c in RAW_CONTROLS if c in stderr], repr(stderr)
    lines = stderr.splitlines()
    assert all(line.startswith("awsrun: ") for line in lines), lines
    return lines


@pytest.mark.parametrize(
    "text, shown",
    [
        ("plain ARN arn:aws:iam::1:role/x", "plain ARN arn:aws:iam::1:role/x"),
        ("a\r b", "a\\x0d b"),
        ("line\nnext\ttab", "line\\x0anext\\x09tab"),
        ("\x1b[2J\x00\x7f", "\\x1b[2J\\x00\\x7f"),
        ("\x9b31m\x85", "\\x9b31m\\x85"),
        ("gpj.\u202eexe", "gpj.\\u202eexe"),
        ("\u2066\u2069\u200e\u200f\u061c\u2028\u2029", "\\u2066\\u2069\\u200e\\u200f\\u061c\\u2028\\u2029"),
        ("ümlaut café ok", "ümlaut café ok"),
        ("http://alice:s3cret@127.0.0.1:9/x", "http://***@127.0.0.1:9/x"),
        ("at https://token@host/path and ftp://u@h", "at https://***@host/path and ftp://***@h"),
        ("https://host/path@not-userinfo?q=a@b", "https://host/path@not-userinfo?q=a@b"),
        ("mail alice@example.com", "mail alice@example.com"),
    ],
)
def test_safe_text(text: str, shown: str) -> None:
    assert safe_text(text) == shown


def test_safe_text_escapes_every_control() -> None:
    assert not [c for c in RAW_CONTROLS + ["\n"] if c in safe_text("".join(RAW_CONTROLS) + "\n")]


def test_every_escaped_character_is_outside_isprintable() -> None:
    """safe_text returns clean lines untouched after str.isprintable(): that shortcut holds only
    while every character the pattern escapes is one isprintable() rejects."""
    import re

    escaped = [chr(c) for c in range(0x110000) if re.fullmatch(text_module.CONTROL, chr(c))]
    assert sorted(escaped) == sorted(RAW_CONTROLS + ["\n"])
    assert not [c for c in escaped if c.isprintable()]


@given(st.text())
def test_the_shortcut_changes_nothing(text: str) -> None:
    import re

    full = re.sub(text_module.CONTROL, text_module._escaped, re.sub(text_module._USERINFO, r"\1***@", text))
    assert safe_text(text) == full


def _error_body(code: str, message: str) -> str:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    )


def test_sts_error_code_and_message_cannot_forge_a_line() -> None:
    # &#13; survives XML's newline normalisation as a real carriage return.
    body = _error_body("Weird&#13;" + FORGED + "\u202e", "no&#13;" + FORGED + " \x9b2J \u202egpj.exe")
    with FakeSts([raw(body, 400)]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "--", sys.executable, str(CHILD)],
                            env={**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 125 and result.stdout == ""
    (line,) = inert(result.stderr)
    assert "Weird\\x0d" + FORGED in line and "\\x9b2J" in line and "\\u202egpj.exe" in line


def test_assumed_role_arn_with_controls_is_one_notice_line() -> None:
    arn = "arn:aws:sts::123456789012:assumed-role/Deploy/session"
    hostile = arn + "&#13;" + FORGED + "\x9b\u202e"
    with FakeSts([raw(assume_role_ok().body.replace(arn, hostile))]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "--", sys.executable, str(CHILD)],
                            env={**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    (line,) = inert(result.stderr)
    assert line.startswith(f"awsrun: assumed {arn}\\x0d{FORGED}\\x9b\\u202e, expires ")
    # The child's own variable keeps the value as STS sent it: escaping is for the terminal.
    assert child_report(result.stdout)["env"]["AWSRUN_ASSUMED_ROLE_ARN"] == f"{arn}\r{FORGED}\x9b\u202e"


SHELLS = [("sh", ["sh", "-c"]), ("dotenv", None)]
if shutil.which("fish"):
    SHELLS.append(("fish", ["fish", "-c"]))


@pytest.mark.parametrize("fmt, shell", SHELLS, ids=[fmt for fmt, _ in SHELLS])
def test_export_of_a_hostile_arn_cannot_break_out_of_its_quotes(fmt: str, shell: Optional[List[str]],
                                                                tmp_path: Path) -> None:
    arn = "arn:aws:sts::123456789012:assumed-role/Deploy/session"
    marker = tmp_path / "pwned"
    hostile = f"{arn}'\"; touch {marker}; echo '\n$(touch {marker})`touch {marker}` \\ end \\'x"
    from xml.sax.saxutils import escape

    with FakeSts([raw(assume_role_ok().body.replace(arn, escape(hostile)))]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "--export", "--format", fmt],
                            env={**SOURCE, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    inert(result.stderr)
    if shell is None:  # read back as python-dotenv reads it
        import io

        from dotenv import dotenv_values

        assert dotenv_values(stream=io.StringIO(result.stdout), interpolate=False)["AWSRUN_ASSUMED_ROLE_ARN"] == hostile
        return
    shown = subprocess.run([*shell, result.stdout + '\nprintf %s "$AWSRUN_ASSUMED_ROLE_ARN"'],
                           capture_output=True, text=True, timeout=10)
    assert shown.stdout == hostile and not marker.exists()


def test_profile_name_in_botocore_message_is_escaped() -> None:
    name = "x\r" + FORGED + "\x9b\u202e"
    result = run_awsrun(["-r", ROLE_ARN, "--", sys.executable, str(CHILD)],
                        env={**SOURCE, "AWS_PROFILE": name, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    assert result.returncode == 125
    (line,) = inert(result.stderr)
    assert "\\x0d" + FORGED + "\\x9b\\u202e" in line


def test_env_file_name_in_verbose_lines_is_escaped(tmp_path: Path) -> None:
    forged = FORGED.replace("/", "-")  # a file name holds no slash
    path = tmp_path / ("evil\r" + forged + "\x9b\u202e.env")
    path.write_text("AWSRUN_SESSION_NAME=from-dotenv\n")
    result = run_awsrun(["-v", "--dry-run", "--env-file", str(path), "-r", ROLE_ARN, "--", "true"], env=SOURCE)
    assert result.returncode == 0, result.stderr
    lines = inert(result.stderr)
    assert [line for line in lines if "session-name = from-dotenv" in line and "\\x0d" + forged + "\\x9b\\u202e" in line]


def test_dotenv_value_in_dry_run_plan_is_escaped(tmp_path: Path) -> None:
    Path(".env").write_text("AWS_REGION='eu-west-1'\nFOO='a\rb'\n")
    result = run_awsrun(["--dry-run", "-r", ROLE_ARN, "--", "echo", "x\r" + FORGED + "\u202e"], env=SOURCE)
    assert result.returncode == 0, result.stderr
    assert not [c for c in RAW_CONTROLS if c in result.stdout], repr(result.stdout)
    assert "\\x0d" + FORGED + "\\u202e" in result.stdout


def test_endpoint_password_is_never_shown() -> None:
    url = closed_port_url().replace("http://", "http://alice:hunter2secret@")
    result = run_awsrun(["-r", ROLE_ARN, "--connect-timeout", "1", "--", sys.executable, str(CHILD)],
                        env={**SOURCE, "AWS_ENDPOINT_URL_STS": url})
    assert result.returncode == 125
    (line,) = inert(result.stderr)
    assert "hunter2secret" not in line and "alice" not in line and "***@127.0.0.1" in line


def test_debug_traceback_is_escaped_too() -> None:
    name = "x\r" + FORGED + "\x9b"
    result = run_awsrun(["--debug", "-r", ROLE_ARN, "--", "true"],
                        env={**SOURCE, "AWS_PROFILE": name, "AWS_ENDPOINT_URL_STS": closed_port_url()})
    assert result.returncode == 125
    assert not [c for c in RAW_CONTROLS if c in result.stderr], repr(result.stderr)
