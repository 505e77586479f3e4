"""The role session of one run: its source and planned hops, loaded once; MFA; assuming.

runner.py makes one per run; --refresh renews through it without ever asking anything.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Tuple

from awsrun.credentials import Credentials
from awsrun.errors import ConfigError, UsageError
from awsrun.session.cache import Cache, Entry, cached

if TYPE_CHECKING:
    from awsrun.config.settings import Settings
    from awsrun.session.cachekey import KeyPlan
    from awsrun.session.walk import Prepared
    from awsrun.text import Console

__all__ = ["RoleSession", "mfa_prompt", "MFA_SESSION_MIN_TTL"]

# A cached MFA session is assumed from only while this much of it is left.
MFA_SESSION_MIN_TTL = 900


class RoleSession:
    """The source and the planned hops, loaded once per run; ``assume`` walks the hops.

    With --refresh every renewal calls ``assume`` again: the chain is re-walked from the
    source kept in memory, and an MFA-protected first hop is assumed from one MFA session
    (GetSessionToken) so that the code is asked once per run.
    """

    def __init__(self, config: Settings, dotenv_credentials: Mapping[str, str], issued: Optional[str],
                 region: Optional[str], region_source: Optional[str], console: Console) -> None:
        self.config, self.console = config, console
        self._prepare_args = (dotenv_credentials, issued, region, region_source)
        self._plan: Optional[Prepared] = None
        self._mfa_session: Optional[Credentials] = None
        self.assumed = 0
        self.cache: Optional[Tuple[Cache, KeyPlan]] = None  # when the cache is in use

    def plan(self) -> Prepared:
        if self._plan is None:
            say = self.console.say if self.config.verbose else None
            self._plan = _walk().prepare(self.config, *self._prepare_args, say, mfa_ready=self._cached_mfa() is not None)
            if self.config.mfa_code and not any(hop.request.mfa_serial for hop in self._plan.hops):
                raise UsageError(f"an MFA code (from {self.config.sources['mfa-code']}) but no MFA device to use "
                                 f"it with: profile {self.config.profile!r} has no mfa_serial; pass --mfa-serial ARN")
        return self._plan

    def _cached_mfa(self) -> Optional[Credentials]:
        """The cached MFA session of the first hop's device, if one is fit to assume from.

        --refresh renews for as long as the command runs: it starts a full MFA session
        (and keeps it for later runs) rather than take one that may end soon."""
        if self.cache is None or self.config.fresh or self.config.refresh or not self.cache[1].mfa_key:
            return None
        store, planned = self.cache
        hit = store.get(planned.mfa_key, MFA_SESSION_MIN_TTL)
        return hit.credentials if hit else None

    def mfa_start(self) -> Optional[Credentials]:
        """With MFA on the first hop, the MFA session (GetSessionToken) to assume from: kept in
        the cache, so that one code serves every role behind the device (an IAM user's long-term
        keys only: STS issues no such session to a temporary source); with --refresh always,
        so that renewals ask no code."""
        plan, config = self.plan(), self.config
        serial = plan.hops[0].request.mfa_serial if plan.hops else None
        if not serial or self._mfa_session is not None:
            return self._mfa_session
        def new() -> Credentials:
            return _walk().mfa_session(plan.source, serial, plan.region, _timeouts(config),
                               config.mfa_code, mfa_prompt, self.console.warn)

        if self.cache is not None and self.cache[1].mfa_serial == serial:
            store, planned = self.cache
            self._mfa_session = self._cached_mfa()
            if self._mfa_session is not None:
                self.console.say(f"assuming from the cached MFA session of {serial}: no code needed")
            elif plan.source.long_term():
                # An entry names whose session it holds; GetSessionToken's has no ARN of its own.
                entry = cached(store, planned.mfa_key, MFA_SESSION_MIN_TTL, config.fresh or config.refresh,
                               lambda: Entry(new()._replace(assumed_role_arn=f"MFA session of {serial}"), plan.region))
                self._mfa_session = entry.credentials
        if self._mfa_session is None and config.refresh:
            self._mfa_session = new()
        return self._mfa_session

    def check_refreshable(self) -> None:
        """--refresh re-walks the chain while the command runs, when nobody may be asked for a
        code: MFA is possible only on the first role, where one MFA session serves every walk."""
        hops = self.plan().hops
        if not hops or hops[0].request.mfa_serial:
            return
        later = next((hop for hop in hops[1:] if hop.request.mfa_serial), None)
        if later:
            raise ConfigError(
                f"--refresh cannot renew {later.label}: it needs an MFA code ({later.request.mfa_serial}) and "
                "awsrun asks only before the command starts; put the MFA device on the first role, or run without --refresh"
            )

    def assume(self, ask_code: Optional[Callable[[str, int], str]] = None) -> Credentials:
        plan, config = self.plan(), self.config
        start = self.mfa_start()
        hops = _walk().without_mfa(plan.hops) if start else plan.hops
        credentials: Optional[Credentials] = _walk().assume_all(plan.source, hops, plan.region, _timeouts(config), config.mfa_code,
                                 ask_code or mfa_prompt, self.console.warn, start=start) if hops else start
        if config.root:  # the roles were the jump into the management account
            credentials = _walk().assume_root(plan.source, config.root, plan.region, _timeouts(config), credentials)
        assert credentials is not None  # a plan has hops, a root task, or both
        self.assumed += 1
        return credentials

    def renew(self) -> Credentials:
        """``assume`` for the renewal thread: it never prompts (the command owns the terminal)."""
        return self.assume(ask_code=_no_prompt)


def _no_prompt(serial: str, attempt: int) -> str:
    raise ConfigError(f"an MFA code for {serial} would be needed while the command runs; awsrun asks only before it starts")


def _timeouts(config: Settings) -> Tuple[float, float]:
    return (config.connect_timeout, config.read_timeout)


def mfa_prompt(serial: str, attempt: int) -> str:
    from awsrun.session import mfa  # the terminal prompt: a cache hit never asks

    return mfa.prompt(serial, attempt)


def _walk() -> ModuleType:
    """walk.py: the source (botocore) and the STS calls, imported only once a run needs STS (a cache hit never does)."""
    from awsrun.session import walk

    return walk
