"""Shell completion scripts, written from the usage docstring, and the profile names they offer.

The scripts ask ``awsrun --completion profiles`` for profile names each time they complete
``--profile``, so new profiles show up without reinstalling. The names are read with the
standard library, as the cache key reads them (configfiles.py): completion never imports
botocore.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, NamedTuple, Optional

from awsrun.config import configfiles
from awsrun.errors import UsageError

__all__ = ["SHELLS", "script", "profile_names"]

SHELLS = ("bash", "zsh", "fish")
FORMATS = ("sh", "fish", "powershell", "dotenv")
_FILE_OPTIONS = ("--env-file", "--policy", "--report", "--rerun")
_FOLDER_OPTIONS = ("--output-dir",)
_AT_FILE_OPTIONS = ("--each-role",)  # a value @FILE names a file


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
    """The options that take a value, every option, those that name a file, and those that
    name a folder, as the shells' case patterns and word lists want them."""
    with_value = "|".join(name for spec in options if spec.takes_value for name in _names(spec))
    every = " ".join(name for spec in options for name in _names(spec))
    files = "|".join(name for spec in options if spec.long in _FILE_OPTIONS for name in _names(spec))
    folders = "|".join(name for spec in options if spec.long in _FOLDER_OPTIONS for name in _names(spec))
    return with_value, every, files, folders


# Without the bash-completion package (Debian's default shell has none) bash splits a word at
# every character of COMP_WORDBREAKS (@ = :): "--each-role @ro" reaches the function as "@" and
# "ro". The function joins what bash split (COMP_LINE tells where the spaces are), completes the
# whole word, and hands bash back only the part it will replace.
def _bash(options: List[Spec]) -> str:
    with_value, every, files, folders = _word_lists(options)
    cases = "".join(f"        {'|'.join(_names(spec))}) _awsrun_reply $(compgen -W \"{_values(spec.long)}\" -- \"$cur\"); return;;\n"
                    for spec in options if _values(spec.long))
    at_file = "|".join(name for spec in options if spec.long in _AT_FILE_OPTIONS for name in _names(spec))
    return f"""# bash completion for awsrun: source <(awsrun --completion bash)
# Needs no bash-completion package; with it, the command after -- completes as it would alone.
_awsrun_reply() {{
    local word
    COMPREPLY=()
    for word in "$@"; do COMPREPLY+=("${{pre}}${{word}}"); COMPREPLY[-1]="${{COMPREPLY[-1]:trim}}"; done
}}
_awsrun_paths() {{
    local -a found
    local k
    mapfile -t found < <(compgen "$1" -- "$cur")
    if [ "$trim" -ge "${{#pre}}" ]; then
        compopt -o filenames 2>/dev/null  # bash quotes them and marks folders
    else  # the reply keeps a prefix (@): bash would quote it, so mark folders here
        for k in "${{!found[@]}}"; do
            if [ -d "${{found[k]}}" ]; then found[k]+=/; compopt -o nospace 2>/dev/null; fi
        done
    fi
    _awsrun_reply "${{found[@]}}"
}}
_awsrun() {{
    local line="${{COMP_LINE:0:COMP_POINT}}" pos=0 k word gap cur prev pre="" trim i=1 n
    local -a tokens=() first=()
    # Rejoin the words bash split at @ = : (no space between them) into the words typed.
    for ((k = 0; k <= COMP_CWORD; k++)); do
        word="${{COMP_WORDS[k]}}"
        gap="${{line:pos}}"
        if [ -n "$word" ]; then gap="${{gap%%"$word"*}}"; fi
        if [ "$k" -gt 0 ] && [ -z "$gap" ] && [ -n "$word" ]; then
            tokens[${{#tokens[@]}}-1]+="$word"
        else
            tokens+=("$word"); first+=("$k")
        fi
        pos=$((pos + ${{#gap}} + ${{#word}}))
    done
    n=${{#tokens[@]}}
    cur="${{tokens[n-1]}}" prev="${{tokens[n-2]}}"
    # What bash replaces starts after the last of COMP_WORDBREAKS in the word, or at it
    # for @ and $ (readline keeps those in the word, for @host and $VAR).
    trim=${{#cur}}
    while [ "$trim" -gt 0 ] && [[ "$COMP_WORDBREAKS" != *"${{cur:trim-1:1}}"* ]]; do trim=$((trim - 1)); done
    case "${{cur:trim-1:1}}" in @|\\$) [ "$trim" -eq 0 ] || trim=$((trim - 1));; esac
    # Where the command starts, everything after it is the command's own.
    while [ "$i" -lt "$((n - 1))" ]; do
        word="${{tokens[i]}}"
        case "$word" in
            --) i=$((i + 1)); break;;
            {with_value}) i=$((i + 2)); continue;;
            -*) ;;
            *) break;;
        esac
        i=$((i + 1))
    done
    if [ "$i" -lt "$((n - 1))" ] || {{ [ "$i" -eq "$((n - 1))" ] && [ "$word" = "--" ]; }}; then
        if [ "$i" -lt "$n" ] && declare -F _command_offset >/dev/null; then _command_offset "${{first[i]}}"; return; fi
        cur="${{COMP_WORDS[COMP_CWORD]}}" trim=0
        if [ "$i" -eq "$((n - 1))" ]; then _awsrun_reply $(compgen -c -- "$cur"); else _awsrun_paths -f; fi
        return
    fi
    case "$cur" in
        --*=*) prev="${{cur%%=*}}" pre="${{cur%%=*}}=" cur="${{cur#*=}}";;
    esac
    case "$prev" in
        -p|--profile) _awsrun_reply $(compgen -W "$(command awsrun --completion profiles 2>/dev/null)" -- "$cur"); return;;
{cases}        {at_file}) if [ "${{cur:0:1}}" = "@" ]; then pre+="@" cur="${{cur:1}}"; _awsrun_paths -f; fi; return;;
        {files}) _awsrun_paths -f; return;;
        {folders}) _awsrun_paths -d; return;;
        {with_value}) return;;
    esac
    [ -z "$pre" ] || return
    case "$cur" in
        -*) _awsrun_reply $(compgen -W "{every}" -- "$cur");;
        *) _awsrun_reply $(compgen -c -- "$cur");;
    esac
}}
complete -F _awsrun awsrun
"""


