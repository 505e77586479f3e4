"""cli.main in-process (help, version, usage and validation errors), botocore kept out of local
failures (in a fresh interpreter), and execute.resolve (126/127)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import pytest

import awsrun
from awsrun import cli
from awsrun.deliver import execute
from awsrun.errors import CommandNotExecutable, CommandNotFound, ExitStatus
from tests.conftest import trust_env_file

ROLE = "arn:aws:iam::123456789012:role/Deploy"


class FakeExec:
    """Stands in for execute.exec_command and remembers what it was asked to run."""

    def __init__(self) -> None:
        self.calls: List[Tuple[List[str], Dict[str, str]]] = []

    def __call__(self, argv: Sequence[str], environ: Mapping[str, str]) -> None:
        self.calls.append((list(argv), dict(environ)))


def argv_id(value: object) -> str:
    """A short, readable test id for an argv list or an environment dict."""
    if isinstance(value, list):
        text = " ".join(str(v).replace(ROLE, "ROLE") for v in value) or "no-args"
    elif isinstance(value, dict):
        text = ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run(argv: Sequence[str], environ: Optional[Dict[str, str]] = None) -> Tuple[int, str, str, FakeExec]:
    """main() in-process with a small environment (a PATH, nothing else unless given)."""
    out, err, fake = io.StringIO(), io.StringIO(), FakeExec()
    env = {"PATH": os.environ.get("PATH", os.defpath), **(environ or {})}
    status = cli.main(list(argv), env, stdout=out, stderr=err, exec_command=fake)
    return status, out.getvalue(), err.getvalue(), fake


def assert_one_line_failure(status: int, out: str, err: str, fake: FakeExec, expected_status: int = 125) -> str:
    assert status == expected_status
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert lines[0].startswith("awsrun: ")
    assert fake.calls == []
    return lines[0]


# --- help and version ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["-h"],
        ["--role", ROLE, "--help"],
        ["--help", "--role", "not-a-role"],  # help comes before any check
        ["--duration", "1", "-h"],
    ],
)
def test_help(argv: List[str]) -> None:
    status, out, err, fake = run(argv)
    assert status == ExitStatus.OK == 0
    assert out == cli.__doc__.strip() + "\n"
    assert "Usage:" in out
    assert "awsrun [options]" in out
    assert err == ""
    assert fake.calls == []


def test_help_does_not_read_the_env_file(isolated: Path) -> None:
    (isolated / ".env").write_text("this line cannot be parsed\n")
    trust_env_file(isolated / ".env")
    status, out, err, _ = run(["--help"])
    assert (status, err) == (0, "")
    assert "Usage:" in out


@pytest.mark.parametrize("argv", [["--version"], ["--version", "--role", "not-a-role"]])
def test_version(argv: List[str]) -> None:
    status, out, err, fake = run(argv)
    assert status == 0
    assert out == f"awsrun {awsrun.__version__}\n"
    assert err == ""
    assert fake.calls == []


# --- usage errors --------------------------------------------------------------------------------

USAGE_ERRORS = [
    # argv, environment, words the one line must contain
    (["--bogus"], {}, ["unknown option", "--bogus"]),
    (["--rolex", ROLE, "true"], {}, ["unknown option", "--rolex"]),
    (["-x"], {}, ["-x"]),
    (["--profile", "a", "--profile", "b", "true"], {}, ["--profile", "more than once"]),
    (["-p", "a", "-p", "b", "true"], {}, ["--profile", "more than once"]),
    (["--duration", "900", "--duration", "900"], {}, ["--duration", "more than once"]),
    (["-q", "-q"], {}, ["--quiet", "more than once"]),
    # options without a short form too: not "unknown"
    (["--dry-run", "--dry-run"], {}, ["--dry-run", "more than once"]),
    (["--region", "us-east-1", "--region", "us-east-1"], {}, ["--region", "more than once"]),
    (["--role"], {}, ["--role", "requires argument"]),
    (["-r"], {}, ["-r"]),
    (["--tag"], {}, ["--tag", "requires argument"]),
    (["--role", ROLE, "--duration"], {}, ["--duration", "requires argument"]),
    (["--role", ROLE, "--quiet", "--verbose", "true"], {}, ["--quiet and --verbose"]),
    (["--role", ROLE, "-q", "-v", "true"], {}, ["--quiet and --verbose"]),
    (["--role", ROLE, "--verbose", "true"], {"AWSRUN_QUIET": "1"}, ["--quiet and --verbose"]),
    (["true"], {}, ["no role given"]),
    (["--", "true"], {}, ["no role given"]),
    (["--session-name", "ok-name", "true"], {}, ["no role given"]),
    (["--no-env-file", "--env-file", "a.env", "--role", ROLE, "true"], {}, ["--env-file and --no-env-file", "exclude each other"]),
    (["--role", ROLE], {}, ["no command given"]),  # stdin is not a terminal under pytest
]


@pytest.mark.parametrize("argv, environ, words", USAGE_ERRORS, ids=[argv_id(a) + (" " + argv_id(e) if e else "") for a, e, _ in USAGE_ERRORS])
def test_usage_errors(argv: List[str], environ: Dict[str, str], words: List[str]) -> None:
    line = assert_one_line_failure(*run(argv, environ))
    for word in words:
        assert word in line
    assert "awsrun --help" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "--role", "not-a-role", "true"],
        ["--debug", "--duration", "5", "--role", ROLE, "true"],
        ["--debug", "true"],
    ],
)
def test_debug_adds_a_traceback(argv: List[str]) -> None:
    status, out, err, fake = run(argv)
    assert status == 125
    assert out == ""
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1].startswith("awsrun: ")
    assert fake.calls == []


def test_debug_from_the_environment_adds_a_traceback() -> None:
    # "Every option can also be set as an environment variable AWSRUN_<LONG_NAME>".
    status, out, err, _ = run(["--role", "not-a-role", "true"], {"AWSRUN_DEBUG": "1"})
    assert status == 125
    assert "Traceback (most recent call last):" in err
    assert err.splitlines()[-1].startswith("awsrun: invalid role")


@pytest.mark.parametrize(
    "argv",
    [
        ["--role", "not-a-role", "--", "mycmd", "--debug"],
        ["--role", "not-a-role", "true", "--debug"],  # after COMMAND every word is the command's
    ],
)
def test_the_commands_own_debug_flag_is_not_ours(argv: List[str]) -> None:
    assert_one_line_failure(*run(argv))


@pytest.mark.parametrize(
    "argv, command, args",
    [
        (["-r", ROLE, "ls", "-l", "--help"], "ls", ["-l", "--help"]),
        (["-r", ROLE, "--", "ls", "--version"], "ls", ["--version"]),
        (["-r", ROLE, "terraform", "plan", "-r", "x", "--role", "y"], "terraform", ["plan", "-r", "x", "--role", "y"]),
        (["-r", ROLE, "--", "--odd-command"], "--odd-command", []),
    ],
)
def test_the_commands_own_options_are_not_parsed(argv: List[str], command: str, args: List[str]) -> None:
    parsed = cli._parse(argv)
    assert (parsed["COMMAND"], parsed["ARG"]) == (command, args)
    assert parsed["--role"] == [ROLE]
    assert not parsed["--help"] and not parsed["--version"]


# --- validation errors ---------------------------------------------------------------------------

VALIDATION_ERRORS = [
    # argv, environment, the offending value as the message shows it
    (["--role", "arn:aws:iam::123456789012:user/Bob", "true"], {}, "'arn:aws:iam::123456789012:user/Bob'"),
    (["--role", "12345:Deploy", "true"], {}, "'12345:Deploy'"),
    (["--role", ROLE, "--duration", "899", "true"], {}, "'899'"),
    (["--role", ROLE, "--duration", "43201", "true"], {}, "'43201'"),
    (["--role", ROLE, "-d", "abc", "true"], {}, "'abc'"),
    (["--role", ROLE, "--session-name", "a", "true"], {}, "'a'"),
    (["--role", ROLE, "--session-name", "two\nlines", "true"], {}, "'two\\nlines'"),
    (["--role", ROLE, "--external-id", "x", "true"], {}, "'****'"),
    (["--role", ROLE, "--source-identity", "aws:me", "true"], {}, "'aws:me'"),
    (["--role", ROLE, "--tag", "novalue", "true"], {}, "'novalue'"),
    (["--role", ROLE, "--tag", "aws:k=v", "true"], {}, "'aws:k'"),
    (["--role", ROLE, "--tag", "k=1", "--tag", "K=2", "true"], {}, "'K'"),
    (["--role", ROLE, "--tag", "k=1", "--transitive-tag", "other", "true"], {}, "'other'"),
    (["--role", ROLE, "--policy", "{not json", "true"], {}, "'{not json'"),
    (["--role", ROLE, "--policy", "missing-policy.json", "true"], {}, "'missing-policy.json'"),
    (["--role", ROLE, "--policy-arn", "ReadOnlyAccess", "true"], {}, "'ReadOnlyAccess'"),
    (["--role", ROLE, "--region", "moon-base-1", "true"], {}, "'moon-base-1'"),
    (["--role", ROLE, "--region", "cn-north-1", "true"], {}, "'cn-north-1'"),  # role is in aws
    (["--role", "123456789012:Deploy", "true"], {"AWS_REGION": "nowhere"}, "'nowhere'"),
    (["--role", ROLE, "--connect-timeout", "0", "true"], {}, "'0'"),
    (["--role", ROLE, "--read-timeout", "301", "true"], {}, "'301'"),
    (["true"], {"AWSRUN_ROLE": ROLE, "AWSRUN_DURATION": "60"}, "'60'"),
    (["--role", ROLE, "true"], {"AWSRUN_DRY_RUN": "maybe"}, "'maybe'"),
    (["--role", ROLE, "--env-file", "missing.env", "true"], {}, "'missing.env'"),
]


@pytest.mark.parametrize("argv, environ, shown", VALIDATION_ERRORS, ids=[argv_id(a) + (" " + argv_id(e) if e else "") for a, e, _ in VALIDATION_ERRORS])
def test_validation_errors(argv: List[str], environ: Dict[str, str], shown: str) -> None:
    line = assert_one_line_failure(*run(argv, environ))
    assert shown in line


def test_bad_env_file_line_is_one_line(isolated: Path) -> None:
    (isolated / ".env").write_text("AWSRUN_ROLE=arn:aws:iam::123456789012:role/Deploy\nnot a line\n")
    trust_env_file(isolated / ".env")
    line = assert_one_line_failure(*run(["true"]))
    assert "'.env'" in line and "line 2" in line


def test_bad_value_from_env_file_is_one_line(isolated: Path) -> None:
    (isolated / ".env").write_text("AWSRUN_ROLE=arn:aws:iam::123456789012:role/Deploy\nAWSRUN_DURATION=10\n")
    trust_env_file(isolated / ".env")
    line = assert_one_line_failure(*run(["true"]))
    assert "'10'" in line


def test_external_id_is_not_echoed_when_another_value_fails() -> None:
    secret = "VerySecretExternal-Id-9876"
    status, out, err, _ = run(["--role", ROLE, "--external-id", secret, "--duration", "1", "true"])
    assert status == 125
    assert secret not in out + err


# --- the command: 127 and 126 --------------------------------------------------------------------

def make_file(path: Path, mode: int, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_command_not_found_exits_127() -> None:
    line = assert_one_line_failure(*run(["--role", ROLE, "no-such-command-awsrun-test"]), expected_status=127)
    assert "command not found" in line and "no-such-command-awsrun-test" in line


def test_command_not_executable_exits_126(tmp_path: Path) -> None:
    script = make_file(tmp_path / "bin" / "plain-file", 0o644)
    line = assert_one_line_failure(*run(["--role", ROLE, str(script)]), expected_status=126)
    assert str(script) in line


def test_directory_as_command_exits_126(tmp_path: Path) -> None:
    line = assert_one_line_failure(*run(["--role", ROLE, str(tmp_path)]), expected_status=126)
    assert str(tmp_path) in line


def test_command_is_looked_up_on_the_dotenv_path(isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With no PATH in the environment, the child's PATH comes from .env, and so does the lookup.
    tool = make_file(tmp_path / "dotenv-bin" / "only-in-dotenv", 0o755)
    (isolated / ".env").write_text(f"PATH={tool.parent}\n")
    trust_env_file(isolated / ".env")
    keys = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    for name, value in keys.items():
        monkeypatch.setenv(name, value)  # botocore reads the real environment
    out, err, fake = io.StringIO(), io.StringIO(), FakeExec()
    status = cli.main(
        ["--role", ROLE, "--region", "us-east-1", "--dry-run", "only-in-dotenv"], keys,
        stdout=out, stderr=err, exec_command=fake,
    )
    assert (status, err.getvalue()) == (0, "")
    assert "exec only-in-dotenv" in out.getvalue()
    assert fake.calls == []


# --- botocore stays out of local failures (fresh interpreter) -------------------------------------

PROBE = """
import io, json, sys
assert "botocore" not in sys.modules
from awsrun.cli import main
calls = []
out, err = io.StringIO(), io.StringIO()
status = main(json.loads(sys.argv[1]), json.loads(sys.argv[2]), stdout=out, stderr=err,
              exec_command=lambda argv, env: calls.append(list(argv)))
