"""The delivery modes of one role session, each a function of (plan, session, entry, console):
exec, --refresh, --export, --credential-process, --console (signin.py), --dry-run and --unset.

runner.py picks one by the settings' mode. The command's environment is built only by
environment.py, and its AWS_CONFIG_FILE is the neutral copy (neutral.py), for every mode.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, Mapping, Optional, Sequence

from awsrun.config.plan import Plan
from awsrun.config.settings import Settings
from awsrun.config.validate import region_partition
from awsrun.deliver import environment, neutral
from awsrun.errors import AwsrunError, ConfigError, ExitStatus, UsageError
from awsrun.files import cache_dir
from awsrun.session.webidentity import source_tokens as _tokens
from awsrun.text import Console

if TYPE_CHECKING:
    from awsrun.session.cache import Entry
    from awsrun.session.rolesession import RoleSession

__all__ = ["ExecCommand", "Delivery", "DELIVER", "check_console", "dry_run", "unset", "command_config", "source_tokens"]

ExecCommand = Callable[[Sequence[str], Mapping[str, str]], object]
Delivery = Callable[["Plan", "RoleSession", "Entry", Optional[str], Console, ExecCommand], int]


def exec_mode(plan: Plan, session: RoleSession, entry: Entry, folder: Optional[str], console: Console,
              exec_command: ExecCommand) -> int:
    """Exec mode: the command replaces awsrun, with only the role's credentials."""
    block = not plan.config.allow_fallbacks
    child_env = environment.child_environment(plan.child_base, entry.credentials, entry.region, block,
                                              command_config(plan, console.warn, block), source_tokens(plan, folder))
    if plan.shell:
        console.say(f"starting {plan.command[0]} with the role's credentials; exit it to drop them")
    exec_command(plan.command, child_env)
    return ExitStatus.OK  # only reached when exec_command is replaced (tests)


def refresh_mode(plan: Plan, session: RoleSession, entry: Entry, folder: Optional[str], console: Console,
                 exec_command: ExecCommand) -> int:
    """--refresh: the command runs as a child served by a renewing credential endpoint; its status."""
    from awsrun.deliver import refresh, server  # threads and http.server: only this mode needs them

    session.mfa_start()  # ask now, at the terminal, not later from the renewal thread
    refresher = refresh.Refresher(entry.credentials, session.renew, console.warn)
    endpoint = server.CredentialServer(refresher.current).start()
    try:
        env = environment.refresh_environment(plan.child_base, endpoint.url, endpoint.token, entry.region,
                                              command_config(plan, console.warn, True),
                                              entry.credentials.assumed_role_arn, source_tokens(plan, folder))
        console.say(f"serving renewed credentials to {plan.command[0]} from {endpoint.url}")
        return refresh.run_child(plan.command, env, refresher, console.warn)  # awsrun private first
    finally:
        endpoint.stop()


def export_mode(plan: Plan, session: RoleSession, entry: Entry, folder: Optional[str], console: Console,
                exec_command: ExecCommand) -> int:
    """--export: shell code that sets the credentials (and records what it replaced)."""
    try:
        console.data(_output().export_lines(entry.credentials, entry.region, plan.config.format, plan.environ))
    except ValueError as exc:
        raise ConfigError(f"cannot write --format {plan.config.format}: {exc}") from None
    return ExitStatus.OK


def credential_process_mode(plan: Plan, session: RoleSession, entry: Entry, folder: Optional[str],
                            console: Console, exec_command: ExecCommand) -> int:
    """--credential-process: the JSON an SDK's credential_process reads."""
    console.data(_output().credential_process(entry.credentials))
    return ExitStatus.OK