def _zsh(options: List[Spec]) -> str:
    with_value, every, files, folders = _word_lists(options)
    cases = "".join(f"        {'|'.join(_names(spec))}) compadd -- {_values(spec.long)}; return;;\n"
                    for spec in options if _values(spec.long))
    at_file = "|".join(name for spec in options if spec.long in _AT_FILE_OPTIONS for name in _names(spec))
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
    local option="$words[CURRENT-1]"
    if [[ "$PREFIX" == --*=* ]]; then option="${{PREFIX%%=*}}"; compset -P '*='; fi
    case "$option" in
        -p|--profile) compadd -- ${{(f)"$(command awsrun --completion profiles 2>/dev/null)"}}; return;;
{cases}        {at_file}) compset -P '@' && _files; return;;
        {files}) _files; return;;
        {folders}) _files -/; return;;
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
        elif spec.long in _FOLDER_OPTIONS:
            parts.append("-x -a '(__fish_complete_directories (commandline -ct))'")
        elif spec.long in _AT_FILE_OPTIONS:  # @FILE: the path after the @, the @ kept
            parts.append("-x -a '(string match -q -- \"@*\" (commandline -ct); and __fish_complete_path "
                         "(string sub -s 2 -- (commandline -ct)) | string replace -r -- \"^\" @)'")
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
    try:
        found = configfiles.read(environ).profiles
    except (OSError, ValueError):
        return []
    # Only plain names: the scripts hand them to compgen -W, which expands $(...).
    return [name for name in found if re.fullmatch(r"[\w.@+=,:/-]+", name, re.ASCII)]
