"""The --policy session policy: inline JSON or a file holding it, compacted as STS counts it.

Only runs given --policy import this module (json, the bounded reader).
"""

from __future__ import annotations

import json
from typing import Callable

from awsrun.errors import InvalidValue
from awsrun.files import NOT_REGULAR, read_bounded

__all__ = ["MAX_POLICY_CHARS", "MAX_POLICY_FILE_BYTES", "policy", "read_text"]

MAX_POLICY_CHARS = 2048
# A policy file is read only up to this size: STS takes at most MAX_POLICY_CHARS once the
# whitespace is compacted away, and 32 times that leaves room for any indentation.
MAX_POLICY_FILE_BYTES = 64 * 1024


def policy(value: str, read_text: Callable[[str], str]) -> str:
    """Accept inline JSON or a file holding it; return it compact, as STS counts it."""
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = read_text(value)
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
            raise InvalidValue("policy", value, f"not inline JSON and not a readable file ({exc.__class__.__name__})") from None

    def not_json(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        document = json.loads(text, parse_constant=not_json)
    except ValueError as exc:
        raise InvalidValue("policy", value, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidValue("policy", value, "nested too deeply to be a policy") from None
    if not isinstance(document, dict):
        raise InvalidValue("policy", value, "expected a JSON object")
    compact = json.dumps(document, separators=(",", ":"))
    if len(compact) > MAX_POLICY_CHARS:
        raise InvalidValue(
            "policy", value, f"{len(compact)} characters once compacted, at most {MAX_POLICY_CHARS}"
        )
    return compact


def read_text(path: str) -> str:
    """A --policy file's text, through the bounded reader (files.py): anything but a regular
    file of at most MAX_POLICY_FILE_BYTES is refused before a byte is read."""
    limit = MAX_POLICY_FILE_BYTES

    def refuse(why: str) -> InvalidValue:
        if why == NOT_REGULAR:
            return InvalidValue("policy", path, "not inline JSON and not a regular file")
        return InvalidValue("policy", path, f"a file larger than {limit // 1024} KiB cannot be a session policy "
                            f"(STS takes at most {MAX_POLICY_CHARS} characters without whitespace)")

    return read_bounded(path, limit, refuse).decode("utf-8")
