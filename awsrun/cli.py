"""awsrun: run a command with only the temporary credentials of an assumed IAM role.

Usage:
  awsrun [options] [--role ARN]... [--tag KEY=VALUE]... [--transitive-tag KEY]...
         [--policy-arn ARN]... [--env-file PATH]... [--each-role ARN]...
         [--ou ID]... [--account-tag KEY=VALUE]... [--skip-account ID]...
         [--] [COMMAND [ARG...]]

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
                                With neither this nor a role: $AWS_PROFILE, then
                                $AWS_DEFAULT_PROFILE, as for the AWS CLI. With only
                                roles, that profile is their source, own role and all.
  --mfa-serial ARN              MFA device for the first role (default: the profile's
                                mfa_serial).
  --mfa-code CODE               The 6-digit MFA code. Without it, awsrun asks on the
                                terminal, up to 3 times.
  -s NAME, --session-name NAME  Role session name, 2-64 of A-Z a-z 0-9 _+=,.@- .
                                Default: the CI repository and run or job id on
                                GitHub Actions and GitLab CI, else USER@HOST.
  -d DURATION, --duration DURATION
                                Session length, 15m to 12h: seconds (3600) or with
                                units h, m, s (15m, 90m, 1h30m). Default: 1h.
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
                                later files win. A named file must exist, and is
                                trusted by being named.
  --no-env-file                 Read no .env file.
  --allow-fallbacks             Let the command's SDKs use your own AWS config and
                                credentials files and instance metadata (by default
                                they get a copy of the config without credentials, an
                                empty credentials file and no metadata, so only the
                                role's credentials are usable).

Trusted .env files (awsrun reads ./.env only once you trust it; these run nothing):
  --trust-env-file              Trust ./.env (or each --env-file PATH) as it is now:
                                record its absolute path and SHA-256. Editing the
                                file makes it untrusted again.
  --list-trusted-env-files      List the trusted files, each ok, changed or missing.
  --forget-env-file             Stop trusting ./.env (or each --env-file PATH).

Long-running commands:
  --refresh                     Do not exec: run COMMAND as a child that gets
                                credentials from a local endpoint (the container-
                                credentials protocol SDKs speak), renewed before they
                                expire, for jobs that outlive one role session.
  --expect TIME                 How long COMMAND needs its session: seconds, or 45m,
                                2h, 1h30m. A cached session with less left is not
                                used; a role whose session is shorter (its duration;
                                one hour when chained) is refused, unless --refresh.

One command under many roles:
  --each-role ARN               Run COMMAND once per role, as a child, instead of exec;
                                repeatable; @FILE reads one role per line (at most
                                1 MiB). Each is the final hop: after any --role,
                                from the --profile's source.
  --parallel N                  Run at most N roles at once (1-100). Default: 4.
  --no-prefix                   Do not start each output line with [ROLE@ACCOUNT].
  --output-dir DIR              Write each role's output to DIR/ROLE@ACCOUNT.out and
                                .err instead of the terminal.
  --report FILE                 Write a JUnit XML report (JSON if FILE ends in .json).

Root tasks in member accounts (AWS Organizations' centralized root access):
  --assume-root ACCOUNT         End with STS AssumeRoot: a root session in this member
                                account (12 digits), from the management account or a
                                delegated administrator (the source, or the last --role).
  --task-policy NAME            What the root session may do: IAMAuditRootUserCredentials,
                                IAMCreateRootUserPassword, IAMDeleteRootUserCredentials,
                                S3UnlockBucketPolicy or SQSUnlockQueuePolicy (or its
                                arn:PARTITION:iam::aws:policy/root-task/NAME). --duration
                                is then the root session's: at most 15m, the default.

Fleets (every account of an AWS Organization; shards, failure tolerance):
  --each-account                Run COMMAND once per ACTIVE account of the
                                organization (Organizations ListAccounts, called with
                                the source credentials, or after any --role/-p hops).
  --role-name NAME              The role --each-account assumes in each account:
                                arn:PARTITION:iam::ACCOUNT:role/NAME; NAME may hold a
                                path (ops/Deploy).
  --ou ID                       Only accounts under this OU or root (ou-..., r-...),
                                nested OUs included; repeatable (any of them).
  --account-tag KEY=VALUE       Only accounts with this tag; repeatable (all of them).
  --skip-account ID             Leave this account out; repeatable.
  --shard K/N                   Run only the K-th of N contiguous slices of the roles,
                                ordered by account id, then label (a CI matrix).
  --max-failures N              Once N runs have failed, start no new one; the rest are
                                reported "not started".
  --rerun REPORT                Run again the roles that did not end ok in the JSON
                                report (--report FILE.json) of an earlier run, under
                                the same labels.

Output instead of exec (no COMMAND):
  --export                      Print lines that give the current shell the role's
                                credentials and region: eval "$(awsrun -r ROLE --export)".
                                Running it again switches from your original source.
  --format FORMAT               Shell of --export and --unset: sh, fish, powershell or
                                dotenv. Default: sh.
  --unset                       Print the lines that remove what --export set.
  --credential-process          Print credential_process JSON, for a profile's
                                credential_process = awsrun -r ROLE --credential-process

The AWS console (no COMMAND):
  --console                     Open the AWS console as the role in a browser, with a
                                sign-in URL from the federation endpoint.
  --print                       With --console: print the sign-in URL instead. It is a
                                credential: whoever holds it can sign in as the role.

Cache:
  --no-cache                    Neither read nor write cached sessions.
  --cache                       Use the cache even where $CI is set (off there by
                                default: runners share a user).
  --fresh                       Assume the role again and replace the cached session
                                (and a cached MFA session: the code is asked again).
  --min-ttl DURATION            Reuse a cached session only while this much of it is
                                left (seconds, or 10m, 1h, ...). Default: 15m, or half
                                the session if less.

Output:
  --dry-run                     Resolve and check everything, print what would be
                                removed from and set in the environment and the
                                command, then exit without calling AssumeRole.
  -q, --quiet                   Do not print the assumed role and its expiry.
  -v, --verbose                 Say where each setting came from.
  --debug                       Show tracebacks of awsrun's own errors.
  --completion SHELL            Print the completion script for bash, zsh or fish
                                (README shows how to install it). The value
                                profiles prints the profile names it offers.
  -h, --help                    Show this help and exit.
  --version                     Show the version and exit.

Every option can also be set as an environment variable AWSRUN_<LONG_NAME>
(AWSRUN_ROLE, AWSRUN_SESSION_NAME, AWSRUN_DRY_RUN=true, ...) or as the same key in
a .env file; repeatable options take a comma-separated list. A flag beats the
environment, which beats the .env file, which beats the default. Only flags and
the environment name .env files; the trust options are flags only. An unknown
AWSRUN_* name is warned about. Durations (--duration, --min-ttl) are seconds or
a number with units h, m, s: 900, 15m, 1h30m, 12h.

Exit status: the command's own; 125 when awsrun fails; 126 when the command
cannot be executed; 127 when it is not found; 141 when awsrun's own output went
to a closed pipe. With --each-role: 0 when every run exits 0, 125 when awsrun
failed for any role, else 123 (--each-account, --rerun: the same).
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Callable, List, Mapping, NoReturn, Optional, Sequence, TextIO

from awsrun import __version__
from awsrun.errors import AwsrunError, ExitStatus, Terminated, UsageError
from awsrun.text import Console

if TYPE_CHECKING:
    from types import FrameType

    from docopt import DocoptExit

    from awsrun.deliver.modes import ExecCommand

# Modules beyond these are imported where they are first needed: --help, --version and
# every local check must answer at the cost of starting Python, and a cache hit close to it.

__all__ = ["main", "run", "Console"]

PROG = "awsrun"


def main(
    argv: Optional[Sequence[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
    *,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
    exec_command: Optional[ExecCommand] = None,
) -> int:
    """Run awsrun; the only place that turns an exception into a message and an exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    console = Console(environ, stdout or sys.stdout, stderr or sys.stderr, PROG)
    try:
        status = _dispatch(argv, environ, console,
                           exec_command or (lambda command, env: _exec(command, env, console.warn)))
        console.out.flush()  # a closed pipe shows here, while its error can still be handled
        return status
    except BrokenPipeError:
        # Whoever read awsrun's output stopped reading (``| head -1``): stop quietly, as
        # cat does when SIGPIPE kills it, with the status a shell would show for that.
        return ExitStatus.BROKEN_PIPE
    except AwsrunError as exc:
        console.fail(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        console.fail("interrupted")
        return ExitStatus.INTERRUPTED
    except Terminated:
        console.fail("terminated")
        return ExitStatus.TERMINATED
    except Exception as exc:  # a bug or an unforeseen library error: still one line, no secret
        console.fail(f"internal error ({exc.__class__.__name__}); run with --debug for details")
        return ExitStatus.FAILURE


def _dispatch(argv: List[str], environ: Mapping[str, str], console: Console,
              exec_command: ExecCommand) -> int:
    args = _parse(argv)
    console.debug = console.debug or args["--debug"]
    if args["--help"]:
        console.data(__doc__.strip() + "\n")
        return ExitStatus.OK
    if args["--version"]:
        console.data(f"{PROG} {__version__}\n")
        return ExitStatus.OK
    if args["--completion"]:
        from awsrun.config import completion

        if args["--completion"] == "profiles":
            for name in completion.profile_names(environ):
                console.line(name)
        else:
            console.data(completion.script(args["--completion"], __doc__))
        return ExitStatus.OK
    from awsrun.runner import run as run_awsrun

    return run_awsrun(args, environ, console, exec_command, __doc__)


def run() -> NoReturn:
    """The console entry point: main(), then exit at once.

    Tearing down the interpreter's modules takes longer than most of awsrun's own work,
    and nothing is left to clean up: output is flushed, files are closed.
    """
    import gc

    try:  # signal.py builds three enums as it loads (half a millisecond); its functions are _signal's
        import _signal as signal
    except ImportError:  # an interpreter without CPython's C module
        import signal

    # A short life that ends in exec or _exit leaves no cycles worth collecting, and the
    # collector would otherwise run again and again while botocore's modules load.
    gc.disable()
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


def _terminate(signum: int, frame: Optional[FrameType]) -> NoReturn:
    raise Terminated()


def _exec(command: Sequence[str], environ: Mapping[str, str], warn: Callable[[str], None]) -> NoReturn:
    from awsrun.deliver.execute import exec_command

    exec_command(command, environ, warn)


def _parse(argv: List[str]) -> dict:
    from docopt import DocoptExit, docopt

    try:
        return dict(docopt(__doc__, argv, default_help=False, options_first=True))
    except DocoptExit as exc:
        raise UsageError(_usage_problem(exc)) from None


def _usage_problem(exc: DocoptExit) -> str:
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
    from awsrun.config.typos import closest

    name = long or short or ""
    meant = sorted(option for option in known if long and option and option.startswith(long))
    if len(meant) > 1:  # docopt takes a unique prefix of a long option, and says nothing of others
        return f"option {long} is ambiguous: " + ", ".join(meant)
    return f"unknown option {name}" + closest(name, (n for n in known if n), "--" if long else "-")
