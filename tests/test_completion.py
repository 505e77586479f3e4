"""awsrun --completion bash|zsh|fish: scripts that real shells load and that complete
options, formats and the AWS config's profile names (read when completing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

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
                                              ("awsrun --dry", "awsrun --dry-run")])
def test_zsh_completes_in_a_real_interactive_shell(shell_env: Dict[str, str], tmp_path: Path,
                                                   typed: str, completed: str) -> None:
    driver = tmp_path / "drive.zsh"
    driver.write_text(ZPTY)
    result = subprocess.run(["zsh", "-f", str(driver), typed], capture_output=True, text=True, env=shell_env,
                            timeout=60)
    assert completed in result.stdout, result.stdout[-500:]
