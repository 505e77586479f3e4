"""Text from outside made inert, and the one console of awsrun and awsrun-keys that prints it.

Text from outside (STS answers, profiles, .env values, file names, botocore's messages, child
output labels) goes through safe_text before a terminal sees it: one line, no terminal controls,
no URL passwords. Every line either command shows passes through Console; the only text written
raw is text the user asked for as data: the help, the completion script, and the secrets of
--export, --credential-process and ``awsrun-keys get`` (``Console.data``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, TextIO

if TYPE_CHECKING:
    import re

__all__ = ["Console", "safe_text", "child_line"]

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


# In a child's line: C0 but TAB, DEL, C1 (as characters, and as lone bytes that are not UTF-8).
_CHILD_CONTROL = "[\x00-\x08\x0a-\x1f\x7f-\x9f\udc80-\udc9f]"
_CHILD_SUSPECT = rb"[\x00-\x08\x0a-\x1f\x7f-\x9f]"  # a cheap first look: C1 bytes are also UTF-8 continuations


def _child_escaped(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code - 0xdc00 if code >= 0xdc00 else code:02x}"


def child_line(line: bytes) -> bytes:
    """One line of a child's output as shown after its ``[ROLE@ACCOUNT]`` label: the controls
    that move the cursor or rewrite the screen (C0 but TAB, DEL, C1) shown as escapes, so no
    role can overwrite another's label; everything else, bidi and invalid UTF-8 included, as is.

    Bidi marks stay: the label is strong left-to-right text ahead of them, so they reorder
    only the rest of the child's own line, and escaping them would mangle real RTL output.
    A CR right before the newline (CRLF) is the end of the line, not a control, and is dropped.
    """
    import re

    if line.endswith(b"\r"):
        line = line[:-1]
    if not re.search(_CHILD_SUSPECT, line):
        return line
    text = line.decode("utf-8", "surrogateescape")
    return re.sub(_CHILD_CONTROL, _child_escaped, text).encode("utf-8", "surrogateescape")



class Console:
    """A command's voice on stderr and its data on stdout, and whether --debug and --quiet are on yet."""

    def __init__(self, environ: Mapping[str, str], out: TextIO, err: TextIO, prog: str = "awsrun") -> None:
        self.out, self.err, self.prog = out, err, prog
        # Known for sure only once settings are resolved; until then, the environment's word.
        self.debug = environ.get("AWSRUN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
        self.quiet = False

    def say(self, message: str) -> None:
        """An informational line on stderr (silent with --quiet)."""
        if not self.quiet:
            print(f"{self.prog}: {safe_text(message)}", file=self.err)

    def warn(self, message: str) -> None:
        """Warnings show even with --quiet: they say something went differently than asked."""
        print(f"{self.prog}: warning: {safe_text(message)}", file=self.err)

    def fail(self, message: str) -> None:
        """The one line of a failure (after the traceback, with --debug)."""
        if self.debug:
            self.traceback()
        print(f"{self.prog}: {safe_text(message)}", file=self.err)

    def traceback(self) -> None:
        """The traceback of the exception being handled, each line inert (it quotes what failed)."""
        import traceback

        for line in traceback.format_exc().splitlines():
            print(safe_text(line), file=self.err)

    def line(self, text: str) -> None:
        """One line of output on stdout (a listing, a plan), made inert."""
        print(safe_text(text), file=self.out)

    def data(self, text: str) -> None:
        """Text written to stdout exactly as given: awsrun's own help and scripts, or what the
        user asked for as data (exported credentials). Never text from outside for a terminal."""
        self.out.write(text)
