"""The run phase of --each-role: credentials per role (cache, then STS in parallel), children, summary.

At most ``parallel`` roles are in flight at once, each in a worker thread that gets its
role's session and then runs and pumps its command. Hops every role shares (--role
before --each-role) are assumed once; an MFA code is asked once, before any thread starts.
The guards are the ones exec mode uses: each child's environment is built by
awsrun.deliver.environment, each child is started through awsrun.deliver.launch (by
fanout.children), output files are written through awsrun.files, and lines are made inert
(text.child_line) before they reach the terminal.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from awsrun.credentials import Credentials
from awsrun.deliver import environment
from awsrun.deliver.refresh import FORWARDED_SIGNALS, in_terminal_foreground
from awsrun.errors import AwsrunError, ConfigError, ExitStatus
from awsrun.fanout import children, report
from awsrun.session.rolesession import mfa_prompt
from awsrun.files import PUBLIC, NewFile, WriteError, write_bytes
from awsrun.session import chain, walk
from awsrun.session.hops import Hop
from awsrun.session.cache import Cache, Entry, cached, open_cache
from awsrun.session.cachekey import KeyPlan, effective_min_ttl, plan_key
from awsrun.deliver.modes import source_tokens
from awsrun.text import safe_text

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from awsrun.config.settings import Settings
    from awsrun.config.plan import Plan
    from awsrun.fanout.plan import Options
    from awsrun.session.source import Source
    from awsrun.text import Console

__all__ = ["Fanout"]


class Fanout:
    """One --each-role run: the planned roles, the shared STS clients, the streams, the stopper."""

    def __init__(self, opts: Options, shared: Plan, config_file: str, console: Console, prepared: walk.Prepared,
                 plans: Sequence[Sequence[Hop]], names: Sequence[str], per_role: Sequence[Settings],
                 start: Optional[Credentials] = None) -> None:
        """``start``: the session of the hops every role shares, when already assumed (--each-account)."""
        self.opts, self.shared, self.console, self.prepared = opts, shared, console, prepared
        self.config_file = config_file  # the command's AWS_CONFIG_FILE: the neutral copy
        self.config = shared.config
        self.plans, self.names, self.per_role = list(plans), list(names), list(per_role)
        lock = threading.Lock()
        self.out = children.Sink(console.out, lock)
        self.err = children.Sink(console.err, lock)
        self.clients = _SharedClients(prepared.source, opts.parallel)
        self.start: Optional[Credentials] = start  # the session of the hops every role shares, or an MFA one
        self.tails: List[Sequence[Hop]] = [hops[-1:] for hops in self.plans] if start else list(self.plans)
        self.failed = 0  # runs that ended not ok, for --max-failures
        self.lock = threading.Lock()  # guards self.failed

    def run(self) -> int:
        config, shared = self.config, self.shared
        began = time.monotonic()  # the report's suite time: the run's wall time, not the sum of the roles
        if self.opts.output_dir:
            try:
                os.makedirs(self.opts.output_dir, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create --output-dir {self.opts.output_dir}: {exc.strerror}") from None
        self.store: Optional[Cache] = open_cache(shared.environ, self.console.warn) if config.use_cache else None
        # A role whose key cannot be known here goes without the cache (None), as in exec mode.
        self.keys: List[Optional[KeyPlan]] = [plan_key(settings, shared.environ, shared.dotenv_credentials, shared.region,
                              self.store.folder) if self.store else None
                     for settings in self.per_role]
        if self.start is None and any(not self._cached(planned) for planned in self.keys):
            self._begin()
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

    def _min_ttl(self, planned: Optional[KeyPlan]) -> int:
        return effective_min_ttl(self.config, planned.duration if planned else None)

    def _cached(self, planned: Optional[KeyPlan]) -> bool:
        return (self.store is not None and planned is not None and not self.config.fresh
                and self.store.get(planned.key, self._min_ttl(planned)) is not None)

    def _begin(self) -> None:
        """Before any thread: assume the hops all roles share, or get an MFA session, asking once."""
        config, source, region = self.config, self.prepared.source, self.prepared.region
        timeouts = (config.connect_timeout, config.read_timeout)
        prefix = self.plans[0][:-1]
        if prefix and all(hops[:-1] == prefix for hops in self.plans):
            self.start = walk.assume_all(self.clients, self.plans[0][:-1], region, timeouts, config.mfa_code,
                                          mfa_prompt, self.console.warn)
            self.tails = [hops[-1:] for hops in self.plans]
            return
        serial = self.plans[0][0].request.mfa_serial
        if serial:
            self.start = walk.mfa_session(source, serial, region, timeouts, config.mfa_code, mfa_prompt,
                                           self.console.warn)
            self.tails = [chain.without_mfa(hops) for hops in self.plans]

    def _credentials(self, index: int) -> Entry:
        config, region = self.config, self.prepared.region

        def fetch() -> Entry:
            credentials = walk.assume_all(self.clients, self.tails[index], region,
                                           (config.connect_timeout, config.read_timeout), config.mfa_code,
                                           mfa_prompt, self.console.warn, start=self.start)
            return Entry(credentials, region)

        planned = self.keys[index]
        return cached(self.store if planned else None, planned.key if planned else "", self._min_ttl(planned),
                      config.fresh, fetch)

    def _one(self, index: int) -> report.Result:
        """One role unless a signal or --max-failures stopped the run (not started then)."""
        limit = self.opts.max_failures
        if self.stopper.signal is not None or (limit is not None and self.failed >= limit):
            return report.Result(self.names[index], self.plans[index][-1].request.role_arn, None, 0.0)
        result = self._run_one(index)
        if result.status not in (0, None):
            with self.lock:
                self.failed += 1
        return result

    def _run_one(self, index: int) -> report.Result:
        """One role: its session, then its command; never raises for awsrun's own failures."""
        name, role_arn = self.names[index], self.plans[index][-1].request.role_arn
        began = time.monotonic()
        files: Optional[Tuple[NewFile, NewFile]] = None
        try:
            entry = self._credentials(index)
            # Exactly what exec mode gives the command.
            environ = environment.child_environment(self.shared.child_base, entry.credentials, entry.region,
                                                    not self.config.allow_fallbacks, self.config_file,
                                                    self.secrets)
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
        folder = self.opts.output_dir
        assert folder is not None  # only called with --output-dir
        return os.path.join(folder, f"{name}.{kind}")

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
        # The reason may quote STS: made inert, in files and on the terminal.
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

    def _settled(self, index: int, future: Future[report.Result]) -> report.Result:
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
        limit = self.opts.max_failures
        if limit is not None and self.failed >= limit and any(result.status is None for result in results):
            self.console.say(f"--max-failures {limit}: {self.failed} runs failed, the rest were not started")
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

    def __init__(self, source: Source, pool: int) -> None:
        self._source, self._pool = source, pool
        self._lock = threading.Lock()
        self._clients: Dict[Tuple[str, Optional[Credentials]], BaseClient] = {}

    def client(self, region: str, connect_timeout: float, read_timeout: float,
               credentials: Optional[Credentials] = None) -> BaseClient:
        key = (region, credentials)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._source.client(region, connect_timeout, read_timeout, credentials=credentials,
                                                         max_pool_connections=self._pool)
            return self._clients[key]
