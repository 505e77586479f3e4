"""Resolve every setting: flag > environment (AWSRUN_*) > .env file > default.

Which settings exist, and whether each is a flag, a value or a list, is read from the
docopt result, so the usage docstring stays the one spec of the CLI.
"""

from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from awsrun.config import validate
from awsrun.credentials import mask
from awsrun.config.envfile import DEFAULT_PATH, EnvFiles
from awsrun.errors import ConfigError, InvalidValue, UsageError
from awsrun.config.naming import default_session_name

if TYPE_CHECKING:
    from awsrun.config.roottask import RootTask  # loaded only by --assume-root

__all__ = ["ArgValue", "Args", "Settings", "resolve", "raw_values", "wants_debug", "env_file_paths", "env_name"]

# The docopt result: each option's, command's and argument's value (a flag, a count, a value, a list).
ArgValue = Union[None, bool, int, str, List[str]]
Args = Mapping[str, ArgValue]

# Not settable from the environment or a .env: which files to read and whether to trust them.
_NOT_SETTINGS = {"--help", "--version", "--completion", "--env-file", "--no-env-file", "--trust-env-file",
                 "--list-trusted-env-files", "--forget-env-file", "--", "COMMAND", "ARG"}
TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_MASKED = {"external-id", "mfa-code"}
DEFAULTS = {"duration": "3600", "connect-timeout": "5", "read-timeout": "10", "format": "sh", "min-ttl": "900"}
OUTPUT_MODES = ("export", "unset", "credential-process", "console")


def env_name(option: str) -> str:
    """``--session-name`` -> ``AWSRUN_SESSION_NAME``."""
    return "AWSRUN_" + option.lstrip("-").upper().replace("-", "_")


class Settings(NamedTuple):
    """Every resolved and checked setting, and where each one came from."""

    roles: Tuple[validate.RoleRef, ...]
    profile: Optional[str]
    mfa_serial: Optional[str]
    mfa_code: Optional[str]
    session_name: str
    duration: int
    external_id: Optional[str]
    region: Optional[str]
    source_identity: Optional[str]
    tags: Tuple[Tuple[str, str], ...]
    transitive_tags: Tuple[str, ...]
    policy: Optional[str]
    policy_arns: Tuple[str, ...]
    connect_timeout: float
    read_timeout: float
    mode: str  # "exec", "export", "unset", "credential-process" or "console"
    format: str
    use_cache: bool
    fresh: bool
    min_ttl: int
    refresh: bool
    allow_fallbacks: bool
    dry_run: bool
    quiet: bool
    verbose: bool
    debug: bool
    sources: Dict[str, str]
    shown: Dict[str, str]
    expect: Optional[int] = None  # seconds the command needs its session for (--expect)
    # The profile came from AWS_PROFILE while --role was given: as in the AWS CLI, its whole
    # chain (its own role included) is the source the roles are assumed from.
    profile_is_source: bool = False
    root: "Optional[RootTask]" = None  # --assume-root: the run ends with AssumeRoot, not a role
    print_url: bool = False  # --console --print: print the sign-in URL, open no browser

    def __repr__(self) -> str:
        # The sensitive values are shown as --verbose shows them: masked.
        fields = ", ".join(f"{name}={self.shown.get(name.replace('_', '-'), value)!r}"
                           if name in ("external_id", "mfa_code") and value else f"{name}={value!r}"
                           for name, value in zip(self._fields, self))
        return f"Settings({fields})"

    def given(self, name: str) -> bool:
        """Whether the user set ``name`` (flag, environment or .env), not a default."""
        return self.sources.get(name, "default") != "default"

    def explain(self) -> List[str]:
        """One line per setting that is set: its value (masked if sensitive) and its source."""
        # The default min-ttl depends on the session's length: the lookup says the value in use.
        return [f"{name} = {self.shown[name]}{_DEFAULT_NOTES.get(name, '') if source == 'default' else ''} (from {source})"
                for name, source in self.sources.items()]


_DEFAULT_NOTES = {"min-ttl": ", or half the session if less"}


def _parse_bool(name: str, text: str) -> bool:
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in _FALSE:
        return False
    raise InvalidValue(name, text, "expected true/false, 1/0, yes/no or on/off")


