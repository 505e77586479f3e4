"""awsrun's exception hierarchy: each error knows its exit status and how to say itself."""

from __future__ import annotations

__all__ = [
    "ExitStatus",
    "Terminated",
    "AwsrunError",
    "UsageError",
    "InvalidValue",
    "ConfigError",
    "NoSourceCredentials",
    "StsError",
    "CommandNotFound",
    "CommandNotExecutable",
]


class ExitStatus:
    """Exit statuses awsrun itself uses; they follow env(1).

    Plain ints in a namespace: building an IntEnum would cost every run, a cache hit
    included, a third of a millisecond.
    """

    OK = 0
    FAILURE = 125
    NOT_EXECUTABLE = 126
    NOT_FOUND = 127
    INTERRUPTED = 130
    BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows for a reader that stopped reading
    TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM arrived before the exec; like KeyboardInterrupt, not an error to catch."""


class AwsrunError(Exception):
    """A failure of awsrun itself, shown as one line on stderr."""

    exit_status = ExitStatus.FAILURE
    template = "{detail}"

    def __init__(self, detail: str = "", **fields: object) -> None:
        self.fields = dict(fields, detail=detail)
        super().__init__(self.template.format(**self.fields))


class UsageError(AwsrunError):
    """The command line could not be parsed."""

    template = "{detail} (see 'awsrun --help')"


class InvalidValue(AwsrunError):
    """A setting's value breaks a rule that can be checked locally."""

    template = "invalid {name} {value!r}: {detail}"

    def __init__(self, name: str, value: object, detail: str) -> None:
        super().__init__(detail, name=name, value=value)


class ConfigError(AwsrunError):
    """A .env file, a profile or a combination of settings is unusable."""


class NoSourceCredentials(AwsrunError):
    """botocore's credential chain found nothing to assume the role with."""

    template = (
        "no source credentials found{detail}: name a profile that has them (-p NAME; "
        "'awsrun-keys add NAME' keeps keys in the OS keyring), set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, put them in a .env file you name (--env-file PATH) or trust "
        "(--trust-env-file), or run where a web identity, container or instance role is available"
    )


class StsError(AwsrunError):
    """STS refused AssumeRole or could not be reached."""


class CommandNotFound(AwsrunError):
    """The command is not on the child's PATH."""

    exit_status = ExitStatus.NOT_FOUND
    template = "command not found: {detail!r}"


class CommandNotExecutable(AwsrunError):
    """The command exists but cannot be executed."""

    exit_status = ExitStatus.NOT_EXECUTABLE
    template = "command {detail!r} cannot be executed{why}"

    def __init__(self, command: str, why: str = "") -> None:
        super().__init__(command, why=f" ({why})" if why else "")
