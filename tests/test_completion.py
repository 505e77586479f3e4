"""awsrun --completion bash|zsh|fish: scripts that real shells load and that complete
options, formats and the AWS config's profile names (read when completing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.conftest import run_awsrun

CONFIG = (
    "[default]\nregion = us-east-1\n"
    "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/Deploy\n"
    "[profile ops-admin]\nregion = eu-west-1\n"
    "[sso-session corp]\nsso_region = us-east-1\n"
    "[profile $(touch pwned)]\nregion = us-east-1\n"
)
CREDENTIALS = "[base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"


@pytest.fixture
def shell_env(tmp_path: Path) -> Dict[str, str]:
    """An `awsrun` on PATH that runs this checkout, and the isolated AWS files filled in."""
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG)
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(CREDENTIALS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "awsrun"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m awsrun \"$@\"\n")
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_profiles_lists_config_and_credentials_names_only_plain_ones() -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(CONFIG)
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(CREDENTIALS)
    result = run_awsrun(["--completion", "profiles"])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["default", "deploy", "ops-admin", "base"]


def test_profiles_without_any_config_is_empty_not_an_error() -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[broken\n")
    result = run_awsrun(["--completion", "profiles"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unknown_shell_is_refused() -> None:
    result = run_awsrun(["--completion", "tcsh"])
    assert result.returncode == 125
    assert "--completion 'tcsh': expected one of bash, zsh, fish" in result.stderr


def test_completion_never_imports_botocore() -> None:
    code = ("import sys, io; from awsrun.cli import main; out = io.StringIO(); "
            "[main(['--completion', s], {}, stdout=out) for s in ('bash', 'zsh', 'fish', 'profiles')]; "
            "print('botocore' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "False", result.stderr


def _bash_complete(env: Dict[str, str], words: List[str]) -> List[str]:
    """Load the script in a real bash, complete the last of ``words`` as bash would."""
    import shlex

    line = " ".join(words)
    quoted = " ".join(shlex.quote(word) for word in words)
    script = (
        'source <(awsrun --completion bash)\n'
        'complete -p awsrun >/dev/null || exit 3\n'
        f'COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n'
        f'COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n'
        '_awsrun; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.splitlines() if word]


@pytest.mark.parametrize(
    "words, expected",
    [
        (["awsrun", "--dry"], ["--dry-run"]),
        (["awsrun", "--pro"], ["--profile"]),
        (["awsrun", "-p", ""], ["default", "deploy", "ops-admin", "base"]),
        (["awsrun", "--profile", "d"], ["default", "deploy"]),
        (["awsrun", "--export", "--format", "p"], ["powershell"]),
        (["awsrun", "--completion", "f"], ["fish"]),
    ],
)
def test_bash_completes_options_formats_and_profiles(shell_env: Dict[str, str], words: List[str],
                                                    expected: List[str], tmp_path: Path) -> None:
    assert sorted(_bash_complete(shell_env, words)) == sorted(expected)
    assert not list(tmp_path.rglob("pwned"))  # a profile name is never run as code


def test_bash_leaves_the_command_its_own_words(shell_env: Dict[str, str]) -> None:
    # After the command starts, awsrun's options are not offered: "--dry" belongs to the command.
    assert "--dry-run" not in _bash_complete(shell_env, ["awsrun", "-r", "X", "--", "git", "--dry"])
    assert "--dry-run" not in _bash_complete(shell_env, ["awsrun", "-r", "X", "make", "--dry"])


def test_the_script_picks_up_new_profiles_without_reinstalling(shell_env: Dict[str, str]) -> None:
    before = _bash_complete(shell_env, ["awsrun", "-p", "n"])
    with open(os.environ["AWS_CONFIG_FILE"], "a") as stream:
        stream.write("[profile newly-added]\n")
    assert (before, _bash_complete(shell_env, ["awsrun", "-p", "n"])) == ([], ["newly-added"])


# --- paths, as bash splits words without the bash-completion package ---------------------------

BREAKS = "\"'@><=;|&(:"  # bash's COMP_WORDBREAKS, less the blanks


def _bash_words(line: str) -> List[str]:
    """COMP_WORDS as bash builds them: blanks separate words, and a run of COMP_WORDBREAKS
    characters is a word of its own (``--each-role @ro`` is ``--each-role``, ``@``, ``ro``)."""
    words: List[str] = []
    for blank_separated in line.split(" "):
        pieces = re.findall(f"[{re.escape(BREAKS)}]+|[^{re.escape(BREAKS)}]+", blank_separated)
        words.extend(pieces or [""])
    return words


def _bash_complete_line(env: Dict[str, str], line: str, cwd: Path) -> Tuple[List[str], str]:
    """The replies bash gets for ``line`` (cursor at its end), in a bash with no bash-completion,
    and the line as it reads once bash puts in a single reply."""
    import shlex

    words = _bash_words(line)
    script = (
        'source <(awsrun --completion bash)\n'
        f'COMP_WORDS=({" ".join(shlex.quote(word) for word in words)}); COMP_CWORD={len(words) - 1}\n'
        f'COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n'
        'declare -F _init_completion _filedir >/dev/null && exit 3\n'  # no bash-completion here
        '_awsrun; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=30)
    assert result.returncode == 0, result.stderr
    replies = [word for word in result.stdout.splitlines() if word]
    completed = line[:len(line) - len(_replaced(line))] + replies[0] if len(replies) == 1 else line
    return replies, completed


def _replaced(line: str) -> str:
    """The text readline replaces with a reply: after the word's last break character, or
    from it when that is @ or $ (readline's special prefixes, kept for @host and $VAR)."""
    word = line.split(" ")[-1]
    last = max((index for index, char in enumerate(word) if char in BREAKS), default=-1)
    return word[last:] if last >= 0 and word[last] in "@$" else word[last + 1:]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    for name in ("roles.txt", "policy.json", "ops.env"):
        (work / name).write_text("x\n")
    return work


@pytest.mark.parametrize(
    "line, replies, completed",
    [
        ("awsrun --each-role @ro", ["@roles.txt"], "awsrun --each-role @roles.txt"),
        ("awsrun --each-role @", ["@out/", "@ops.env", "@policy.json", "@roles.txt"], None),
        ("awsrun --each-role=@ro", ["@roles.txt"], "awsrun --each-role=@roles.txt"),
        ("awsrun --each-role ro", [], None),  # a role, not a command name
        ("awsrun --report r", ["roles.txt"], "awsrun --report roles.txt"),
        ("awsrun --report=po", ["policy.json"], "awsrun --report=policy.json"),
        ("awsrun --output-dir o", ["out"], "awsrun --output-dir out"),  # folders only
        ("awsrun --policy po", ["policy.json"], "awsrun --policy policy.json"),
        ("awsrun --env-file op", ["ops.env"], "awsrun --env-file ops.env"),
        ("awsrun -r X --env-file=o", ["ops.env", "out"], None),
    ],
)
def test_bash_completes_paths_without_bash_completion(shell_env: Dict[str, str], folder: Path, line: str,
                                                      replies: List[str], completed: Optional[str]) -> None:
    got, final = _bash_complete_line(shell_env, line, folder)
    assert sorted(got) == sorted(replies)
    if completed:
        assert final == completed


def test_bash_split_words_still_find_the_command(shell_env: Dict[str, str], folder: Path) -> None:
    replies, _ = _bash_complete_line(shell_env, "awsrun --each-role @roles.txt make --dry", folder)
    assert "--dry-run" not in replies
    replies, _ = _bash_complete_line(shell_env, "awsrun --each-role=@roles.txt --report=r.xml --dry", folder)
    assert replies == ["--dry-run"]


def _interactive_bash_line(env: Dict[str, str], typed: str, cwd: Path) -> str:
    """What an interactive bash (no rc file, no bash-completion) shows after ``typed`` and TAB."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: a real interactive bash
        os.chdir(cwd)
        os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)

    def read(seconds: float) -> str:
        out, end = b"", time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return out.decode(errors="replace")

    try:
        os.write(fd, b"PS1='> '; source <(awsrun --completion bash)\n")
        read(1.5)
        os.write(fd, typed.encode() + b"\t")
        return _as_displayed(read(1.5))
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def _as_displayed(echo: str) -> str:
    """The last line of terminal output as it reads on screen (readline redraws with backspaces)."""
    shown: List[str] = []
    column = 0
    for char in echo.split("\n")[-1]:
        if char == "\b":
            column = max(column - 1, 0)
        elif char == "\r":
            column = 0
        elif char.isprintable():
            shown[column:column + 1] = [char]
            column += 1
    return "".join(shown)


@pytest.mark.parametrize("typed, completed", [
    ("awsrun --each-role @ro", "awsrun --each-role @roles.txt "),
    ("awsrun --report=po", "awsrun --report=policy.json "),
    ("awsrun --output-dir o", "awsrun --output-dir out/"),
])
def test_a_real_bash_without_bash_completion_completes_paths(shell_env: Dict[str, str], folder: Path,
                                                             typed: str, completed: str) -> None:
    shown = _interactive_bash_line(shell_env, typed, folder)
    assert shown.endswith(completed), shown


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_options_and_profiles(shell_env: Dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "awsrun.fish"
    script.write_text(run_awsrun(["--completion", "fish"]).stdout)
    env = {**shell_env, "XDG_CONFIG_HOME": str(tmp_path / "fishconfig"), "XDG_DATA_HOME": str(tmp_path / "fishdata")}

    def complete(line: str) -> List[str]:
        result = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
                                capture_output=True, text=True, env=env, timeout=30)
        assert result.returncode == 0, result.stderr
        return [entry.split("\t")[0] for entry in result.stdout.splitlines()]

    assert "--dry-run" in complete("awsrun --dry")
    assert {"default", "deploy", "ops-admin", "base"} <= set(complete("awsrun --profile "))
    assert complete("awsrun --format p") == ["powershell"]
    assert not list(tmp_path.rglob("pwned"))


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
@pytest.mark.parametrize("line, replies", [
    ("awsrun --each-role @ro", ["@roles.txt"]),
    ("awsrun --each-role ro", []),
    ("awsrun --output-dir o", ["out/"]),
    ("awsrun --report r", ["roles.txt"]),
    ("awsrun --policy=po", ["--policy=policy.json"]),
    ("awsrun --env-file op", ["ops.env"]),
])
def test_fish_completes_paths(shell_env: Dict[str, str], folder: Path, tmp_path: Path, line: str,
                              replies: List[str]) -> None:
    script = tmp_path / "awsrun.fish"
    script.write_text(run_awsrun(["--completion", "fish"]).stdout)
    env = {**shell_env, "XDG_CONFIG_HOME": str(tmp_path / "fishconfig"), "XDG_DATA_HOME": str(tmp_path / "fishdata")}
    result = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
                            capture_output=True, text=True, env=env, cwd=folder, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [entry.split("\t")[0] for entry in result.stdout.splitlines()] == replies


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_loads_the_script(shell_env: Dict[str, str]) -> None:
    result = subprocess.run(["zsh", "-f", "-c", "autoload -U compinit && compinit -u && source <(awsrun --completion zsh)"
                             " && (( $+functions[_awsrun] )) && echo ok"],
                            capture_output=True, text=True, env=shell_env, timeout=30)
    assert result.stdout.strip() == "ok", result.stderr


def test_every_option_of_the_usage_is_in_every_script() -> None:
    from docopt import parse_options

    from awsrun.cli import __doc__ as usage

    scripts = {shell: run_awsrun(["--completion", shell]).stdout for shell in ("bash", "zsh", "fish")}
    for option in parse_options(usage):
        assert option.longer in scripts["bash"] and option.longer in scripts["zsh"]
        assert f"-l {option.longer[2:]}" in scripts["fish"]


ZPTY = """zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source <(awsrun --completion zsh)'
sleep 1
zpty -w -n z "$1"$'\\t'
sleep 2
all=""
while zpty -r -t z line; do all+="$line"; done
print -r -- "$all"
zpty -d z
"""


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
@pytest.mark.parametrize("typed, completed", [("awsrun --profile ops", "awsrun --profile ops-admin"),
                                              ("awsrun --dry", "awsrun --dry-run"),
                                              ("awsrun --each-role @ro", "awsrun --each-role @roles.txt"),
                                              ("awsrun --output-dir o", "awsrun --output-dir out/"),
                                              ("awsrun --report=po", "awsrun --report=policy.json")])
def test_zsh_completes_in_a_real_interactive_shell(shell_env: Dict[str, str], tmp_path: Path, folder: Path,
                                                   typed: str, completed: str) -> None:
    driver = tmp_path / "drive.zsh"
    driver.write_text(ZPTY)
    result = subprocess.run(["zsh", "-f", str(driver), typed], capture_output=True, text=True, env=shell_env,
                            cwd=folder, timeout=60)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout)  # zsh's bold / for a folder
    assert completed in shown, result.stdout[-500:]
