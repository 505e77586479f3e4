"""Shell completion scripts, written from the usage docstring, and the profile names they offer.

The scripts ask ``awsrun --completion profiles`` for profile names each time they complete
``--profile``, so new profiles show up without reinstalling. The names are read with the
standard library, as the cache key reads them (configfiles.py): completion never imports
botocore.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, NamedTuple, Optional

from awsrun.errors import UsageError

__all__ = ["SHELLS", "script", "profile_names"]

SHELLS = ("bash", "zsh", "fish")
FORMATS = ("sh", "fish", "powershell", "dotenv")
_FILE_OPTIONS = ("--env-file", "--policy")


class Spec(NamedTuple):
    """One option of the usage docstring: its names, whether it takes a value, its help line."""

    short: Optional[str]
    long: str
    takes_value: bool
    help: str


def specs(usage: str) -> List[Spec]:
    """Every option the usage docstring describes (docopt reads the same lines)."""
    from docopt import parse_options

    helps: Dict[str, List[str]] = {}
    current: List[str] = []
    for line in usage.splitlines():
        if line.lstrip().startswith("-"):
            names, _, text = line.strip().partition("  ")
            current = [text]
            for name in re.findall(r"--?[\w-]+", names):
                helps.setdefault(name, current)
        elif line.startswith(" " * 20) and current:  # the description goes on
            current.append(line)
        else:
            current = []
    return [Spec(option.short, option.longer, option.argcount > 0, _first_sentence(helps.get(option.longer, [])))
            for option in parse_options(usage) if option.longer]


def _first_sentence(lines: List[str], limit: int = 70) -> str:
    text = " ".join(" ".join(lines).split())
    text = re.split(r"(?<=[a-z)])\. ", text)[0].rstrip(".")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",:;") + "..."
    return text


def _values(option: str) -> Optional[str]:
    """The fixed words an option's value is one of, as one string; None if free or a file."""
    return {"--format": " ".join(FORMATS), "--completion": " ".join(SHELLS)}.get(option)


def script(shell: str, usage: str) -> str:
    if shell == "bash":
        return _bash(specs(usage))
    if shell == "zsh":
        return _zsh(specs(usage))
    if shell == "fish":
        return _fish(specs(usage))
    raise UsageError(f"--completion {shell!r}: expected one of {', '.join(SHELLS)} (or profiles)")


def _names(spec: Spec) -> List[str]:
    return [name for name in (spec.short, spec.long) if name]


def _word_lists(options: List[Spec]) -> tuple:
    """The options that take a value, every option, and those that name a file, as the
    shells' case patterns and word lists want them."""
    with_value = "|".join(name for spec in options if spec.takes_value for name in _names(spec))
    every = " ".join(name for spec in options for name in _names(spec))
    files = "|".join(name for spec in options if spec.long in _FILE_OPTIONS for name in _names(spec))
    return with_value, every, files


def _bash(options: List[Spec]) -> str:
    with_value, every, files = _word_lists(options)
    cases = "".join(f"        {'|'.join(_names(spec))}) COMPREPLY=($(compgen -W \"{_values(spec.long)}\" -- \"$cur\")); return;;\n"
                    for spec in options if _values(spec.long))
    return f"""# bash completion for awsrun: source <(awsrun --completion bash)
_awsrun() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" i=1 word
    # Where the command starts, everything after it is the command's own.
    while [ "$i" -lt "$COMP_CWORD" ]; do
        word="${{COMP_WORDS[i]}}"
        case "$word" in
            --) i=$((i + 1)); break;;
            {with_value}) i=$((i + 2)); continue;;
            -*) ;;
            *) break;;
        esac
        i=$((i + 1))
    done
    if [ "$i" -lt "$COMP_CWORD" ] || {{ [ "$i" -eq "$COMP_CWORD" ] && [ "$word" = "--" ]; }}; then
        if declare -F _command_offset >/dev/null; then _command_offset "$i"; return; fi
        if [ "$i" -eq "$COMP_CWORD" ]; then COMPREPLY=($(compgen -c -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
        return
    fi
    case "$prev" in
        -p|--profile) COMPREPLY=($(compgen -W "$(command awsrun --completion profiles 2>/dev/null)" -- "$cur")); return;;
{cases}        {files}) COMPREPLY=($(compgen -f -- "$cur")); return;;
        {with_value}) return;;
    esac
    case "$cur" in
        -*) COMPREPLY=($(compgen -W "{every}" -- "$cur"));;
        *) COMPREPLY=($(compgen -c -- "$cur"));;
    esac
}}
complete -F _awsrun awsrun
"""


def _zsh(options: List[Spec]) -> str:
    with_value, every, files = _word_lists(options)
    cases = "".join(f"        {'|'.join(_names(spec))}) compadd -- {_values(spec.long)}; return;;\n"
                    for spec in options if _values(spec.long))
    return f"""#compdef awsrun
# zsh completion for awsrun: source <(awsrun --completion zsh), after compinit
_awsrun() {{
    local i=2
    while (( i < CURRENT )); do
        case "$words[i]" in
            --) (( i++ )); break;;
            {with_value}) (( i += 2 )); continue;;
            -*) ;;
            *) break;;
        esac
        (( i++ ))
    done
    if (( i < CURRENT )) || [[ "$words[i-1]" == -- && i -eq CURRENT ]]; then
        shift $(( i - 1 )) words; (( CURRENT -= i - 1 )); _normal; return
    fi
    case "$words[CURRENT-1]" in
        -p|--profile) compadd -- ${{(f)"$(command awsrun --completion profiles 2>/dev/null)"}}; return;;
{cases}        {files}) _files; return;;
        {with_value}) return;;
    esac
    if [[ "$PREFIX" == -* ]]; then compadd -- {every}; else _command_names; fi
}}
compdef _awsrun awsrun
"""


def _fish(options: List[Spec]) -> str:
    lines = ["# fish completion for awsrun: awsrun --completion fish > ~/.config/fish/completions/awsrun.fish",
             "complete -c awsrun -x -a '(__fish_complete_subcommand)'"]
    for spec in options:
        parts = ["complete -c awsrun"]
        if spec.short:
            parts.append(f"-s {spec.short[1:]}")
        parts.append(f"-l {spec.long[2:]}")
        if spec.long == "--profile":
            parts.append("-x -a '(command awsrun --completion profiles 2>/dev/null)'")
        elif _values(spec.long):
            parts.append(f"-x -a '{_values(spec.long)}'")
        elif spec.long in _FILE_OPTIONS:
            parts.append("-r -F")
        elif spec.takes_value:
            parts.append("-x")
        if spec.help:
            parts.append("-d " + _fish_quote(spec.help))
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def profile_names(environ: Mapping[str, str]) -> List[str]:
    """The profiles of the AWS config and credentials files as botocore reads them, names only;
    files botocore would not read give none."""
    from awsrun import configfiles

    try:
        found = configfiles.read(environ).profiles
    except (OSError, ValueError):
        return []
    # Only plain names: the scripts hand them to compgen -W, which expands $(...).
    return [name for name in found if re.fullmatch(r"[\w.@+=,:/-]+", name, re.ASCII)]
