"""One run of awsrun after its arguments are parsed: settings, checks, credentials, delivery.

cli.py parses argv and maps errors to exit statuses; this module does the work in order:
resolve settings, check locally, find the command, then reuse a cached session or assume
the role, and deliver the credentials by exec, --refresh, --export or --credential-process.
Modules are imported where first needed, so that each early exit stays cheap.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence

from awsrun.errors import ConfigError, ExitStatus, InvalidValue, UsageError

if TYPE_CHECKING:
    from awsrun.config.envfile import EnvFiles
    from awsrun.config.settings import Settings

__all__ = ["run"]

# fanout.OPTIONS, named here so that runs without them never import fanout.
_FANOUT_OPTIONS = ("each-role", "parallel", "report", "no-prefix", "output-dir")


def run(args: Mapping[str, Any], environ: Mapping[str, str], console: Any,
        exec_command: Callable[[Sequence[str], Mapping[str, str]], Any]) -> int:
    """Do what the parsed ``args`` ask; ``console`` says things and knows --debug/--quiet."""
    if any(args.get(name) for name in ("--trust-env-file", "--list-trusted-env-files", "--forget-env-file")):
        from awsrun.config.trustactions import run_action

        return run_action(args, environ, console.line)
    from awsrun.config import settings as settings_module
    from awsrun.config.envfile import read as read_env_files

    paths, required = settings_module.env_file_paths(args, environ)
    files = read_env_files(paths, required, environ, console.warn)
    if any(name.startswith("AWSRUN_") for name in (*environ, *files.values)):
        from awsrun.config.typos import unknown_variables

        for warning in unknown_variables(args, environ, files.values, files.origin):
            console.warn(warning)
    console.debug = settings_module.wants_debug(args, environ, files)
    config = _with_aws_profile(settings_module.resolve(args, environ, files), environ, files)
    console.debug, console.quiet = config.debug, config.quiet
    if config.verbose:
        for line in config.explain():
            console.say(line)
    fan_out = None
    if any(config.given(name) for name in _FANOUT_OPTIONS):  # --each-role: checked before anything else
        from awsrun.fanout import plan as fanout

        fan_out = fanout.options(settings_module.raw_values(args, environ, files), config, bool(args["COMMAND"]))
    if config.mode != "exec" and args["COMMAND"]:
        raise UsageError(f"--{config.mode} prints credentials and runs no command: drop {args['COMMAND']!r}")
    if config.mode == "unset":
        if config.format == "dotenv":
            raise UsageError("--unset has no dotenv form: use --format sh, fish or powershell")
        from awsrun.deliver import output

        console.data(output.unset_lines(config.format, environ))
        return ExitStatus.OK
    if not config.roles and not config.profile and not fan_out:
        from awsrun import cli
        from awsrun.config.typos import role_after_command

        raise UsageError("no role given: " + (role_after_command(args["COMMAND"], args["ARG"], cli.__doc__) or
                                              "pass --role ARN, set AWSRUN_ROLE, or name a --profile"))

    from awsrun.config import variables
    from awsrun.deliver import environment, execute

    child_base = environment.merge_dotenv(environ, files.values)
    command = _command(args, child_base) if config.mode == "exec" else []
    if command:
        execute.resolve(command[0], child_base)
    region, region_source = _region_from(config, child_base, environ, files.origin)
    if region:  # known without botocore: check the partitions before importing it
        _check_partitions(config, region, region_source)
    issued = environ.get(variables.ASSUMED_ROLE_VARIABLE) if variables.holds_issued_credentials(environ) else None
    dotenv_credentials = _dotenv_credentials(environ, files, bool(issued))
    from awsrun.session import loopguard

    source_name = loopguard.source_profile(config.profile, environ, dotenv_credentials)
    loopguard.check(source_name, environ)  # before the cache lock a parent awsrun may hold
    shown = dict(environ)  # --dry-run's diff is against the environment awsrun was given
    loopguard.mark(source_name, environ)
    if fan_out:
        config_file = _command_config(config, environ, child_base, dotenv_credentials, console.warn,
                                      not config.dry_run and not config.allow_fallbacks)
        shared = fanout.Shared(config, command, child_base, shown if config.dry_run else environ, region, region_source, issued,
                               dotenv_credentials, _check_partitions, _print_plan, _mfa_prompt(), config_file)
        return fanout.run(fan_out, shared, console)

    from awsrun.session.cache import Entry, cached, open_cache
    from awsrun.session.cachekey import plan_key
    from awsrun.credentials import iso8601

    from awsrun.session.rolesession import RoleSession

    session = RoleSession(config, dotenv_credentials, issued, region, region_source, console)

    def command_config(write: bool) -> str:
        return _command_config(config, environ, child_base, dotenv_credentials, console.warn, write)

    if config.refresh:
        session.check_refreshable()  # refuse now what would need a person later
    def source_tokens(memo_folder: Any = None) -> Any:  # removed from the command's environment by value
        from awsrun.session.webidentity import source_tokens

        return source_tokens(environ, (config.profile, dotenv_credentials.get("AWS_PROFILE")), memo_folder)

    if config.dry_run:
        plan = session.plan()
        _print_plan(console.line, plan.hops, plan.region, shown, child_base, command or ["<no command: output mode>"],
                    not config.allow_fallbacks, command_config(False), source_tokens())
        return ExitStatus.OK

    store = open_cache(environ, console.warn) if config.use_cache else None
    planned = plan_key(config, environ, dotenv_credentials, region, store.folder) if store else None
    session.cache = (store, planned) if planned else None
    entry = cached(store if planned else None, planned.key if planned else "", _min_ttl(config, planned, console),
                   config.fresh, lambda: Entry(session.assume(), session.plan().region))
    credentials = entry.credentials
    if config.expect and not config.refresh:
        _check_left(credentials.expiration, config)
    origin = "assumed" if session.assumed else "reusing cached session of"
    console.say(f"{origin} {credentials.assumed_role_arn}, expires {iso8601(credentials.expiration)}")
    if config.mode != "exec":
        from awsrun.deliver import output
    if config.mode == "export":
        try:
            console.data(output.export_lines(credentials, entry.region, config.format, environ))
        except ValueError as exc:
            raise ConfigError(f"cannot write --format {config.format}: {exc}") from None
        return ExitStatus.OK
    if config.mode == "credential-process":
        console.data(output.credential_process(credentials))
        return ExitStatus.OK
    if config.refresh:
        session.mfa_start()  # ask now, at the terminal, not later from the renewal thread
        return _refresh(console, command, child_base, entry, session.renew, command_config(True),
                        source_tokens(store.folder if store else None))
    child_env = environment.child_environment(child_base, credentials, entry.region, not config.allow_fallbacks,
                                              command_config(not config.allow_fallbacks),
                                              source_tokens(store.folder if store else None))
    if not args["COMMAND"]:
        console.say(f"starting {command[0]} with the role's credentials; exit it to drop them")
    exec_command(command, child_env)
    return ExitStatus.OK  # only reached when exec_command is replaced (tests)



def _command_config(config: Settings, environ: Mapping[str, str], child_base: Mapping[str, str],
                    dotenv_credentials: Mapping[str, str], warn: Callable[[str], None], write: bool) -> str:
    """The command's AWS_CONFIG_FILE: the neutral copy of the config it would have read,
    whose [default] holds the settings of the profile awsrun ran as."""
    if not write and config.allow_fallbacks:
        return os.devnull  # not used: the user's own config stays
    from awsrun.deliver import neutral
    from awsrun.files import cache_dir

    profile = (config.profile or environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE")
               or dotenv_credentials.get("AWS_PROFILE"))
    return neutral.config_file(neutral.source_path(child_base), cache_dir(environ), profile, warn, write)


def _min_ttl(config: Settings, planned: Any, console: Any) -> int:
    from awsrun.session.cachekey import min_ttl_in_use

    min_ttl, origin = min_ttl_in_use(config, planned.duration if planned else None)
    if planned and config.verbose:
        console.say(f"min-ttl in use = {min_ttl} ({origin})")
    return min_ttl


def _refresh(console: Any, command: List[str], child_base: Mapping[str, str], entry: Any,
             renew: Callable[[], Any], config_file: str, secrets: Any) -> int:
    """Run the command as a child served by a renewing credential endpoint; its status."""
    from awsrun.deliver import environment, refresh
    from awsrun.deliver.server import CredentialServer

    refresher = refresh.Refresher(entry.credentials, renew, console.warn)
    server = CredentialServer(refresher.current).start()
    try:
        env = environment.refresh_environment(child_base, server.url, server.token, entry.region,
                                              config_file, entry.credentials.assumed_role_arn, secrets)
        console.say(f"serving renewed credentials to {command[0]} from {server.url}")
        return refresh.run_child(command, env, refresher, console.warn)  # awsrun private first
    finally:
        server.stop()


def _dotenv_credentials(environ: Mapping[str, str], files: EnvFiles, issued: bool) -> Dict[str, str]:
    """The .env's source credentials, used only when the real environment has none.

    An awsrun-issued session in the environment does not count as having some.
    """
    from awsrun.config.variables import SOURCE_CREDENTIAL_KEYS

    selectors = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if issued else SOURCE_CREDENTIAL_KEYS + ("AWS_DEFAULT_PROFILE",)
    if any(environ.get(key) for key in selectors):
        return {}
    return {key: files.values[key] for key in SOURCE_CREDENTIAL_KEYS if files.values.get(key)}


def _check_left(expiration: Any, config: Settings) -> None:
    """--expect: STS may still issue less than was asked (a role's own limits, a clock)."""
    from datetime import datetime, timedelta, timezone

    from awsrun.credentials import iso8601

    if expiration - datetime.now(timezone.utc) < timedelta(seconds=config.expect or 0):
        raise ConfigError(
            f"the session expires at {iso8601(expiration)}, sooner than --expect {config.shown['expect']} "
            f"(from {config.sources['expect']}) allows; pass --refresh (renews the session while the command runs)"
        )


def _with_aws_profile(config: Settings, environ: Mapping[str, str], files: EnvFiles) -> Settings:
    """AWS_PROFILE (then AWS_DEFAULT_PROFILE; else the .env's AWS_PROFILE) as the AWS CLI reads it.

    With no --profile and no --role it names the profile. With --role it is the source the
    roles are assumed from, its own role_arn chain included, unless static keys in the
    environment or .env come first, as they do in botocore's chain.
    """
    if config.profile:
        return config
    from awsrun.config.variables import holds_issued_credentials

    issued = holds_issued_credentials(environ)
    name = next((key for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if environ.get(key)), None)
    if name:
        selected, origin = environ[name], f"${name}"
    else:
        dotenv = _dotenv_credentials(environ, files, issued)
        if not dotenv.get("AWS_PROFILE"):
            return config
        selected, origin = dotenv["AWS_PROFILE"], f"AWS_PROFILE in {files.origin['AWS_PROFILE']}"
    if config.roles:
        keys_in_env = bool(environ.get("AWS_ACCESS_KEY_ID")) and not issued
        if keys_in_env or (not name and files.values.get("AWS_ACCESS_KEY_ID")):
            return config
    return config._replace(profile=selected, profile_is_source=bool(config.roles),
                           sources={**config.sources, "profile": origin}, shown={**config.shown, "profile": selected})


def _command(args: Mapping[str, Any], child_base: Mapping[str, str]) -> List[str]:
    if args["COMMAND"]:
        return [args["COMMAND"], *args["ARG"]]
    if not sys.stdin.isatty():
        raise UsageError("no command given and stdin is not a terminal: name the command to run")
    return [child_base.get("SHELL") or "/bin/sh"]


def _region_from(config: Settings, env: Mapping[str, str], environ: Mapping[str, str],
                 dotenv_origin: Mapping[str, str]) -> tuple:
    """The region and where it came from: the flag, the environment or a .env file."""
    from awsrun.config.validate import region_partition

    if config.region:
        return config.region, config.sources.get("region", "--region")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            region_partition(env[name])
            from_dotenv = name not in environ and name in dotenv_origin
            return env[name], f"{name} in {dotenv_origin[name]}" if from_dotenv else f"${name}"
    return None, None


def _check_partitions(config: Settings, region: str, region_origin: Optional[str]) -> None:
    """A full role ARN must be in the region's partition (STS there would not know it)."""
    from awsrun.session.hopchecks import check_partition

    for role in config.roles:
        check_partition(role, region, region_origin)


def _print_plan(line: Callable[[str], None], hops: Sequence[Any], region: str, environ: Mapping[str, str],
                base: Mapping[str, str], command: List[str], block: bool, config_file: str, secrets: Any = ()) -> None:
    """What --dry-run shows, one ``line`` at a time (the console makes each inert): the calls
    it would make and the environment diff, no secret.

    The diff is against awsrun's own environment, so the variables a .env adds show too.
    """
    from datetime import datetime, timedelta, timezone

    from awsrun.deliver import environment
    from awsrun.credentials import Credentials
    for hop in hops:
        r = hop.request
        mfa = f" with MFA {r.mfa_serial}" if r.mfa_serial else ""
        line(f"would assume {r.role_arn} as session {r.session_name} for {r.duration}s in {region}{mfa}")
    expiry = datetime.now(timezone.utc) + timedelta(seconds=hops[-1].request.duration)
    placeholder = Credentials("<temporary>", "<temporary>", "<temporary>", expiry, "<assumed-role ARN>")
    child = environment.child_environment(base, placeholder, region, block, config_file, secrets)
    for name in sorted(set(environ) - set(child)):
        line(f"remove {name}")
    for name, value in child.items():
        if environ.get(name) != value:
            line(f"set {name}={value}")
    import shlex

    line("exec " + shlex.join(command))


def _mfa_prompt() -> Callable[[str, int], str]:
    from awsrun.session.rolesession import mfa_prompt

    return mfa_prompt
