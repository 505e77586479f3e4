"""The plan phase of --each-role: its options checked, the roles read and labelled, every
role's chain planned (and shown by --dry-run) before anything runs.

runner.py resolves what every run shares (settings, the child's base environment, the
command, the region) and hands it here as a Plan; run() plans every role, then hands the
plans to the run phase (awsrun.fanout.run), where each command runs as a child with what
exec mode would give it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from awsrun.config import validate
from awsrun.config.validate import RoleRef
from awsrun.fanout import accounts, shards
from awsrun.fanout.accounts import Fleet
from awsrun.fanout.rerun import failed_roles
from awsrun.errors import ConfigError, ExitStatus, InvalidValue, UsageError
from awsrun.files import NOT_REGULAR, read_bounded, refuse_unsafe_target, size_text
from awsrun.text import safe_text

if TYPE_CHECKING:
    from awsrun.config.plan import Plan
    from awsrun.config.settings import Settings
    from awsrun.text import Console

__all__ = ["OPTIONS", "Options", "options", "labels", "run"]

# The options that only mean something with --each-role, --each-account or --rerun (their names in Settings.sources).
OPTIONS = ("each-role", "parallel", "report", "no-prefix", "output-dir", "each-account", "role-name", "ou",
           "account-tag", "skip-account", "shard", "max-failures", "rerun")
_LISTS = ("each-role", "each-account", "rerun")  # where the roles come from: exactly one
DEFAULT_PARALLEL = 4
MAX_PARALLEL = 100
# A roles file is a list of ARNs: 1 MiB holds ~15,000 of them, and /dev/zero cannot fill memory.
MAX_ROLES_FILE_BYTES = 1 << 20


class Options(NamedTuple):
    roles: Tuple[RoleRef, ...]  # in the order given (none yet with --each-account: listed at run time)
    parallel: int
    report: Optional[str]
    prefix: bool
    output_dir: Optional[str]
    names: Tuple[str, ...] = ()  # the roles' labels
    fleet: Optional[Fleet] = None  # --each-account
    shard: Optional[Tuple[int, int]] = None  # --shard K/N
    max_failures: Optional[int] = None


def options(raw: Mapping[str, Any], config: Settings, has_command: bool) -> Options:
    """Check the fan-out options and their company; every role is checked here, before anything runs.

    ``raw``: settings.raw_values, each option's value as docopt or the environment gave it."""
    fleet = accounts.options(raw)
    lists = [name for name in _LISTS if raw[name]]
    if not lists:
        given = next(name for name in OPTIONS if config.given(name))
        raise UsageError(f"--{given} goes with --each-role, --each-account or --rerun")
    if len(lists) > 1:
        raise UsageError(f"--{lists[0]} and --{lists[1]} exclude each other: each names the roles to run")
    shown = f"--{lists[0]}"
    if config.mode != "exec" or config.refresh:
        other = "refresh" if config.refresh else config.mode
        raise UsageError(f"{shown} runs a command once per role and does not go with --{other} (yet)")
    if not has_command:
        raise UsageError(f"{shown} needs a COMMAND to run once per role")
    for name in ("report", "output-dir", "rerun"):
        # A .env comes with the working folder, which may be anyone's: it must not pick the
        # files awsrun writes (AWSRUN_REPORT=~/.bashrc), nor the roles to run again.
        if " in " in config.sources.get(name, ""):
            what = "which roles run again" if name == "rerun" else "where awsrun writes"
            raise ConfigError(f"{config.sources[name]}: a .env file may not choose {what}; pass --{name}")
    roles: List[RoleRef] = []
    names: List[str] = []
    if raw["rerun"]:
        roles, names = failed_roles(raw["rerun"])
    elif raw["each-role"]:
        values: List[str] = []
        for value in raw["each-role"]:
            values.extend(_read_roles(value[1:]) if value.startswith("@") else [value])
        if not values:
            raise UsageError(f"--each-role {raw['each-role'][0]} names no role")
        roles = [validate.role(value) for value in values]
        names = labels(roles)
    parallel = _parallel(raw["parallel"]) if raw["parallel"] else DEFAULT_PARALLEL
    report = raw["report"] or None
    if report and not os.path.isdir(os.path.dirname(report) or "."):
        raise InvalidValue("report", report, "its folder does not exist")
    if report:
        refuse_unsafe_target(report)  # before any role runs; the writer checks again at the end
    max_failures = raw["max-failures"] or None
    if max_failures and (not max_failures.isdigit() or int(max_failures) < 1):
        raise InvalidValue("max-failures", max_failures, "expected a whole number of 1 or more")
    return Options(tuple(roles), parallel, report, not raw["no-prefix"], raw["output-dir"] or None, tuple(names),
                   fleet, shards.parse(raw["shard"]) if raw["shard"] else None,
                   int(max_failures) if max_failures else None)