def console_mode(plan: Plan, session: RoleSession, entry: Entry, folder: Optional[str], console: Console,
                 exec_command: ExecCommand) -> int:
    """--console: sign in to the AWS console as the role, in a browser or (--print) by printing the URL."""
    from awsrun.deliver import launch, signin  # urllib, subprocess, webbrowser: only this mode needs them

    config, credentials = plan.config, entry.credentials
    override = signin.endpoint_override(plan.environ, plan.child_base, lambda said: None)  # said in check_console
    place = signin.endpoints(signin.partition_of(credentials, entry.region), entry.region, override)
    try:
        duration = signin.console_duration(session.plan())
    except AwsrunError:  # a cached session whose source cannot load now: the length AWS always takes
        duration = None
    if config.verbose:  # the endpoint only: the query of either URL holds a secret
        origin = f"${signin.ENDPOINT_VARIABLE}" if override else "the partition"
        console.say(f"sign-in endpoint = {place.federation} (from {origin})")
        console.say(f"console session = {duration} seconds (SessionDuration)" if duration
                    else "console session = what is left of the role session, at most 1h")
    token = signin.signin_token(place.federation, credentials, duration,
                                max(config.connect_timeout, config.read_timeout))
    url = signin.login_url(place, token)
    browser_env = environment.browser_environment(plan.child_base, source_tokens(plan, folder))
    if not config.print_url and launch.open_browser(url, browser_env, console.warn):
        console.say(f"opened the AWS console as {credentials.assumed_role_arn} in your browser")
        return ExitStatus.OK
    if not config.print_url:
        console.warn("no browser could be started: the sign-in URL follows on stdout")
    console.data(url + "\n")
    return ExitStatus.OK


DELIVER: Dict[str, Delivery] = {"exec": exec_mode, "refresh": refresh_mode, "export": export_mode,
                                "credential-process": credential_process_mode, "console": console_mode}


def check_console(plan: Plan, warn: Callable[[str], None]) -> None:
    """--console's checks before any AWS call: the endpoint override, and the partition once the region is known."""
    from awsrun.deliver import signin  # urllib.parse: a cache hit of the other modes does without it

    override = signin.endpoint_override(plan.environ, plan.child_base, warn)
    if plan.region:
        signin.endpoints(region_partition(plan.region), plan.region, override)


def dry_run(plan: Plan, session: RoleSession, console: Console) -> int:
    """--dry-run: the calls it would make and the command's environment, no STS call."""
    from awsrun.deliver.dryrun import print_plan  # datetime and shlex: only a dry run needs them

    planned = session.plan()
    print_plan(console.line, planned.hops, planned.region, plan.shown, plan.child_base,
               plan.command or ["<no command: output mode>"], not plan.config.allow_fallbacks,
               command_config(plan, console.warn, False), source_tokens(plan, None), plan.config.root)
    return ExitStatus.OK


def unset(config: Settings, environ: Mapping[str, str], console: Console) -> int:
    """--unset: shell code that gives back what --export replaced."""
    if config.format == "dotenv":
        raise UsageError("--unset has no dotenv form: use --format sh, fish or powershell")
    console.data(_output().unset_lines(config.format, environ))
    return ExitStatus.OK


def _output() -> ModuleType:
    """output.py: the text of --export, --unset and --credential-process; exec mode does without it."""
    from awsrun.deliver import output

    return output


def command_config(plan: Plan, warn: Callable[[str], None], write: bool) -> str:
    """The command's AWS_CONFIG_FILE: the neutral copy of the config it would have read,
    whose [default] holds the settings of the profile awsrun ran as."""
    if not write and plan.config.allow_fallbacks:
        return os.devnull  # not used: the user's own config stays
    environ = plan.environ
    profile = (plan.config.profile or environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE")
               or plan.dotenv_credentials.get("AWS_PROFILE"))
    return neutral.config_file(neutral.source_path(plan.child_base), cache_dir(environ), profile, warn, write)


def source_tokens(plan: Plan, memo_folder: Optional[str]) -> FrozenSet[str]:
    """The source's web identity tokens: removed from the command's environment by value."""
    return _tokens(plan.environ, (plan.config.profile, plan.dotenv_credentials.get("AWS_PROFILE")), memo_folder)