def _from_text(name: str, text: str, like: ArgValue) -> ArgValue:
    """Read an AWSRUN_* value as the same kind docopt gives for the flag."""
    if isinstance(like, bool):
        return _parse_bool(name, text)
    if isinstance(like, list):
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def env_file_paths(args: Args, environ: Mapping[str, str]) -> Tuple[List[str], bool]:
    """The .env files to read and whether they must exist (named ones must).

    Flags beat the environment here too; a conflict within one layer is an error.
    """
    layers = [
        (list(args["--env-file"]), bool(args["--no-env-file"]), "--env-file and --no-env-file"),
        (
            _from_text("AWSRUN_ENV_FILE", environ.get("AWSRUN_ENV_FILE", ""), []),
            _parse_bool("AWSRUN_NO_ENV_FILE", environ.get("AWSRUN_NO_ENV_FILE", "")),
            "AWSRUN_ENV_FILE and AWSRUN_NO_ENV_FILE",
        ),
    ]
    for named, none, names in layers:
        if named and none:
            raise UsageError(f"{names} exclude each other")
        if none:
            return [], False
        if named:
            return named, True
    return [DEFAULT_PATH], False


def _layers(args: Args, environ: Mapping[str, str], files: EnvFiles) -> Tuple[Dict[str, ArgValue], Dict[str, str]]:
    """Fill each setting from the first layer that has it: flag, environment, .env, default."""
    raw: Dict[str, ArgValue] = {}
    sources: Dict[str, str] = {}
    for key, given in args.items():
        if key in _NOT_SETTINGS:
            continue
        name, variable = key[2:], env_name(key)
        if given == "":
            raise InvalidValue(key, given, "empty; leave the option out to use the default")
        if given not in (None, False, []):
            raw[name], sources[name] = given, key
        elif variable in environ:
            raw[name], sources[name] = _from_text(variable, environ[variable], given), f"${variable}"
        elif variable in files.values:
            raw[name] = _from_text(variable, files.values[variable], given)
            sources[name] = f"{variable} in {files.origin[variable]}"
        elif name in DEFAULTS:
            raw[name], sources[name] = DEFAULTS[name], "default"
        else:
            raw[name] = given
        if not raw[name]:
            sources.pop(name, None)  # set to empty or false: nothing to report
    return raw, sources


def raw_values(args: Args, environ: Mapping[str, str], files: EnvFiles) -> Dict[str, ArgValue]:
    """Every setting's unchecked value by the same precedence, for modes that check their own (--each-role)."""
    return _layers(args, environ, files)[0]


def wants_debug(args: Args, environ: Mapping[str, str], files: EnvFiles) -> bool:
    """--debug alone, by the same precedence, so that it holds for errors in other settings."""
    raw, _ = _layers({"--debug": args["--debug"]}, environ, files)
    return bool(raw["debug"])


