"""The one console of awsrun and awsrun-keys: every line either command shows passes here.

Text from outside (STS answers, profiles, .env values, file names, child output labels)
goes through safe_text before a terminal sees it, so none of it can move the cursor,
forge a line or show a URL's password. The only text written raw is text the user asked
for as data: the help, the completion script, and the secrets of --export,
--credential-process and ``awsrun-keys get`` (``data``).
"""

from __future__ import annotations

from typing import Mapping, TextIO

__all__ = ["Console"]


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
            from awsrun.text import safe_text  # here, not above: a quiet hit says nothing

            print(f"{self.prog}: {safe_text(message)}", file=self.err)

    def warn(self, message: str) -> None:
        """Warnings show even with --quiet: they say something went differently than asked."""
        from awsrun.text import safe_text

        print(f"{self.prog}: warning: {safe_text(message)}", file=self.err)

    def fail(self, message: str) -> None:
        """The one line of a failure (after the traceback, with --debug)."""
        from awsrun.text import safe_text

        if self.debug:
            self.traceback()
        print(f"{self.prog}: {safe_text(message)}", file=self.err)

    def traceback(self) -> None:
        """The traceback of the exception being handled, each line inert (it quotes what failed)."""
        import traceback

        from awsrun.text import safe_text

        for line in traceback.format_exc().splitlines():
            print(safe_text(line), file=self.err)

    def line(self, text: str) -> None:
        """One line of output on stdout (a listing, a plan), made inert."""
        from awsrun.text import safe_text

        print(safe_text(text), file=self.out)

    def data(self, text: str) -> None:
        """Text written to stdout exactly as given: awsrun's own help and scripts, or what the
        user asked for as data (exported credentials). Never text from outside for a terminal."""
        self.out.write(text)
