"""awsrun: run a command with only the temporary credentials of an assumed IAM role.

Usage:
  awsrun [options] [--role ARN]... [--tag KEY=VALUE]... [--transitive-tag KEY]...
         [--policy-arn ARN]... [--env-file PATH]... [--] [COMMAND [ARG...]]

With no COMMAND, awsrun starts $SHELL (or /bin/sh) under the role.

Role session:
  -r ARN, --role ARN            Role to assume: arn:PARTITION:iam::ACCOUNT:role/NAME,
                                or ACCOUNT:NAME with the partition of the region.
                                Repeat to chain: each role is assumed with the
                                previous one's session; the last one's reaches COMMAND.
  -p NAME, --profile NAME       AWS CLI profile (~/.aws/config) whose role_arn,
                                source_profile or credential_source, mfa_serial,
                                external_id, duration_seconds, role_session_name and
                                region to use; options given here override them. A
                                profile without role_arn is the source for --role.
  --mfa-serial ARN              MFA device for the first role (default: the profile's
                                mfa_serial).
  --mfa-code CODE               The 6-digit MFA code. Without it, awsrun asks on the
                                terminal, up to 3 times.
  -s NAME, --session-name NAME  Role session name, 2-64 of A-Z a-z 0-9 _+=,.@- .
                                Default: the CI repository and run or job id on
                                GitHub Actions and GitLab CI, else USER@HOST.
  -d SECONDS, --duration SECONDS
                                Session length, 900 to 43200 seconds. Default: 3600.
  --external-id ID              External id the role's trust policy requires.
  --source-identity ID          Source identity to set on the session.
  --tag KEY=VALUE               Session tag; repeatable, at most 50.
  --transitive-tag KEY          Pass the tag KEY on to chained sessions; repeatable.
  --policy FILE_OR_JSON         Inline session policy: JSON text, or a file holding it.
  --policy-arn ARN              Managed session policy; repeatable, at most 10.
  --region REGION               STS region. Default: $AWS_REGION, $AWS_DEFAULT_REGION,
                                the profile's region, then us-east-1.
  --connect-timeout SECONDS     Give up connecting to STS after this long. Default: 5.
  --read-timeout SECONDS        Give up waiting for STS's answer after this long.
                                Default: 10. Each is per attempt, 3 attempts at most.

Environment:
  --env-file PATH               Read this .env file instead of ./.env; repeatable,
                                later files win. A named file must exist.
  --no-env-file                 Read no .env file.
  --allow-fallbacks             Let the command's SDKs fall back to the shared
                                credentials file and instance metadata (blocked by
                                default, so only the role's credentials are usable).

Long-running commands:
  --refresh                     Do not exec: run COMMAND as a child that gets
                                credentials from a local endpoint (the container-
                                credentials protocol SDKs speak), renewed before they
                                expire, for jobs that outlive one role session.

Output instead of exec (no COMMAND):
  --export                      Print lines that give the current shell the role's
                                credentials and region: eval "$(awsrun -r ROLE --export)".
                                Running it again switches from your original source.
  --format FORMAT               Shell of --export and --unset: sh, fish, powershell or
                                dotenv. Default: sh.
  --unset                       Print the lines that remove what --export set.
  --credential-process          Print credential_process JSON, for a profile's
                                credential_process = awsrun -r ROLE --credential-process

Cache:
  --no-cache                    Neither read nor write cached sessions.
  --cache                       Use the cache even where $CI is set (off there by
                                default: runners share a user).
  --fresh                       Assume the role again and replace the cached session.
  --min-ttl SECONDS             Reuse a cached session only while this much of it is
                                left. Default: 900.

Output:
  --dry-run                     Resolve and check everything, print what would be
                                removed from and set in the environment and the
                                command, then exit without calling AssumeRole.
  -q, --quiet                   Do not print the assumed role and its expiry.
  -v, --verbose                 Say where each setting came from.
  --debug                       Show tracebacks of awsrun's own errors.
  -h, --help                    Show this help and exit.
  --version                     Show the version and exit.

Every option can also be set as an environment variable AWSRUN_<LONG_NAME>
(AWSRUN_ROLE, AWSRUN_SESSION_NAME, AWSRUN_DRY_RUN=true, ...) or as the same key in
a .env file; repeatable options take a comma-separated list. A flag beats the
environment, which beats the .env file, which beats the default.

Exit status: the command's own; 125 when awsrun fails; 126 when the command
cannot be executed; 127 when it is not found.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, NoReturn, Optional, Sequence, TextIO

from awsrun import __version__
from awsrun.errors import AwsrunError, ConfigError, ExitStatus, InvalidValue, Terminated, UsageError

if TYPE_CHECKING:
    from awsrun.envfile import EnvFiles
    from awsrun.settings import Settings

# Modules beyond these are imported where they are first needed: --help, --version and
# every local check must answer at the cost of starting Python, and a cache hit close to it.

__all__ = ["main", "run"]

PROG = "awsrun"


def main(
    argv: Optional[Sequence[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
    *,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
    exec_command: Optional[Callable[[Sequence[str], Mapping[str, str]], Any]] = None,
) -> int:
    """Run awsrun; the only place that turns an exception into a message and an exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    run = _Invocation(environ, stdout or sys.stdout, stderr or sys.stderr, exec_command or _exec)
    try:
        return run(argv)
    except AwsrunError as exc:
        run.fail(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        run.fail("interrupted")
        return ExitStatus.INTERRUPTED
    except Terminated:
        run.fail("terminated")
        return ExitStatus.TERMINATED
    except Exception as exc:  # a bug or an unforeseen library error: still one line, no secret
        run.fail(f"internal error ({exc.__class__.__name__}); run with --debug for details")
        return ExitStatus.FAILURE


def run() -> NoReturn:
    """The console entry point: main(), then exit at once.

    Tearing down the interpreter's modules takes longer than most of awsrun's own work,
    and nothing is left to clean up: output is flushed, files are closed.
    """
    import signal

    # SIGTERM before the exec unwinds like Ctrl-C: temporary files go, the cache stays whole.
    # The exec resets the handler, so the command gets its signals untouched.
    signal.signal(signal.SIGTERM, _terminate)
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status)


