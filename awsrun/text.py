"""Text from outside (STS answers, profiles, .env values, file names, botocore's messages)
made inert before awsrun prints it: one line, no terminal controls, no URL passwords."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re

__all__ = ["safe_text"]

# C0 (newline and tab too: a message is one line), DEL, C1, and the characters that
# reorder or break displayed text: bidi marks, embeddings, overrides and isolates, the
# Arabic letter mark, and the Unicode line and paragraph separators.
# Every one of them is outside str.isprintable(), which lets clean text skip the search.
CONTROL = "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
# scheme://userinfo@ : what comes before the host may be user:password.
_USERINFO = r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@"


def _escaped(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every control shown as an escape (``\\x1b``, ``\\u202e``) and the
    user:password of any URL replaced by ``***``."""
    text = str(text)
    if text.isprintable() and "@" not in text:  # most lines: nothing to escape, no userinfo
        return text
    import re  # compiled on first use (re caches it): a clean line costs no pattern

    return re.sub(CONTROL, _escaped, re.sub(_USERINFO, r"\1***@", text))