def resolve(
    args: Args,
    environ: Mapping[str, str],
    files: EnvFiles,
    read_text: Optional[Callable[[str], str]] = None,
) -> Settings:
    """Resolve and check every setting; raise on the first value that breaks a rule."""
    raw, sources = _layers(args, environ, files)
    if not raw["session-name"]:
        raw["session-name"] = default_session_name(environ)
        sources["session-name"] = "default"
    region = raw["region"] or None
    if region:
        validate.region_partition(region)
    tags = validate.tags(raw["tag"])
    root = _root(raw, sources)
    settings = Settings(
        roles=tuple(validate.role(value) for value in raw["role"]),
        profile=raw["profile"] or None,
        mfa_serial=validate.mfa_serial(raw["mfa-serial"]) if raw["mfa-serial"] else None,
        mfa_code=validate.mfa_code(raw["mfa-code"]) if raw["mfa-code"] else None,
        session_name=validate.session_name(raw["session-name"]),
        duration=validate.session_duration(DEFAULTS["duration"] if root else raw["duration"]),
        external_id=validate.external_id(raw["external-id"]) if raw["external-id"] else None,
        region=region,
        source_identity=validate.source_identity(raw["source-identity"]) if raw["source-identity"] else None,
        tags=tags,
        transitive_tags=validate.transitive_tags(raw["transitive-tag"], tags),
        policy=_policy(raw["policy"], read_text) if raw["policy"] else None,
        policy_arns=validate.policy_arns(raw["policy-arn"]),
        mode=_mode(raw),
        format=validate.output_format(raw["format"]),
        use_cache=_use_cache(raw, environ),
        fresh=raw["fresh"],
        refresh=raw["refresh"],
        min_ttl=validate.min_ttl(raw["min-ttl"]),
        connect_timeout=validate.timeout("connect timeout", raw["connect-timeout"]),
        read_timeout=validate.timeout("read timeout", raw["read-timeout"]),
        allow_fallbacks=raw["allow-fallbacks"],
        dry_run=raw["dry-run"],
        quiet=raw["quiet"],
        verbose=raw["verbose"],
        debug=raw["debug"],
        sources=sources,
        shown={name: _show(name, raw[name]) for name in sources},
        expect=validate.expect(raw["expect"]) if raw["expect"] else None,
        root=root,
        print_url=bool(raw["print"]),
    )
    if root and settings.expect and not settings.refresh and settings.expect > root.duration:
        raise ConfigError(f"--expect {settings.shown['expect']} (from {sources['expect']}) is longer than the "
                          f"{root.duration}s root session: pass --refresh (renews it while the command runs)")
    if settings.refresh and settings.mode != "exec":
        raise UsageError(f"--refresh runs a command and does not go with --{settings.mode}")
    if settings.print_url and settings.mode != "console":
        raise UsageError(f"--print (from {sources['print']}) prints the sign-in URL of --console: "
                         "add --console, or drop --print")
    if settings.quiet and settings.verbose:
        raise UsageError("--quiet and --verbose exclude each other")
    if settings.mfa_code and not settings.mfa_serial and not settings.profile:  # a profile may name one
        raise UsageError(f"an MFA code (from {sources['mfa-code']}) but no MFA device to use it with: "
                         "pass --mfa-serial ARN or a --profile with mfa_serial")
    if sources.get("format") == "--format" and settings.mode not in ("export", "unset"):
        raise UsageError("--format is the shell of --export and --unset: add one of them, or drop --format")
    return settings


def _root(raw: Dict[str, ArgValue], sources: Dict[str, str]) -> "Optional[RootTask]":
    """--assume-root and --task-policy, which go together; --duration is then the root session's."""
    account, task = raw["assume-root"], raw["task-policy"]
    if not account and not task:
        return None
    if not account or not task:
        given, missing = ("--task-policy", "--assume-root ACCOUNT") if task else ("--assume-root", "--task-policy NAME")
        raise UsageError(f"{given} needs {missing}: a root session is for one task in one member account")
    for fleet in ("each-role", "each-account"):
        if raw.get(fleet):
            raise UsageError(f"--assume-root and --{fleet} exclude each other: run one member account at a time")
    if raw.get("console"):  # the federation endpoint signs in role sessions; a root task session is for API calls
        raise UsageError("--assume-root and --console exclude each other: a root task session is for the "
                         "task's API calls, not the console")
    duration: Optional[int] = None
    origin = sources.pop("duration", "default")  # the roles before AssumeRoot keep their own durations
    if origin != "default":
        sources["root-duration"] = origin
        duration = validate.seconds_of(str(raw["duration"]))
        if duration is None:
            raise InvalidValue("duration", raw["duration"], f"expected at most 15m (900 seconds) with --assume-root: "
                                                            f"{validate.DURATION_FORMS}")
    raw["root-duration"] = raw["duration"]
    from awsrun.config.roottask import root_task  # only --assume-root: a cache hit does without it

    return root_task(str(account), str(task), duration, str(raw["duration"]), origin)


def _policy(value: str, read_text: Optional[Callable[[str], str]]) -> str:
    # Here, not at the top: only --policy parses JSON or reads a file.
    from awsrun.config import policydoc

    return policydoc.policy(value, read_text or policydoc.read_text)


def _mode(raw: Args) -> str:
    chosen = [mode for mode in OUTPUT_MODES if raw[mode]]
    if len(chosen) > 1:
        raise UsageError(" and ".join(f"--{mode}" for mode in chosen) + " exclude each other")
    return chosen[0] if chosen else "exec"


def _use_cache(raw: Args, environ: Mapping[str, str]) -> bool:
    """On for people at a terminal; off where CI is set (runners share a user), unless asked."""
    if raw["cache"] and raw["no-cache"]:
        raise UsageError("--cache and --no-cache exclude each other")
    if raw["cache"] or raw["no-cache"]:
        return bool(raw["cache"])
    return environ.get("CI", "").strip().lower() in _FALSE


def _show(name: str, value: ArgValue) -> str:
    if name == "mfa-code":
        return "******"
    if name in _MASKED:
        return mask(str(value))
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