print(json.dumps({
    "status": status,
    "botocore": sorted(m for m in sys.modules if m.split(".")[0] == "botocore"),
    "stdout": out.getvalue(),
    "stderr": err.getvalue(),
    "calls": calls,
}))
"""


def probe(argv: List[str], environ: Dict[str, str]) -> dict:
    env = {**os.environ, **environ}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(env)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv, status",
    [
        (["--help"], 0),
        (["--version"], 0),
        (["--bogus"], 125),
        (["--role", "arn:aws:iam::123456789012:user/Bob", "true"], 125),
        (["--role", ROLE, "--duration", "60", "true"], 125),
        (["--role", ROLE, "--region", "cn-north-1", "true"], 125),
        (["--role", ROLE, "no-such-command-awsrun-test"], 127),
    ],
    ids=["help", "version", "usage-error", "bad-role", "bad-duration", "wrong-partition", "not-found"],
)
def test_local_outcomes_never_import_botocore(argv: List[str], status: int) -> None:
    report = probe(argv, {})
    assert report["status"] == status
    assert report["botocore"] == []
    assert report["calls"] == []


def test_the_probe_does_see_botocore_when_sts_is_reached() -> None:
    # The control: a dry run gets as far as the source credentials, which is botocore's job.
    report = probe(
        ["--role", ROLE, "--region", "us-east-1", "--dry-run", "true"],
        {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    )
    assert report["status"] == 0, report["stderr"]
    assert "botocore" in report["botocore"]
    assert report["calls"] == []


# --- execute.resolve ------------------------------------------------------------------------------

def test_resolve_absolute_path(tmp_path: Path) -> None:
    tool = make_file(tmp_path / "tool", 0o755)
    assert execute.resolve(str(tool), {"PATH": ""}) == str(tool)


def test_resolve_relative_path_with_a_slash(isolated: Path) -> None:
    make_file(isolated / "tool", 0o755)
    assert execute.resolve("./tool", {"PATH": "/nonexistent"}) == "./tool"


@pytest.mark.parametrize(
    "layout, path_dirs, expected",
    [
        ({"a/tool": 0o755}, ["a"], "a/tool"),
        ({"a/tool": 0o755, "b/tool": 0o755}, ["b", "a"], "b/tool"),  # first on PATH wins
        ({"a/tool": 0o644, "b/tool": 0o755}, ["a", "b"], "b/tool"),  # a non-executable one is skipped
        ({"b/tool": 0o755}, ["missing", "b"], "b/tool"),
    ],
)
def test_resolve_on_path(tmp_path: Path, layout: Dict[str, int], path_dirs: List[str], expected: str) -> None:
    for name, mode in layout.items():
        make_file(tmp_path / name, mode)
    search = os.pathsep.join(str(tmp_path / d) for d in path_dirs)
    assert execute.resolve("tool", {"PATH": search}) == str(tmp_path / expected)


def test_resolve_uses_the_given_path_not_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_file(tmp_path / "elsewhere" / "tool", 0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    with pytest.raises(CommandNotFound):
        execute.resolve("tool", {"PATH": str(tmp_path / "empty")})


def test_resolve_without_path_uses_the_default_path() -> None:
    found = execute.resolve("sh", {})
    assert os.path.basename(found) == "sh"
    assert os.path.dirname(found) in os.defpath.split(os.pathsep)


@pytest.mark.parametrize(
    "command",
    ["no-such-command-awsrun-test", "/nonexistent/dir/tool", "./missing-tool"],
)
def test_resolve_not_found(tmp_path: Path, command: str) -> None:
    with pytest.raises(CommandNotFound) as caught:
        execute.resolve(command, {"PATH": str(tmp_path)})
    assert caught.value.exit_status == ExitStatus.NOT_FOUND == 127
    assert command in str(caught.value)


@pytest.mark.parametrize(
    "setup, command",
    [
        (lambda tmp: make_file(tmp / "bin" / "tool", 0o644), "tool"),  # on PATH, no x bit
        (lambda tmp: make_file(tmp / "bin" / "tool", 0o644), "{bin}/tool"),  # by path
        (lambda tmp: make_file(tmp / "bin" / "tool", 0o600), "{bin}/tool"),
        (lambda tmp: (tmp / "bin" / "subdir").mkdir(parents=True), "{bin}/subdir"),  # a directory
        (lambda tmp: (tmp / "bin" / "subdir").mkdir(parents=True), "{bin}/subdir/"),
    ],
    ids=["path-not-executable", "absolute-not-executable", "absolute-0600", "directory", "directory-slash"],
)
def test_resolve_not_executable(tmp_path: Path, setup, command: str) -> None:
    setup(tmp_path)
    command = command.format(bin=tmp_path / "bin")
    with pytest.raises(CommandNotExecutable) as caught:
        execute.resolve(command, {"PATH": str(tmp_path / "bin")})
    assert caught.value.exit_status == ExitStatus.NOT_EXECUTABLE == 126
    assert command in str(caught.value)


def test_resolve_follows_execvpe_on_an_empty_path_entry(isolated: Path) -> None:
    """An empty PATH entry is the working folder for execvpe; resolve agrees with what will run."""
    make_file(isolated / "tool", 0o755)
    assert execute.resolve("tool", {"PATH": os.pathsep + "/nonexistent"}) == "tool"
    with pytest.raises(CommandNotFound):
        execute.resolve("tool", {"PATH": "/nonexistent"})


def test_resolve_does_not_import_shutil() -> None:
    """Every exec resolves its command: the lookup must not pull in shutil's compression modules."""
    code = "import sys; from awsrun.deliver import execute; execute.resolve('sh', {}); print('shutil' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_resolve_relative_directory(isolated: Path) -> None:
    (isolated / "adir").mkdir()
    with pytest.raises(CommandNotExecutable):
        execute.resolve("./adir", {"PATH": ""})
