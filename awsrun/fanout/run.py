"""The run phase of --each-role: credentials per role (cache, then STS in parallel), children, summary.

At most ``parallel`` roles are in flight at once, each in a worker thread that gets its
role's session and then runs and pumps its command. Hops every role shares (--role
before --each-role) are assumed once; an MFA code is asked once, before any thread starts.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from awsrun.fanout import children, report
from awsrun.errors import AwsrunError, ConfigError, ExitStatus
from awsrun.files import PUBLIC, NewFile, WriteError, write_bytes

__all__ = ["Fanout"]


class Fanout:
    """One --each-role run: the planned roles, the shared STS clients, the streams, the stopper."""

    def __init__(self, opts: Any, shared: Any, console: Any, prepared: Any, plans: Sequence[Sequence[Any]],
                 names: Sequence[str], per_role: Sequence[Any]) -> None:
        self.opts, self.shared, self.console, self.prepared = opts, shared, console, prepared
        self.config = shared.config
        self.plans, self.names, self.per_role = list(plans), list(names), list(per_role)
        lock = threading.Lock()
        self.out = children.Sink(console.out, lock)
        self.err = children.Sink(console.err, lock)
        self.clients = _SharedClients(prepared.source, opts.parallel)
        self.start: Any = None
        self.tails: List[Sequence[Any]] = self.plans

    def run(self) -> int:
        from concurrent.futures import ThreadPoolExecutor

        from awsrun.session.cache import open_cache
        from awsrun.session.cachekey import plan_key
        from awsrun.deliver.refresh import FORWARDED_SIGNALS, in_terminal_foreground

        config, shared = self.config, self.shared
        began = time.monotonic()  # the report's suite time: the run's wall time, not the sum of the roles
        if self.opts.output_dir:
            try:
                os.makedirs(self.opts.output_dir, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create --output-dir {self.opts.output_dir}: {exc.strerror}") from None
        self.store = open_cache(shared.environ, self.console.warn) if config.use_cache else None
        # A role whose key cannot be known here goes without the cache (None), as in exec mode.
        self.keys = [plan_key(settings, shared.environ, shared.dotenv_credentials, shared.region,
                              self.store.folder) if self.store else None
                     for settings in self.per_role]
        if any(not self._cached(planned) for planned in self.keys):
            self._begin()
        from awsrun.fanout.plan import source_tokens

        self.secrets = source_tokens(shared, self.store.folder if self.store else None)
        self.stopper = children.Stopper(in_terminal_foreground)
        previous = self.stopper.install(FORWARDED_SIGNALS)
        try:
            with ThreadPoolExecutor(max_workers=self.opts.parallel, thread_name_prefix="awsrun-role") as pool:
                futures = [pool.submit(self._one, index) for index in range(len(self.names))]
                results = [self._settled(index, future) for index, future in enumerate(futures)]
        finally:
            children.Stopper.restore(previous)
        return self._finish(results, time.monotonic() - began)

    def _min_ttl(self, planned: Any) -> int:
        from awsrun.session.cachekey import effective_min_ttl

        return effective_min_ttl(self.config, planned.duration if planned else None)

    def _cached(self, planned: Any) -> bool:
        return (bool(self.store) and planned is not None and not self.config.fresh
                and self.store.get(planned.key, self._min_ttl(planned)) is not None)

    def _begin(self) -> None:
        """Before any thread: assume the hops all roles share, or get an MFA session, asking once."""
        from awsrun.session import chain, walk

        config, source, region = self.config, self.prepared.source, self.prepared.region
        timeouts = (config.connect_timeout, config.read_timeout)
        prefix = self.plans[0][:-1]
        if prefix and all(hops[:-1] == prefix for hops in self.plans):
            self.start = walk.assume_all(self.clients, self.plans[0][:-1], region, timeouts, config.mfa_code,
                                         self.shared.ask_code, self.console.warn)
            self.tails = [hops[-1:] for hops in self.plans]
            return
        serial = self.plans[0][0].request.mfa_serial
        if serial:
            self.start = walk.mfa_session(source, serial, region, timeouts, config.mfa_code, self.shared.ask_code,
                                          self.console.warn)
            self.tails = [chain.without_mfa(hops) for hops in self.plans]

    def _credentials(self, index: int) -> Any:
        from awsrun.session import walk
        from awsrun.session.cache import Entry, cached

        config, region = self.config, self.prepared.region

        def fetch() -> Any:
            credentials = walk.assume_all(self.clients, self.tails[index], region,
                                          (config.connect_timeout, config.read_timeout), config.mfa_code,
                                          self.shared.ask_code, self.console.warn, start=self.start)
            return Entry(credentials, region)

        planned = self.keys[index]
        return cached(self.store if planned else None, planned.key if planned else "", self._min_ttl(planned),
                      config.fresh, fetch)

    def _one(self, index: int) -> report.Result:
        """One role: its session, then its command; never raises for awsrun's own failures."""
        from awsrun.fanout.plan import exec_environment

        name, role_arn = self.names[index], self.plans[index][-1].request.role_arn
        began = time.monotonic()
        if self.stopper.signal is not None:
            return report.Result(name, role_arn, None, 0.0)
        files: Optional[Tuple[NewFile, NewFile]] = None
        try:
            entry = self._credentials(index)
            environ = exec_environment(self.shared.child_base, entry.credentials, entry.region, self.config,
                                       self.shared.config_file, self.secrets)
            if self.opts.output_dir:
                files = self._files(name)
            prefix = f"[{name}] ".encode("utf-8") if self.opts.prefix else b""
            out = None if files else children.Lines(self.out, prefix, keep_tail=False)
            err = None if files else children.Lines(self.err, prefix, keep_tail=True)
            outcome = children.run_child(self.shared.command, environ, self.stopper, len(self.names) == 1,
                                         out, err, (files[0].stream, files[1].stream) if files else None,
                                         self.console.warn)
            if files:
                self._commit(files)
        except AwsrunError as exc:
            self._say_failure(name, str(exc), files)
            return report.Result(name, role_arn, int(exc.exit_status), time.monotonic() - began, reason=str(exc))
        finally:
            for new in files or ():
                new.discard()  # after a commit, only closes
        tail = children.tail_of_file(self._path(name, "err")) if files else outcome.stderr_tail
        return report.Result(name, role_arn, outcome.status, time.monotonic() - began, signal=outcome.signal,
                             stderr_tail=tail)

    def _path(self, name: str, kind: str) -> str:
        return os.path.join(self.opts.output_dir, f"{name}.{kind}")

    def _files(self, name: str) -> Tuple[NewFile, NewFile]:
        """New LABEL.out and LABEL.err, temporary files until the command ends (files.NewFile):
        each replaces the old one whole, never written through a link."""
        out = NewFile(self._path(name, "out"), PUBLIC)
        try:
            return out, NewFile(self._path(name, "err"), PUBLIC)
        except WriteError:
            out.discard()
            raise

    @staticmethod
    def _commit(files: Tuple[NewFile, NewFile]) -> None:
        error: Optional[WriteError] = None
        for new in files:
            try:
                new.commit()
            except WriteError as exc:
                error = error or exc
        if error:
            raise error

    def _say_failure(self, name: str, reason: str, files: Optional[Tuple[NewFile, NewFile]]) -> None:
        """The reason goes to the role's .err file; on the terminal it is said once: by the
        summary's row, or here when --quiet leaves the summary out."""
        from awsrun.text import safe_text  # the reason may quote STS: inert in files and on the terminal

        line = f"awsrun: {safe_text(reason)}\n".encode("utf-8")
        if self.opts.output_dir:
            try:
                if files and not files[1].stream.closed:  # the command's stderr, then why awsrun failed
                    files[1].stream.write(line)
                    self._commit(files)
                else:
                    write_bytes(self._path(name, "err"), line, PUBLIC)
            except (OSError, WriteError):
                return  # the summary still says why
        elif self.config.quiet:
            self.err.write((f"[{name}] " if self.opts.prefix else "").encode("utf-8") + line)

    def _settled(self, index: int, future: Any) -> report.Result:
        try:
            return future.result()
        except Exception as exc:  # a bug in a worker: that role failed, the others carry on
            reason = f"internal error ({exc.__class__.__name__}); run with --debug for details"
            if self.console.debug:
                self.console.traceback()
            return report.Result(self.names[index], self.plans[index][-1].request.role_arn, 125, 0.0, reason=reason)

    def _finish(self, results: List[report.Result], wall: float) -> int:
        status = report.exit_status(results, single=len(results) == 1)
        if self.stopper.signal is not None:
            status = 128 + self.stopper.signal
        if not self.config.quiet:
            for line in report.summary_lines(results):
                self.console.say(line)
        if self.opts.report:
            try:
                report.write(self.opts.report, results, status, wall)
            except WriteError as exc:
                self.console.warn(f"could not write the report: {exc}")
                return status if status else ExitStatus.FAILURE
        return status


class _SharedClients:
    """An STS source whose clients are made one at a time and shared.

    botocore's Session.create_client is not thread-safe; a client, once made, is.
    """

    def __init__(self, source: Any, pool: int) -> None:
        self._source, self._pool = source, pool
        self._lock = threading.Lock()
        self._clients: Dict[Any, Any] = {}

    def client(self, region: str, connect_timeout: float, read_timeout: float, credentials: Any = None) -> Any:
        key = (region, credentials)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._source.client(region, connect_timeout, read_timeout, credentials=credentials,
                                                         max_pool_connections=self._pool)
            return self._clients[key]
