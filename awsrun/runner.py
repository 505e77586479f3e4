"""One run of awsrun after its arguments are parsed: settings, checks, credentials, delivery.

cli.py parses argv and maps errors to exit statuses; this module does the work in order:
resolve settings, check locally, find the command, then reuse a cached session or assume
the role, and deliver the credentials by exec, --refresh, --export or --credential-process.
Modules are imported where first needed, so that each early exit stays cheap.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO

from awsrun.errors import ConfigError, ExitStatus, InvalidValue, UsageError

if TYPE_CHECKING:
    from awsrun.envfile import EnvFiles
    from awsrun.settings import Settings

__all__ = ["run"]


def run(args: Mapping[str, Any], environ: Mapping[str, str], console: Any,
        exec_command: Callable[[Sequence[str], Mapping[str, str]], Any]) -> int:
    """Do what the parsed ``args`` ask; ``console`` says things and knows --debug/--quiet."""
    from awsrun import settings as settings_module
    from awsrun.envfile import read as read_env_files

    paths, required = settings_module.env_file_paths(args, environ)
    files = read_env_files(paths, required)
    console.debug = settings_module.wants_debug(args, environ, files)
    config = settings_module.resolve(args, environ, files)
    console.debug, console.quiet = config.debug, config.quiet
    if config.verbose:
        for line in config.explain():
            console.say(line)
    if config.mode != "exec" and args["COMMAND"]:
        raise UsageError(f"--{config.mode} prints credentials and runs no command: drop {args['COMMAND']!r}")
    if config.mode == "unset":
        if config.format == "dotenv":
            raise UsageError("--unset has no dotenv form: use --format sh, fish or powershell")
        from awsrun import output

        console.out.write(output.unset_lines(config.format))
        return ExitStatus.OK
    if not config.roles and not config.profile:
        raise UsageError("no role given: pass --role ARN, set AWSRUN_ROLE, or name a --profile")

    from awsrun import environment, execute

    child_base = environment.merge_dotenv(environ, files.values)
    command = _command(args, child_base) if config.mode == "exec" else []
    if command:
        execute.resolve(command[0], child_base)
    region, region_source = _region_from(config, child_base)
    if region:  # known without botocore: check the partitions before importing it
        _check_partitions(config, region)
    issued = environ.get(environment.ASSUMED_ROLE_VARIABLE) if environment.holds_issued_credentials(environ) else None
    dotenv_credentials = _dotenv_credentials(environ, files, bool(issued))

    from awsrun.cache import Entry, cached, open_cache
    from awsrun.cachekey import cache_key
    from awsrun.credentials import iso8601

    session = _RoleSession(config, dotenv_credentials, issued, region, region_source, console)

    def command_config(write: bool) -> str:
        return _command_config(config, environ, child_base, dotenv_credentials, console.warn, write)

    if config.refresh:
        session.check_refreshable()  # refuse now what would need a person later
    if config.dry_run:
        plan = session.plan()
        _print_plan(console.out, plan.hops, plan.region, child_base, command or ["<no command: output mode>"],
                    not config.allow_fallbacks, command_config(False))
        return ExitStatus.OK

    store = open_cache(environ, console.warn) if config.use_cache else None
    key = cache_key(config, environ, dotenv_credentials, region) if store else ""
    entry = cached(store, key, config.min_ttl, config.fresh, lambda: Entry(session.assume(), session.plan().region))
    credentials = entry.credentials
    origin = "assumed" if session.assumed else "reusing cached session of"
    console.say(f"{origin} {credentials.assumed_role_arn}, expires {iso8601(credentials.expiration)}")
    if config.mode != "exec":
        from awsrun import output
    if config.mode == "export":
        try:
            console.out.write(output.export_lines(credentials, entry.region, config.format, environ))
        except ValueError as exc:
            raise ConfigError(f"cannot write --format {config.format}: {exc}") from None
        return ExitStatus.OK
    if config.mode == "credential-process":
        console.out.write(output.credential_process(credentials))
        return ExitStatus.OK
    if config.refresh:
        session.mfa_start()  # ask now, at the terminal, not later from the renewal thread
        return _refresh(console, command, child_base, entry, session.renew, command_config(True))
    child_env = environment.child_environment(child_base, credentials, entry.region, not config.allow_fallbacks,
                                              command_config(not config.allow_fallbacks))
    if not args["COMMAND"]:
        console.say(f"starting {command[0]} with the role's credentials; exit it to drop them")
    exec_command(command, child_env)
    return ExitStatus.OK  # only reached when exec_command is replaced (tests)



class _RoleSession:
    """The source and the planned hops, loaded once per run; ``assume`` walks the hops.

    With --refresh every renewal calls ``assume`` again: the chain is re-walked from the
    source kept in memory, and an MFA-protected first hop is assumed from one MFA session
    (GetSessionToken) so that the code is asked once per run.
    """

    def __init__(self, config: Settings, dotenv_credentials: Mapping[str, str], issued: Optional[str],
                 region: Optional[str], region_source: Optional[str], console: Any) -> None:
        self.config, self.console = config, console
        self._prepare_args = (dotenv_credentials, issued, region, region_source)
        self._plan: Any = None
        self._mfa_session: Any = None
        self.assumed = 0

    def plan(self) -> Any:
        if self._plan is None:
            from awsrun import chain

            say = self.console.say if self.config.verbose else None
            self._plan = chain.prepare(self.config, *self._prepare_args, say)
        return self._plan

    def mfa_start(self) -> Any:
        """With --refresh and MFA on the first hop, the session renewals assume from."""
        plan, config = self.plan(), self.config
        serial = plan.hops[0].request.mfa_serial
        if config.refresh and serial and self._mfa_session is None:
            from awsrun.chain import mfa_session

            self._mfa_session = mfa_session(plan.source, serial, plan.region, _timeouts(config),
                                            config.mfa_code, mfa_prompt, self.console.warn)
        return self._mfa_session

    def check_refreshable(self) -> None:
        """--refresh re-walks the chain while the command runs, when nobody may be asked for a
        code: MFA is possible only on the first role, where one MFA session serves every walk."""
        hops = self.plan().hops
        if hops[0].request.mfa_serial:
            return
        later = next((hop for hop in hops[1:] if hop.request.mfa_serial), None)
        if later:
            raise ConfigError(
                f"--refresh cannot renew {later.label}: it needs an MFA code ({later.request.mfa_serial}) and "
                "awsrun asks only before the command starts; put the MFA device on the first role, or run without --refresh"
            )

    def assume(self, ask_code: Optional[Callable[[str, int], str]] = None) -> Any:
        from awsrun.chain import assume_all, without_mfa

        plan, config = self.plan(), self.config
        start = self.mfa_start()
        hops = without_mfa(plan.hops) if start else plan.hops
        credentials = assume_all(plan.source, hops, plan.region, _timeouts(config), config.mfa_code,
                                 ask_code or mfa_prompt, self.console.warn, start=start)
        self.assumed += 1
        return credentials

    def renew(self) -> Any:
        """``assume`` for the renewal thread: it never prompts (the command owns the terminal)."""
        return self.assume(ask_code=_no_prompt)


def _no_prompt(serial: str, attempt: int) -> str:
    raise ConfigError(f"an MFA code for {serial} would be needed while the command runs; awsrun asks only before it starts")


def _command_config(config: Settings, environ: Mapping[str, str], child_base: Mapping[str, str],
                    dotenv_credentials: Mapping[str, str], warn: Callable[[str], None], write: bool) -> str:
    """The command's AWS_CONFIG_FILE: the neutral copy of the config it would have read,
    whose [default] holds the settings of the profile awsrun ran as."""
    if not write and config.allow_fallbacks:
        return os.devnull  # not used: the user's own config stays
    from awsrun import neutral
    from awsrun.cache import cache_dir

    profile = (config.profile or environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE")
               or dotenv_credentials.get("AWS_PROFILE"))
    return neutral.config_file(neutral.source_path(child_base), cache_dir(environ), profile, warn, write)


def _timeouts(config: Settings) -> tuple:
    return (config.connect_timeout, config.read_timeout)


def _refresh(console: Any, command: List[str], child_base: Mapping[str, str], entry: Any,
             renew: Callable[[], Any], config_file: str) -> int:
    """Run the command as a child served by a renewing credential endpoint; its status."""
    from awsrun import environment, refresh
    from awsrun.server import CredentialServer

    refresh.undumpable(console.warn)  # before the child exists: it must not read our memory
    refresher = refresh.Refresher(entry.credentials, renew, console.warn)
    server = CredentialServer(refresher.current).start()
    try:
        env = environment.refresh_environment(child_base, server.url, server.token, entry.region,
                                              config_file, entry.credentials.assumed_role_arn)
        console.say(f"serving renewed credentials to {command[0]} from {server.url}")
        return refresh.run_child(command, env, refresher)
    finally:
        server.stop()


def mfa_prompt(serial: str, attempt: int) -> str:
    from awsrun.mfa import prompt

    return prompt(serial, attempt)


def _dotenv_credentials(environ: Mapping[str, str], files: EnvFiles, issued: bool) -> Dict[str, str]:
    """The .env's source credentials, used only when the real environment has none.

    An awsrun-issued session in the environment does not count as having some.
    """
    from awsrun import environment

    selectors = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if issued else environment.SOURCE_CREDENTIAL_KEYS + ("AWS_DEFAULT_PROFILE",)
    if any(environ.get(key) for key in selectors):
        return {}
    return {key: files.values[key] for key in environment.SOURCE_CREDENTIAL_KEYS if files.values.get(key)}


def _command(args: Mapping[str, Any], child_base: Mapping[str, str]) -> List[str]:
    if args["COMMAND"]:
        return [args["COMMAND"], *args["ARG"]]
    if not sys.stdin.isatty():
        raise UsageError("no command given and stdin is not a terminal: name the command to run")
    return [child_base.get("SHELL") or "/bin/sh"]


def _region_from(config: Settings, env: Mapping[str, str]) -> tuple:
    from awsrun.validate import region_partition

    if config.region:
        return config.region, config.sources.get("region", "--region")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            region_partition(env[name])
            return env[name], f"${name}"
    return None, None


def _check_partitions(config: Settings, region: str) -> None:
    """A full role ARN must be in the region's partition (STS there would not know it)."""
    from awsrun.validate import region_partition

    partition = region_partition(region)
    for role in config.roles:
        if role.partition and role.partition != partition:
            raise InvalidValue(
                "region", region, f"it is in partition {partition}, but role {role.arn(partition)} is in {role.partition}"
            )


def _print_plan(out: TextIO, hops: Sequence[Any], region: str, base: Mapping[str, str], command: List[str], block: bool,
                config_file: str) -> None:
    """What --dry-run shows: the calls it would make and the environment diff, no secret."""
    from datetime import datetime, timedelta, timezone

    from awsrun import environment
    from awsrun.credentials import Credentials

    for hop in hops:
        r = hop.request
        mfa = f" with MFA {r.mfa_serial}" if r.mfa_serial else ""
        print(f"would assume {r.role_arn} as session {r.session_name} for {r.duration}s in {region}{mfa}", file=out)
    expiry = datetime.now(timezone.utc) + timedelta(seconds=hops[-1].request.duration)
    placeholder = Credentials("<temporary>", "<temporary>", "<temporary>", expiry, "<assumed-role ARN>")
    child = environment.child_environment(base, placeholder, region, block, config_file)
    for name in sorted(set(base) - set(child)):
        print(f"remove {name}", file=out)
    for name, value in child.items():
        if base.get(name) != value:
            print(f"set {name}={value}", file=out)
    import shlex

    print("exec " + shlex.join(command), file=out)