def _read_roles(path: str) -> List[str]:
    """One role per line; blank lines and # comments are skipped. Read through the bounded
    reader: a regular file of at most MAX_ROLES_FILE_BYTES, refused before a byte is read."""
    shown = f"--each-role @{path}"

    def refuse(why: str) -> ConfigError:
        if why == NOT_REGULAR:
            return ConfigError(f"{shown}: not a regular file; name a file of one role per line")
        return ConfigError(f"{shown}: larger than {size_text(MAX_ROLES_FILE_BYTES)}, the most a roles file may hold")

    try:
        lines = read_bounded(path, MAX_ROLES_FILE_BYTES, refuse).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(f"cannot read the roles of {shown}: {getattr(exc, 'strerror', None) or exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _parallel(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PARALLEL:
        raise InvalidValue("parallel", text, f"expected a whole number from 1 to {MAX_PARALLEL}")
    return int(text)


def labels(roles: Sequence[RoleRef]) -> List[str]:
    """``NAME@ACCOUNT`` per role; repeats get ``#2``, ``#3``, ... in the order given.

    Role names and account ids hold no '/', so a label is also a safe file name.
    """
    plain = [f"{role.path_and_name.rsplit('/', 1)[-1]}@{role.account}" for role in roles]
    seen: Dict[str, int] = {}
    unique = []
    for label in plain:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def run(opts: Options, shared: Plan, console: Console) -> int:
    """Plan every role, then assume and run them; the combined exit status.

    ``shared`` is the run's plan: runner resolved it once for every role.
    """
    # The session package (and the run phase over it) load only once the options are good:
    # a refusal above stays a fast local error.
    from awsrun.deliver import dryrun, modes
    from awsrun.fanout.run import Fanout
    from awsrun.session import chain, walk

    config = shared.config
    listed_by = next(config.sources[name] for name in _LISTS if name in config.sources)
    # Each role is the final hop of its own chain; explain() names where --role and it came from.
    sources = {"role": config.sources.get("role", listed_by), **config.sources}
    say = console.say if config.verbose else None
    # prepare() says the region and the source; the hops ("role 1 of 2: ...") are said below, per role.
    say_first = (lambda line: None if line.startswith("role") else console.say(line)) if say else None
    roles, names = list(opts.roles), list(opts.names)
    prepared: Optional[walk.Prepared] = None
    start = None  # the session of the --role hops, when --each-account assumed them to list the accounts
    account_names: Dict[str, str] = {}
    if opts.fleet:
        planned = config._replace(roles=config.roles + (accounts.placeholder(opts.fleet),), sources=sources)
        prepared = walk.prepare(planned, shared.dotenv_credentials, shared.issued, shared.region,
                                shared.region_source, say_first)
        found, start = accounts.listed(opts.fleet, shared, prepared, opts.parallel, console)
        roles = list(accounts.roles(found, opts.fleet))
        names = labels(roles)
        account_names = {account.id: account.name for account in found}
        if say:
            say(f"each-account = {len(found)} ACTIVE accounts selected (from {listed_by})")
    if opts.shard:
        total = len(roles)
        roles, names = shards.select(roles, names, opts.shard)
        if not roles:
            console.say(f"shard {opts.shard[0]}/{opts.shard[1]} holds none of the {total} roles: nothing to run")
            return ExitStatus.OK
    if opts.fleet and config.dry_run:
        partition = validate.region_partition(prepared.region) if prepared else "aws"
        for name, role in zip(names, roles):
            console.line(f"[{name}] account {role.account} ({safe_text(account_names.get(role.account, ''))}): "
                         f"would assume {role.arn(partition)}")
        return ExitStatus.OK
    # The command's AWS_CONFIG_FILE: the neutral copy, as in exec mode.
    config_file = modes.command_config(shared, console.warn, not config.dry_run and not config.allow_fallbacks)
    per_role = [config._replace(roles=config.roles + (role,), sources=sources) for role in roles]
    if shared.region:
        for settings in per_role:
            for role in settings.roles:
                validate.check_partition(role, shared.region, shared.region_source)
    if prepared is None:
        prepared = walk.prepare(per_role[0], shared.dotenv_credentials, shared.issued, shared.region,
                                shared.region_source, say_first)
    partition = validate.region_partition(prepared.region)
    plans = []
    for settings in per_role:
        for role in settings.roles:
            validate.check_partition(role, prepared.region, prepared.region_origin)
        hops = chain.plan(settings, prepared.profile_chain, partition)
        hops[-1] = hops[-1]._replace(origins={**hops[-1].origins, "role": listed_by})
        plans.append(hops)
    if say:
        for index, (name, hops) in enumerate(zip(names, plans)):
            for hop in hops if index == 0 else hops[-1:]:  # the hops before the last are every role's
                say(f"{name}: {hop.explain()}")
    if config.dry_run:
        secrets = modes.source_tokens(shared, None)
        for name, hops in zip(names, plans):
            dryrun.print_plan(lambda line, name=name: console.line(f"[{name}] {line}"), hops, prepared.region,
                              shared.environ, shared.child_base, shared.command, not config.allow_fallbacks,
                              config_file, secrets)
        return ExitStatus.OK
    return Fanout(opts, shared, config_file, console, prepared, plans, names, per_role, start).run()
