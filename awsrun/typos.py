"""Typos caught and named with the closest correct spelling: options and AWSRUN_* variables.

Which names exist is read from the docopt result (the usage docstring is the one spec), so
an option added there is known here without a second list.
"""

from __future__ import annotations

from typing import Iterable, List, Mapping

__all__ = ["closest", "known_variables", "unknown_variables"]

# AWSRUN_* names awsrun reads or sets that are not options: the session it issued (exec
# and export set these), the settings an export replaced (awsrun.output) and the
# credential_process loop guard (awsrun.loopguard).
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
