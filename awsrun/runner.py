"""The pipeline of one run, in order: settings -> plan -> credentials -> deliver.

cli.py parses argv and maps errors to exit statuses. Each step takes and returns a named
value (Settings, Plan, Entry), and each delivery mode is a function of (plan, session,
entry). config/ is imported here at the top: it never imports botocore. session/, deliver/
and fanout/ are reached at their package boundary, when a step needs them, so an early
exit (a local error, --unset) loads none of them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, List, Mapping, Optional, Tuple

from awsrun.config import settings as settings_module
from awsrun.config import validate, variables
from awsrun.config.envfile import EnvFiles
from awsrun.config.envfile import read as read_env_files
from awsrun.config.plan import Plan, dotenv_credentials, region_from, with_aws_profile
from awsrun.config.settings import Args, Settings
from awsrun.credentials import datetime, iso8601, timedelta, timezone
from awsrun.errors import ConfigError, UsageError
from awsrun.text import Console

if TYPE_CHECKING:
    from awsrun.deliver.modes import ExecCommand
    from awsrun.fanout.plan import Options
    from awsrun.session.cache import Entry
    from awsrun.session.rolesession import RoleSession

__all__ = ["run"]

_TRUST_ACTIONS = ("--trust-env-file", "--list-trusted-env-files", "--forget-env-file")
# fanout.OPTIONS, named here so that runs without them never import fanout.
_FANOUT_OPTIONS = ("each-role", "parallel", "report", "no-prefix", "output-dir", "each-account", "role-name", "ou",
                   "account-tag", "skip-account", "shard", "max-failures", "rerun")


def run(args: Args, environ: Mapping[str, str], console: Console, exec_command: ExecCommand, usage: str) -> int:
    """Do what the parsed ``args`` ask; ``console`` says things and knows --debug/--quiet."""
    if any(args.get(name) for name in _TRUST_ACTIONS):
        from awsrun.config.trustactions import run_action

        return run_action(args, environ, console.line)
    config, files = _settings(args, environ, console)
    fan_out = _fan_out_options(args, environ, files, config)
    if config.mode != "exec" and args["COMMAND"]:
        raise UsageError(f"--{config.mode} prints credentials and runs no command: drop {args['COMMAND']!r}")
    if config.mode == "unset":
        from awsrun.deliver.modes import unset

        return unset(config, environ, console)
    if not config.roles and not config.profile and not config.root and not fan_out:
        from awsrun.config.typos import role_after_command

        raise UsageError("no role given: " + (role_after_command(args["COMMAND"], args["ARG"], usage) or
                                              "pass --role ARN, set AWSRUN_ROLE, or name a --profile"))
    plan = _plan(args, config, files, environ)
    if fan_out:
        from awsrun.fanout import plan as fanout  # threads, children and reports: only --each-role

        return fanout.run(fan_out, plan, console)
    # Past here a role session is needed: session/ (and botocore, on a cache miss) and deliver/.
    from awsrun.deliver import modes
    from awsrun.session.rolesession import RoleSession

    session = RoleSession(config, plan.dotenv_credentials, plan.issued, plan.region, plan.region_source, console)
    if config.refresh:
        session.check_refreshable()  # refuse now what would need a person later
    if config.mode == "console":
        modes.check_console(plan, console.warn)  # the sign-in endpoint, before any AWS call
    if config.dry_run:
        return modes.dry_run(plan, session, console)
    entry, folder = _credentials(plan, session, console)
    return modes.DELIVER["refresh" if config.refresh else config.mode](plan, session, entry, folder, console, exec_command)


def _settings(args: Args, environ: Mapping[str, str], console: Console) -> Tuple[Settings, EnvFiles]:
    """Step 1: every setting from flags, AWSRUN_*, .env files and defaults (-v says where from)."""
    paths, required = settings_module.env_file_paths(args, environ)
    files = read_env_files(paths, required, environ, console.warn)
    if any(name.startswith("AWSRUN_") for name in (*environ, *files.values)):
        from awsrun.config.typos import unknown_variables

        for warning in unknown_variables(args, environ, files.values, files.origin):
            console.warn(warning)
    console.debug = settings_module.wants_debug(args, environ, files)
    config = with_aws_profile(settings_module.resolve(args, environ, files), environ, files)
    console.debug, console.quiet = config.debug, config.quiet
    if config.verbose:
        for line in config.explain():
            console.say(line)
    return config, files


def _fan_out_options(args: Args, environ: Mapping[str, str], files: EnvFiles, config: Settings) -> Optional[Options]:
    """--each-role and its company, checked before anything else."""
    if not any(config.given(name) for name in _FANOUT_OPTIONS):
        return None
    from awsrun.fanout import plan as fanout

    return fanout.options(settings_module.raw_values(args, environ, files), config, bool(args["COMMAND"]))


def _plan(args: Args, config: Settings, files: EnvFiles, environ: Mapping[str, str]) -> Plan:
    """Step 2: the command, its base environment, the region and the source, checked locally."""
    from awsrun.deliver import environment, execute  # the command's lookup and environment
    from awsrun.session import loopguard  # the credential_process loop guard, no botocore

    child_base = environment.merge_dotenv(environ, files.values)
    command = _command(args, child_base) if config.mode == "exec" else []
    if command:
        execute.resolve(command[0], child_base)
    region, region_source = region_from(config, child_base, environ, files.origin)
    if region:  # known without botocore: check the partitions before importing it
        for role in config.roles:
            validate.check_partition(role, region, region_source)
    issued = environ.get(variables.ASSUMED_ROLE_VARIABLE) if variables.holds_issued_credentials(environ) else None
    dotenv = dotenv_credentials(environ, files, bool(issued))
    source_name = loopguard.source_profile(config.profile, environ, dotenv)
    loopguard.check(source_name, environ)  # before the cache lock a parent awsrun may hold
    shown = dict(environ)  # --dry-run's diff is against the environment awsrun was given
    loopguard.mark(source_name, environ)
    return Plan(config, command, not args["COMMAND"] and bool(command), child_base, shown if config.dry_run else environ, shown, region, region_source,
                issued, dotenv)


def _credentials(plan: Plan, session: RoleSession, console: Console) -> Tuple[Entry, Optional[str]]:
    """Step 3: a cached session that still has long enough to live, or a new one from STS."""
    from awsrun.session import cache, cachekey  # the cache and its key: a hit needs no botocore

    config = plan.config
    store = cache.open_cache(plan.environ, console.warn) if config.use_cache else None
    planned = (cachekey.plan_key(config, plan.environ, plan.dotenv_credentials, plan.region, store.folder)
               if store else None)
    session.cache = (store, planned) if planned else None
    min_ttl, origin = cachekey.min_ttl_in_use(config, planned.duration if planned else None)
    if planned and config.verbose:
        console.say(f"min-ttl in use = {min_ttl} ({origin})")
    entry = cache.cached(store if planned else None, planned.key if planned else "", min_ttl, config.fresh,
                         lambda: cache.Entry(session.assume(), session.plan().region))
    if config.expect and not config.refresh:
        _check_left(entry, config)
    said = "assumed" if session.assumed else "reusing cached session of"
    task = f" for {config.root.task}" if config.root else ""
    console.say(f"{said} {entry.credentials.assumed_role_arn}{task}, expires {iso8601(entry.credentials.expiration)}")
    return entry, store.folder if store else None


def _check_left(entry: Entry, config: Settings) -> None:
    """--expect: STS may still issue less than was asked (a role's own limits, a clock)."""
    expiration = entry.credentials.expiration
    if expiration - datetime.now(timezone.utc) < timedelta(seconds=config.expect or 0):
        raise ConfigError(
            f"the session expires at {iso8601(expiration)}, sooner than --expect {config.shown['expect']} "
            f"(from {config.sources['expect']}) allows; pass --refresh (renews the session while the command runs)"
        )


def _command(args: Args, child_base: Mapping[str, str]) -> List[str]:
    if args["COMMAND"]:
        return [str(args["COMMAND"]), *args["ARG"]]  # type: ignore[misc]
    if not sys.stdin.isatty():
        raise UsageError("no command given and stdin is not a terminal: name the command to run")
    return [child_base.get("SHELL") or "/bin/sh"]
