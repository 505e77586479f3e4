"""--each-role: run one command once per role, concurrently, and report how each run ended.

runner.py resolves what every run shares (settings, the child's base environment, the
command, the region) and hands it here. Every role is planned and checked locally before
anything starts; the source is loaded once, the roles are assumed in parallel threads
through the cache, and each command runs as a child with what exec mode would give it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from awsrun.errors import ConfigError, ExitStatus, InvalidValue, UsageError
from awsrun.files import refuse_unsafe_target

__all__ = ["OPTIONS", "Options", "Shared", "options", "labels", "run", "exec_environment", "source_tokens"]

# The options that only mean something with --each-role (their names in Settings.sources).
OPTIONS = ("each-role", "parallel", "report", "no-prefix", "output-dir")
DEFAULT_PARALLEL = 4
MAX_PARALLEL = 100
# A roles file is a list of ARNs: 1 MiB holds ~15,000 of them, and /dev/zero cannot fill memory.
MAX_ROLES_FILE_BYTES = 1 << 20


class Options(NamedTuple):
    roles: Tuple[Any, ...]  # validate.RoleRef, in the order given
    parallel: int
    report: Optional[str]
    prefix: bool
    output_dir: Optional[str]


class Shared(NamedTuple):
    """What runner resolved once for every role, and its helpers fanout reuses."""

    config: Any  # settings.Settings, with --role as the hops before each role
    command: List[str]
    child_base: Mapping[str, str]
    environ: Mapping[str, str]
    region: Optional[str]
    region_source: Optional[str]
    issued: Optional[str]
    dotenv_credentials: Mapping[str, str]
    check_partitions: Callable[[Any, str, Optional[str]], None]
    print_plan: Callable[..., None]
    ask_code: Callable[[str, int], str]
    config_file: str  # the command's AWS_CONFIG_FILE: the neutral copy, as in exec mode


def options(raw: Mapping[str, Any], config: Any, has_command: bool) -> Options:
    """Check the fan-out options and their company; every role is checked here, before anything runs."""
    from awsrun.config import validate

    if not raw["each-role"]:
        given = next(name for name in OPTIONS if config.given(name))
        raise UsageError(f"--{given} goes with --each-role")
    if config.mode != "exec" or config.refresh:
        other = "refresh" if config.refresh else config.mode
        raise UsageError(f"--each-role runs a command once per role and does not go with --{other} (yet)")
    if not has_command:
        raise UsageError("--each-role needs a COMMAND to run once per role")
    for name in ("report", "output-dir"):
        # A .env comes with the working folder, which may be anyone's: it must not pick the
        # files awsrun writes (AWSRUN_REPORT=~/.bashrc).
        if " in " in config.sources.get(name, ""):
            raise ConfigError(f"{config.sources[name]}: a .env file may not choose where awsrun writes; pass --{name}")
    values: List[str] = []
    for value in raw["each-role"]:
        values.extend(_read_roles(value[1:]) if value.startswith("@") else [value])
    if not values:
        raise UsageError(f"--each-role {raw['each-role'][0]} names no role")
    parallel = _parallel(raw["parallel"]) if raw["parallel"] else DEFAULT_PARALLEL
    report = raw["report"] or None
    if report and not os.path.isdir(os.path.dirname(report) or "."):
        raise InvalidValue("report", report, "its folder does not exist")
    if report:
        refuse_unsafe_target(report)  # before any role runs; the writer checks again at the end
    return Options(tuple(validate.role(value) for value in values), parallel, report,
                   not raw["no-prefix"], raw["output-dir"] or None)


def _read_roles(path: str) -> List[str]:
    """One role per line; blank lines and # comments are skipped. Read through the bounded
    reader: a regular file of at most MAX_ROLES_FILE_BYTES, refused before a byte is read."""
    from awsrun.files import NOT_REGULAR, read_bounded, size_text

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


def labels(roles: Sequence[Any]) -> List[str]:
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


def exec_environment(base: Mapping[str, str], credentials: Any, region: str, config: Any,
                     config_file: str, secrets: Any) -> Dict[str, str]:
    """The one place a run's environment is built: exactly what exec mode gives the command."""
    from awsrun.deliver import environment

    return environment.child_environment(base, credentials, region, not config.allow_fallbacks, config_file,
                                         secrets)


def source_tokens(shared: Shared, memo_folder: Any = None) -> Any:
    """The source's web identity tokens, removed from every role's environment by value."""
    from awsrun.session.webidentity import source_tokens as tokens

    return tokens(shared.environ, (shared.config.profile, shared.dotenv_credentials.get("AWS_PROFILE")), memo_folder)


def run(opts: Options, shared: Shared, console: Any) -> int:
    """Plan every role, then assume and run them; the combined exit status."""
    from awsrun.session import chain, walk
    from awsrun.config import validate

    config = shared.config
    # Each role is the final hop of its own chain; explain() names where --role and it came from.
    sources = {"role": config.sources.get("role", config.sources["each-role"]), **config.sources}
    per_role = [config._replace(roles=config.roles + (role,), sources=sources) for role in opts.roles]
    if shared.region:
        for settings in per_role:
            shared.check_partitions(settings, shared.region, shared.region_source)
    names = labels(opts.roles)
    say = console.say if config.verbose else None
    # prepare() says the region and the source; the hops ("role 1 of 2: ...") are said below, per role.
    say_first = (lambda line: None if line.startswith("role") else console.say(line)) if say else None
    prepared = walk.prepare(per_role[0], shared.dotenv_credentials, shared.issued, shared.region,
                            shared.region_source, say_first)
    partition = validate.region_partition(prepared.region)
    plans = []
    for settings in per_role:
        shared.check_partitions(settings, prepared.region, prepared.region_origin)
        hops = chain.plan(settings, prepared.profile_chain, partition)
        hops[-1] = hops[-1]._replace(origins={**hops[-1].origins, "role": config.sources["each-role"]})
        plans.append(hops)
    if say:
        for index, (name, hops) in enumerate(zip(names, plans)):
            for hop in hops if index == 0 else hops[-1:]:  # the hops before the last are every role's
                say(f"{name}: {hop.explain()}")
    if config.dry_run:
        secrets = source_tokens(shared)
        for name, hops in zip(names, plans):
            shared.print_plan(lambda line, name=name: console.line(f"[{name}] {line}"), hops, prepared.region,
                              shared.environ, shared.child_base, shared.command, not config.allow_fallbacks,
                              shared.config_file, secrets)
        return ExitStatus.OK
    from awsrun.fanout.run import Fanout

    return Fanout(opts, shared, console, prepared, plans, names, per_role).run()
