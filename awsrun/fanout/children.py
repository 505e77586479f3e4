"""Run many children at once: whole prefixed lines on awsrun's streams, signals passed on once.

Each child's stdout and stderr are pipes read by the thread that started it; every
complete line is written to awsrun's own stdout or stderr in one write, under one lock,
so no line ever holds bytes of two runs. --output-dir gives each child files instead.
Each child is started through awsrun.deliver.launch; a prefixed line is made inert
(text.child_line) before it is written.
"""

from __future__ import annotations

import collections
import os
import selectors
import signal
import subprocess
import threading
from types import FrameType
from typing import IO, Callable, Deque, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

from awsrun.deliver import launch
from awsrun.text import child_line

__all__ = ["Sink", "Lines", "Stopper", "Outcome", "run_child", "TAIL_LINES"]

TAIL_LINES = 20
# A line longer than this is written in pieces, each ended as a line: memory stays bounded.
LONGEST_LINE = 1 << 20
_READ_SIZE = 65536

# A signal's disposition as signal.signal takes and returns it: a handler, SIG_DFL or SIG_IGN, or None.
Handler = Union[Callable[[int, Optional[FrameType]], object], int, None]


class Sink:
    """One of awsrun's own streams, shared by every pump; writes whole chunks under a lock."""

    def __init__(self, stream: IO[str], lock: threading.Lock) -> None:
        self._stream, self._lock = stream, lock
        self._binary = getattr(stream, "buffer", None)
        self.broken = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                if self._binary is not None:
                    self._stream.flush()
                    self._binary.write(data)
                    self._binary.flush()
                else:  # a text stream without bytes underneath (tests that call main() in-process)
                    self._stream.write(data.decode("utf-8", "replace"))
                    self._stream.flush()
            except (OSError, ValueError):  # the reader went away (| head): see _pump
                self.broken = True


class Lines:
    """Splits a child's stream into lines, each written with the role's prefix; keeps the last few."""

    def __init__(self, sink: Sink, prefix: bytes, keep_tail: bool) -> None:
        self._sink, self._prefix = sink, prefix
        self._pending = b""
        self.tail: Optional[Deque[bytes]] = collections.deque(maxlen=TAIL_LINES) if keep_tail else None

    def feed(self, data: bytes) -> None:
        pending = self._pending + data
        head, newline, rest = pending.rpartition(b"\n")
        lines = head.split(b"\n") if newline else []
        while len(rest) >= LONGEST_LINE:
            lines.append(rest[:LONGEST_LINE])
            rest = rest[LONGEST_LINE:]
        self._pending = rest
        self._emit(lines)

    @property
    def broken(self) -> bool:
        return self._sink.broken

    def finish(self) -> None:
        """At end of file: a last line without a newline is written with one, so the next run's line starts clean."""
        if self._pending:
            self._emit([self._pending])
            self._pending = b""

    def _emit(self, lines: List[bytes]) -> None:
        if not lines:
            return
        if self.tail is not None:
            self.tail.extend(lines)
        if self._prefix:  # after a label, no line may move the cursor: it could rewrite another role's label
            lines = [child_line(line) for line in lines]
        self._sink.write(b"".join(self._prefix + line + b"\n" for line in lines))


class Stopper:
    """Ctrl-C, SIGTERM and SIGHUP: start no new child, pass the signal on once to each running one."""

    def __init__(self, in_terminal_foreground: Callable[[], bool]) -> None:
        self._lock = threading.RLock()  # a second signal may arrive inside the first one's handler
        self._running: Set[subprocess.Popen[bytes]] = set()
        self._foreground = in_terminal_foreground
        self.signal: Optional[int] = None

    def stop(self, signum: int, frame: Optional[FrameType] = None) -> None:
        with self._lock:
            if self.signal is None:
                self.signal = signum
            # Keyboard signals already reached every child of the terminal's foreground group.
            if signum != signal.SIGTERM and self._foreground():
                return
            for child in list(self._running):
                try:
                    child.send_signal(signum)
                except ProcessLookupError:
                    pass

    def start(self, launch: Callable[[], subprocess.Popen[bytes]]) -> Optional[subprocess.Popen[bytes]]:
        """Start a child unless a stop came first (None then)."""
        with self._lock:
            if self.signal is not None:
                return None
            child = launch()
            self._running.add(child)
            return child

    def done(self, child: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(child)

    def install(self, signals: Sequence[int]) -> Dict[int, Handler]:
        """Take over ``signals``; returns the previous handlers for restore()."""
        return {number: signal.signal(number, self.stop) for number in signals}

    @staticmethod
    def restore(previous: Mapping[int, Handler]) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)


class Outcome(NamedTuple):
    """How a child ended: 128+N for a signal N (and the signal), or None when it never started."""

    status: Optional[int]
    signal: Optional[int]
    stderr_tail: Tuple[str, ...]


def run_child(command: Sequence[str], environ: Mapping[str, str], stopper: Stopper, with_stdin: bool,
              out: Optional[Lines], err: Optional[Lines], files: Optional[Tuple[IO[bytes], IO[bytes]]],
              warn: Callable[[str], None]) -> Outcome:
    """Start the command (awsrun.deliver.launch), pump its output as lines (or into ``files``), wait; its outcome."""

    def start() -> subprocess.Popen[bytes]:
        stdout, stderr = files if files else (subprocess.PIPE, subprocess.PIPE)
        return launch.start(command, environ, warn, stdin=None if with_stdin else subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr)

    child = stopper.start(start)
    if child is None:
        return Outcome(None, None, ())
    try:
        if not files:
            _pump(child, out, err)
        status = child.wait()  # a worker thread: signals are the main thread's (Stopper)
    finally:
        stopper.done(child)
    tail = tuple(line.decode("utf-8", "replace") for line in (err.tail if err and err.tail is not None else ()))
    return Outcome(128 - status if status < 0 else status, -status if status < 0 else None, tail)


def _pump(child: subprocess.Popen[bytes], out: Optional[Lines], err: Optional[Lines]) -> None:
    """Read both pipes until both end, so neither can fill up and stall the child."""
    with selectors.DefaultSelector() as selector:
        for pipe, lines in ((child.stdout, out), (child.stderr, err)):
            selector.register(pipe, selectors.EVENT_READ, lines)
        while selector.get_map():
            for key, _ in selector.select():
                data = os.read(key.fd, _READ_SIZE)
                if data:
                    key.data.feed(data)
                    if not key.data.broken:
                        continue
                # At the end, or nobody reads awsrun's stream any more: closing the pipe lets
                # the child's next write fail (SIGPIPE), as it would without awsrun between.
                selector.unregister(key.fileobj)
                key.fileobj.close()
                key.data.finish()


def tail_of_file(path: str) -> Tuple[str, ...]:
    """The last lines of a file --output-dir wrote, for the report."""
    try:
        with open(path, "rb") as stream:
            stream.seek(max(0, os.fstat(stream.fileno()).st_size - 16384))
            data = stream.read()
    except OSError:
        return ()
    lines = data.decode("utf-8", "replace").splitlines()
    return tuple(lines[-TAIL_LINES:])
