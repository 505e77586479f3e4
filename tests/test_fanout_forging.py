"""One role's output cannot forge another's label: in prefixed --each-role lines, CR, ESC and the
other controls but TAB are shown escaped; --no-prefix and --output-dir keep the bytes as they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

DEPLOY = "arn:aws:iam::123456789012:role/Deploy"
READONLY = "arn:aws:iam::210987654321:role/ReadOnly"
# Each run prints what would, on a terminal, overwrite its label with the other role's.
FORGING = (b"ok\r[ReadOnly@210987654321] forged\n"
           b"\x1b[2K\x1b[1G[ReadOnly@210987654321] erased\n"
           b"\xc2\x9b2K c1\n"
           b"tab\tstays\n"
           b"crlf\r\n")
CHILD = f"import sys; sys.stdout.buffer.write({FORGING!r}); sys.stderr.buffer.write({FORGING!r})"
RAW_CONTROLS = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]")


def run(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "awsrun", "--no-cache", "--each-role", DEPLOY, "--each-role", READONLY,
                           *args, "--", sys.executable, "-c", CHILD], env={**os.environ, **env},
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


def test_prefixed_lines_show_controls_escaped(source_env: Dict[str, str]) -> None:
    result = run([], source_env)
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        mine = [line for line in stream.split(b"\n") if line.startswith((b"[Deploy@", b"[ReadOnly@"))]
        assert len(mine) == 10, stream
        for line in mine:
            assert not RAW_CONTROLS.search(line.replace(b"\t", b" ")), line
    deploy = [line for line in result.stdout.split(b"\n") if line.startswith(b"[Deploy@123456789012] ")]
    assert deploy == [b"[Deploy@123456789012] ok\\x0d[ReadOnly@210987654321] forged",
                      b"[Deploy@123456789012] \\x1b[2K\\x1b[1G[ReadOnly@210987654321] erased",
                      b"[Deploy@123456789012] \\x9b2K c1",
                      b"[Deploy@123456789012] tab\tstays",
                      b"[Deploy@123456789012] crlf"]


def test_no_prefix_keeps_the_bytes(source_env: Dict[str, str]) -> None:
    result = run(["--no-prefix"], source_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == FORGING * 2


def test_output_dir_keeps_the_bytes(source_env: Dict[str, str], tmp_path: Path) -> None:
    result = run(["--output-dir", str(tmp_path / "out")], source_env)
    assert result.returncode == 0, result.stderr
    for label in ("Deploy@123456789012", "ReadOnly@210987654321"):
        assert (tmp_path / "out" / f"{label}.out").read_bytes() == FORGING
        assert (tmp_path / "out" / f"{label}.err").read_bytes() == FORGING


@pytest.mark.parametrize("line, shown", [
    (b"plain text", b"plain text"),
    (b"a\tb", b"a\tb"),
    (b"a\rb", b"a\\x0db"),
    (b"a\x1b[2Kb", b"a\\x1b[2Kb"),
    (b"\x00\x07\x08\x7f", b"\\x00\\x07\\x08\\x7f"),
    (b"c1 \xc2\x9b as UTF-8", b"c1 \\x9b as UTF-8"),
    (b"c1 \x9b as a lone byte", b"c1 \\x9b as a lone byte"),
    ("caf\u00e9 \u05e9\u05dc\u05d5\u05dd \u202e".encode(), "caf\u00e9 \u05e9\u05dc\u05d5\u05dd \u202e".encode()),
    (b"not utf-8 \xff\xfe", b"not utf-8 \xff\xfe"),
    (b"crlf\r", b"crlf"),
])
def test_child_line(line: bytes, shown: bytes) -> None:
    from awsrun.text import child_line

    assert child_line(line) == shown