def _terminate(signum: int, frame: Any) -> NoReturn:
    raise Terminated()


def _exec(command: Sequence[str], environ: Mapping[str, str]) -> NoReturn:
    from awsrun.execute import exec_command

    exec_command(command, environ)


def _parse(argv: List[str]) -> dict:
    from docopt import DocoptExit, docopt

    try:
        return dict(docopt(__doc__, argv, default_help=False, options_first=True))
    except DocoptExit as exc:
        raise UsageError(_usage_problem(exc)) from None


def _usage_problem(exc: Any) -> str:
    """docopt's message, told in one line a person understands."""
    from docopt import parse_options

    message = str(exc).splitlines()[0]
    # Left-over options are reported as reprs: Option('-q', '--quiet', 0, True).
    left = re.search(r"Option\((None|'[^']*'), (None|'[^']*')", message)
    if not left:
        return message
    short, long = (None if part == "None" else part.strip("'") for part in left.groups())
    known = {name for option in parse_options(__doc__) for name in (option.short, option.longer)}
    if (short or long) in known:
        return f"option {long or short} given more than once"
    return f"unknown option {long or short}"


class _Invocation:
    """One run of awsrun: its streams, its exec function, and whether --debug is on yet."""

    def __init__(self, environ: Mapping[str, str], out: TextIO, err: TextIO, exec_command: Callable) -> None:
        self.environ, self.out, self.err, self.exec_command = environ, out, err, exec_command
        # Known for sure only once settings are resolved; until then, the environment's word.
        self.debug = environ.get("AWSRUN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
        self.quiet = False

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"{PROG}: {message}", file=self.err)

    def warn(self, message: str) -> None:
        """Warnings show even with --quiet: they say something went differently than asked."""
        print(f"{PROG}: warning: {message}", file=self.err)

    def fail(self, message: str) -> None:
        if self.debug:
            import traceback

            traceback.print_exc(file=self.err)
        print(f"{PROG}: {message}", file=self.err)

    def __call__(self, argv: List[str]) -> int:
        environ, out = self.environ, self.out
        args = _parse(argv)
        self.debug = self.debug or args["--debug"]
        if args["--help"]:
            print(__doc__.strip(), file=out)
            return ExitStatus.OK
        if args["--version"]:
            print(f"{PROG} {__version__}", file=out)
            return ExitStatus.OK

        from awsrun import settings as settings_module
        from awsrun.envfile import read as read_env_files

        paths, required = settings_module.env_file_paths(args, environ)
        files = read_env_files(paths, required)
        self.debug = settings_module.wants_debug(args, environ, files)
        config = settings_module.resolve(args, environ, files)
        self.debug, self.quiet = config.debug, config.quiet
        if config.verbose:
            for line in config.explain():
                self.say(line)
        if config.mode != "exec" and args["COMMAND"]:
            raise UsageError(f"--{config.mode} prints credentials and runs no command: drop {args['COMMAND']!r}")
        if config.mode == "unset":
            if config.format == "dotenv":
                raise UsageError("--unset has no dotenv form: use --format sh, fish or powershell")
            from awsrun import output

            out.write(output.unset_lines(config.format))
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

        timeouts = (config.connect_timeout, config.read_timeout)
        prepared: List[Any] = []
        mfa_sessions: List[Any] = []

        def prepare() -> Any:
            """Load the source and plan the hops once per run; every renewal re-walks them."""
            if not prepared:
                from awsrun import chain

                prepared.append(chain.prepare(config, dotenv_credentials, issued, region, region_source,
                                              self.say if config.verbose else None))
            return prepared[0]

        if config.dry_run:
            plan = prepare()
            _print_plan(out, plan.hops, plan.region, child_base, command or ["<no command: output mode>"],
                        not config.allow_fallbacks)
            return ExitStatus.OK

        def assume() -> Any:
            from awsrun.chain import assume_all, mfa_session, without_mfa

            plan = prepare()
            hops, start = plan.hops, None
            serial = hops[0].request.mfa_serial
            if config.refresh and serial:  # one code per run: renewals assume from this session
                if not mfa_sessions:
                    mfa_sessions.append(mfa_session(plan.source, serial, plan.region, timeouts,
                                                    config.mfa_code, mfa_prompt, self.warn))
                hops, start = without_mfa(hops), mfa_sessions[0]
            return assume_all(plan.source, hops, plan.region, timeouts, config.mfa_code, mfa_prompt, self.warn,
                              start=start)

        fetched = []

        def fetch() -> Any:
            credentials = assume()
            fetched.append(True)
            return Entry(credentials, prepare().region)

        store = open_cache(environ, self.warn) if config.use_cache else None
        key = cache_key(config, environ, dotenv_credentials, region) if store else ""
        entry = cached(store, key, config.min_ttl, config.fresh, fetch)
        credentials = entry.credentials
        origin = "assumed" if fetched else "reusing cached session of"
        self.say(f"{origin} {credentials.assumed_role_arn}, expires {iso8601(credentials.expiration)}")
        if config.mode != "exec":
            from awsrun import output
        if config.mode == "export":
            try:
                out.write(output.export_lines(credentials, entry.region, config.format, environ))
            except ValueError as exc:
                raise ConfigError(f"cannot write --format {config.format}: {exc}") from None
            return ExitStatus.OK
        if config.mode == "credential-process":
            out.write(output.credential_process(credentials))
            return ExitStatus.OK
        if config.refresh:
            return self._refresh(command, child_base, entry, assume, prepare(), config.profile)
        child_env = environment.child_environment(child_base, credentials, entry.region, not config.allow_fallbacks)
        if not args["COMMAND"]:
            self.say(f"starting {command[0]} with the role's credentials; exit it to drop them")
        self.exec_command(command, child_env)
        return ExitStatus.OK  # only reached when exec_command is replaced (tests)


    def _refresh(self, command: List[str], child_base: Mapping[str, str], entry: Any,
                 assume: Callable[[], Any], plan: Any, profile: Optional[str]) -> int:
        """Run the command as a child served by a renewing credential endpoint; its status."""
        import tempfile

        from awsrun import environment, profiles, refresh
        from awsrun.server import CredentialServer

        # The child's config keeps the profile's region, endpoints and retries, not its credentials.
        settings = plan.source.profiles().get(profile, {}) if profile else plan.source.scoped_config()
        fd, config_file = tempfile.mkstemp(prefix="awsrun-", suffix=".config")
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(profiles.neutral_config(settings))
        refresher = refresh.Refresher(entry.credentials, assume, self.warn)
        server = CredentialServer(refresher.current).start()
        try:
            env = environment.refresh_environment(child_base, server.url, server.token, entry.region,
                                                  config_file, entry.credentials.assumed_role_arn)
            self.say(f"serving renewed credentials to {command[0]} from {server.url}")
            return refresh.run_child(command, env, refresher)
        finally:
            server.stop()
            os.unlink(config_file)


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


def _print_plan(out: TextIO, hops: Sequence[Any], region: str, base: Mapping[str, str], command: List[str], block: bool) -> None:
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
    child = environment.child_environment(base, placeholder, region, block)
    for name in sorted(set(base) - set(child)):
        print(f"remove {name}", file=out)
    for name, value in child.items():
        if base.get(name) != value:
            print(f"set {name}={value}", file=out)
    import shlex

    print("exec " + shlex.join(command), file=out)
