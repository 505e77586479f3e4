"""Typos caught and named with the closest correct spelling: options and AWSRUN_* variables;
and awsrun's own options typed after the command, where the command gets them.

Which names exist is read from the docopt result (the usage docstring is the one spec), so
an option added there is known here without a second list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, List, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from typing import Protocol

    class DocoptOption(Protocol):
        """What is read of an option of docopt's parse_options."""

        short: Optional[str]
        longer: Optional[str]
        argcount: int

__all__ = ["closest", "known_variables", "unknown_variables", "options_among", "role_after_command"]
# The options that give awsrun a role.
_ROLE_OPTIONS = ("--role", "--profile", "--each-role")

# AWSRUN_* names awsrun reads or sets that are not options: the session it issued (exec
# and export set these, config/variables.py), the settings an export replaced (the export
# writer, output.py) and the credential_process loop guard (awsrun.session.loopguard).
OTHER_VARIABLES = ("AWSRUN_ASSUMED_ROLE_ARN", "AWSRUN_ASSUMED_KEY_ID", "AWSRUN_EXPORT_SAVED", "AWSRUN_SOURCE_PROFILES")
# Options that are not settings: asking for help by variable means nothing.
_NOT_VARIABLES = ("--help", "--version", "--completion")


def closest(name: str, candidates: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean X?)`` for the most similar candidate, or nothing.

    A ``prefix`` every name shares (``--``, ``AWSRUN_``) is left out of the comparison, or
    it would make any two names look alike.
    """
    from difflib import get_close_matches

    stems = {candidate[len(prefix):]: candidate for candidate in candidates if candidate.startswith(prefix)}
    found = get_close_matches(name[len(prefix):], sorted(stems), n=1, cutoff=0.6) if name.startswith(prefix) else []
    return f" (did you mean {stems[found[0]]}?)" if found else ""


def options_among(words: Sequence[str], options: Iterable[DocoptOption]) -> List[Tuple[str, str]]:
    """awsrun's options (docopt's parse_options of the usage) found in ``words``, a command's
    arguments: each as (its long name, what was typed with its value). Only to word a message:
    the words stay the command's."""
    known = list(options)
    found = []
    for index, word in enumerate(words):
        for option in known:
            short, long, takes = option.short, option.longer, option.argcount
            if word and word in (short, long):
                typed = [word] + list(words[index + 1:index + 2] if takes else [])
            elif takes and long and word.startswith(long + "="):
                typed = [word]
            elif takes and short and word.startswith(short) and not word.startswith("--"):
                typed = [word]  # -rVALUE
            else:
                continue
            found.append((long or short, " ".join(typed)))
            break
    return found


def role_after_command(command: str, words: Sequence[str], usage: str) -> str:
    """When a role option was typed after the command (``awsrun ls -la -r ROLE``), the command
    got it: say so, and that awsrun's options go before the command ("" when none was)."""
    if not command:
        return ""
    import shlex

    from docopt import parse_options

    given = [typed for name, typed in options_among(words, parse_options(usage)) if name in _ROLE_OPTIONS]
    if not given:
        return ""
    command = shlex.quote(command)
    return (f"{given[0]} came after the command, so {command} got it as its own argument; awsrun's options go "
            f"before the command: awsrun {given[0]} {command} ...")


def known_variables(options: Iterable[str]) -> List[str]:
    """``--session-name`` -> ``AWSRUN_SESSION_NAME`` for every option, plus awsrun's own."""
    names = [option for option in options if option.startswith("--") and option not in _NOT_VARIABLES + ("--",)]
    return ["AWSRUN_" + option[2:].upper().replace("-", "_") for option in names] + list(OTHER_VARIABLES)


def unknown_variables(options: Iterable[str], environ: Mapping[str, str], dotenv: Mapping[str, str],
                      origin: Mapping[str, str]) -> List[str]:
    """One warning per AWSRUN_* name (environment or .env) that awsrun does not read."""
    found = {name: "the environment" for name in environ if name.startswith("AWSRUN_")}
    for name in dotenv:
        if name.startswith("AWSRUN_"):
            found.setdefault(name, origin.get(name, ".env"))
    if not found:
        return []
    known = set(known_variables(options))
    return [f"unknown variable {_shown(name)} in {_shown(where)} is ignored{closest(name, known, 'AWSRUN_')}"
            for name, where in sorted(found.items()) if name not in known]


def _shown(text: str) -> str:
    """A name from a .env file as is when plain, else quoted: no control character reaches the terminal."""
    import re

    return text if re.fullmatch(r"[\w./ -]+", text, re.ASCII) else repr(text)
