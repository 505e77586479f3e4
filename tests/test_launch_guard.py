"""One way to start a child while awsrun holds secrets (awsrun.deliver.launch): every mode that outlives
its command makes awsrun private first, and nothing else in awsrun starts a process."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

import awsrun
from tests.conftest import ROLE_ARN, SOURCE_SECRET
from tests.test_refresh_privacy import as_an_ordinary_user

OTHER_ROLE = "arn:aws:iam::123456789012:role/ReadOnly"

# Reads its parent's environment and every readable region of its memory, looking for argv[1].
READER = r"""
import os, sys
needle, parent = sys.argv[1].encode(), os.getppid()
try:
    with open(f"/proc/{parent}/environ", "rb") as stream:
        print("environ read", needle in stream.read())
except OSError as exc:
    print("environ refused", type(exc).__name__)
try:
    mem = open(f"/proc/{parent}/mem", "rb")
except OSError as exc:
    print("mem refused", type(exc).__name__)
else:
    found = False
    with open(f"/proc/{parent}/maps") as maps, mem:
        for line in maps:
            span, perms = line.split()[:2]
            start, end = (int(part, 16) for part in span.split("-"))
            if perms.startswith("r") and end - start < 1 << 28:
                try:
                    mem.seek(start)
                    found = found or needle in mem.read(end - start)
                except (OSError, ValueError, OverflowError):
                    pass
    print("mem read", found)
"""


def run_as_user(tmp_path: Path, source_env: Dict[str, str], args: List[str]) -> subprocess.CompletedProcess:
    prefix, user_env, home = as_an_ordinary_user(tmp_path)
    python = (shutil.which("python3", path="/usr/bin:/bin") or sys.executable) if prefix else sys.executable
    reader = home / "reader.py"
    reader.write_text(READER)
    reader.chmod(0o644)
    try:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "awsrun", "--no-cache", *args, "--", python, str(reader), SOURCE_SECRET],
            env={**os.environ, **source_env, **user_env}, cwd=home, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL)
    finally:
        if prefix:
            shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_DUMPABLE) is Linux's")
@pytest.mark.parametrize("args, runs", [
    (["--each-role", ROLE_ARN], 1),
    (["--each-role", ROLE_ARN, "--each-role", OTHER_ROLE], 2),
    (["--each-role", ROLE_ARN, "--each-role", OTHER_ROLE, "--no-prefix", "--parallel", "1"], 2),
    (["--refresh", "--role", ROLE_ARN], 1),
], ids=["each-role-one", "each-role-two", "each-role-two-in-turn", "refresh"])
def test_no_command_reads_the_source_secret_out_of_awsrun(
    source_env: Dict[str, str], tmp_path: Path, args: List[str], runs: int,
) -> None:
    result = run_as_user(tmp_path, source_env, args)
    assert result.returncode == 0, result.stderr
    lines = sorted(line.split("] ", 1)[-1] for line in result.stdout.splitlines())
    assert lines == sorted(["environ refused PermissionError", "mem refused PermissionError"] * runs)
    assert "warning" not in result.stderr


# --- nothing else starts a process ----------------------------------------------------------------

STARTERS = {("subprocess", name) for name in ("Popen", "call", "run", "check_call", "check_output",
                                             "getoutput", "getstatusoutput")}
STARTERS |= {("os", name) for name in ("system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp",
                                       "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle",
                                       "spawnlp", "spawnlpe", "startfile")}
STARTERS |= {("webbrowser", name) for name in ("open", "open_new", "open_new_tab", "get")}  # may start a browser
# Replacing awsrun by the command (exec mode) leaves no awsrun behind to read: not a start.
ALLOWED = {"deliver/launch.py": {("subprocess", "Popen"), ("webbrowser", "get")}}


def starters_in(path: Path) -> set:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        function = node.func if isinstance(node, ast.Call) else None
        if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
            if (function.value.id, function.attr) in STARTERS:
                found.add((function.value.id, function.attr))
        elif isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "os", "pty", "webbrowser"):
            found |= {(node.module, alias.name) for alias in node.names if (node.module, alias.name) in STARTERS}
        elif isinstance(node, ast.Import) and any(alias.name == "pty" for alias in node.names):
            found.add(("pty", "spawn"))
    return found


def test_only_launch_starts_a_process() -> None:
    package = Path(awsrun.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert package / "deliver" / "launch.py" in sources and package / "keys" / "cli.py" in sources
    found = {str(path.relative_to(package)): starters_in(path) for path in sources}
    assert {name: calls for name, calls in found.items() if calls and calls != ALLOWED.get(name)} == {}
    assert found["deliver/launch.py"] == ALLOWED["deliver/launch.py"]


def test_the_walk_would_see_a_start(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import subprocess\nfrom os import posix_spawn\nsubprocess.call(['x'])\n"
                      "def f(child: subprocess.Popen) -> None: ...\n")
    assert starters_in(sample) == {("subprocess", "call"), ("os", "posix_spawn")}


def test_privacy_is_asked_once_and_a_failure_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from awsrun.deliver import launch

    calls: List[int] = []
    monkeypatch.setattr(launch, "_private", None)
    monkeypatch.setattr(launch, "_undumpable", lambda: calls.append(1) or "prctl: Operation not permitted")
    said: List[str] = []
    for _ in range(3):
        launch.make_private(said.append)
    assert calls == [1]
    assert said == ["could not make awsrun's process private (prctl: Operation not permitted); "
                    "commands of the same user can read its environment and memory while it runs"]


@pytest.mark.parametrize("mode", [["--each-role", ROLE_ARN], ["--refresh", "--role", ROLE_ARN]], ids=["each-role", "refresh"])
def test_the_command_itself_is_dumpable_again(source_env: Dict[str, str], mode: List[str]) -> None:
    from tests.conftest import run_awsrun

    probe = "import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # PR_GET_DUMPABLE
    result = run_awsrun(["--no-cache", "--no-prefix", *mode, "--", sys.executable, "-c", probe]
                        if mode[0] == "--each-role" else ["--no-cache", *mode, "--", sys.executable, "-c", probe],
                        env=source_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"  # the command's own core dumps and debuggers still work
