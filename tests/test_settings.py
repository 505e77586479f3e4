"""Settings precedence as tables: flag > AWSRUN_* environment > .env file > default, and its sources."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import pytest

from awsrun.config import settings
from awsrun.cli import _parse
from awsrun.config.envfile import DEFAULT_PATH, EnvFiles
from awsrun.errors import InvalidValue, UsageError

DOTENV = "/project/.env"
# A CI environment makes the default session name the same on every machine.
GITHUB = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "4242", "GITHUB_REPOSITORY": "org/repo"}
GITHUB_DEFAULT_NAME = "gha@org.repo@4242"


def resolve(
    argv: Sequence[str] = (),
    environ: Optional[Mapping[str, str]] = None,
    dotenv: Optional[Mapping[str, str]] = None,
) -> settings.Settings:
    """Parse ``argv`` as the CLI does and resolve it against ``environ`` and one .env file's values."""
    dotenv = dict(dotenv or {})
    files = EnvFiles(dotenv, {key: DOTENV for key in dotenv})
    return settings.resolve(_parse(list(argv)), {**GITHUB, **(environ or {})}, files)


def layers(flag: Optional[List[str]], env: Optional[Dict[str, str]], dotenv: Optional[Dict[str, str]]) -> settings.Settings:
    return resolve(flag or [], env or {}, dotenv or {})


@pytest.mark.parametrize(
    "option, variable",
    [
        ("--session-name", "AWSRUN_SESSION_NAME"),
        ("--role", "AWSRUN_ROLE"),
        ("--dry-run", "AWSRUN_DRY_RUN"),
        ("--tag", "AWSRUN_TAG"),
        ("--policy-arn", "AWSRUN_POLICY_ARN"),
        ("--connect-timeout", "AWSRUN_CONNECT_TIMEOUT"),
        ("--no-env-file", "AWSRUN_NO_ENV_FILE"),
    ],
)
def test_env_name(option: str, variable: str) -> None:
    assert settings.env_name(option) == variable


# --- a value option --------------------------------------------------------------------------

F, E, D = "flag-name", "env-name", "dotenv-name"

SESSION_NAME_LAYERS = [
    # flag, environment, .env -> value, source
    (F, E, D, F, "--session-name"),
    (F, E, None, F, "--session-name"),
    (F, None, D, F, "--session-name"),
    (F, None, None, F, "--session-name"),
    (None, E, D, E, "$AWSRUN_SESSION_NAME"),
    (None, E, None, E, "$AWSRUN_SESSION_NAME"),
    (None, None, D, D, f"AWSRUN_SESSION_NAME in {DOTENV}"),
    (None, None, None, GITHUB_DEFAULT_NAME, "default"),
]


@pytest.mark.parametrize("flag, env, dotenv, value, source", SESSION_NAME_LAYERS)
def test_session_name_precedence(flag: Optional[str], env: Optional[str], dotenv: Optional[str], value: str, source: str) -> None:
    result = layers(
        ["--session-name", flag] if flag else None,
        {"AWSRUN_SESSION_NAME": env} if env else None,
        {"AWSRUN_SESSION_NAME": dotenv} if dotenv else None,
    )
    assert result.session_name == value
    assert result.sources["session-name"] == source
    assert f"session-name = {value} (from {source})" in result.explain()


def test_short_flag_is_the_same_option() -> None:
    result = resolve(["-s", "short-name"], {"AWSRUN_SESSION_NAME": "env-name"})
    assert (result.session_name, result.sources["session-name"]) == ("short-name", "--session-name")


@pytest.mark.parametrize(
    "flag, env, dotenv, value, source",
    [
        ("7200", "1800", "2700", 7200, "--duration"),
        (None, "1800", "2700", 1800, "$AWSRUN_DURATION"),
        (None, None, "2700", 2700, f"AWSRUN_DURATION in {DOTENV}"),
        (None, None, None, 3600, "default"),
    ],
)
def test_duration_precedence(flag: Optional[str], env: Optional[str], dotenv: Optional[str], value: int, source: str) -> None:
    result = layers(
        ["--duration", flag] if flag else None,
        {"AWSRUN_DURATION": env} if env else None,
        {"AWSRUN_DURATION": dotenv} if dotenv else None,
    )
    assert (result.duration, result.sources["duration"]) == (value, source)


@pytest.mark.parametrize(
    "attribute, name, value",
    [("connect_timeout", "connect-timeout", 5.0), ("read_timeout", "read-timeout", 10.0), ("duration", "duration", 3600)],
)
def test_defaults(attribute: str, name: str, value: object) -> None:
    result = resolve()
    assert getattr(result, attribute) == value
    assert result.sources[name] == "default"


def test_nothing_given() -> None:
    result = resolve()
    assert result.roles == ()
    assert result.profile is None and result.mfa_serial is None and result.mfa_code is None
    assert (result.external_id, result.region, result.source_identity, result.policy) == (None, None, None, None)
    assert (result.tags, result.transitive_tags, result.policy_arns) == ((), (), ())
    assert not any([result.dry_run, result.quiet, result.verbose, result.debug, result.allow_fallbacks])
    assert set(result.sources) == {"session-name", "duration", "connect-timeout", "read-timeout", "format", "min-ttl"}
    assert (result.mode, result.format, result.min_ttl, result.fresh) == ("exec", "sh", 900, False)


# --- a flag (boolean) ------------------------------------------------------------------------

DRY_RUN_LAYERS = [
    # flag given, AWSRUN_DRY_RUN, .env AWSRUN_DRY_RUN -> value, source (None: not reported)
    (True, None, None, True, "--dry-run"),
    (True, "false", "false", True, "--dry-run"),
    (True, "0", None, True, "--dry-run"),
    (True, "not-a-bool", None, True, "--dry-run"),  # the flag wins; the environment is not read
    (False, "true", None, True, "$AWSRUN_DRY_RUN"),
    (False, "TRUE", None, True, "$AWSRUN_DRY_RUN"),
    (False, "1", None, True, "$AWSRUN_DRY_RUN"),
    (False, "yes", None, True, "$AWSRUN_DRY_RUN"),
    (False, " Yes ", None, True, "$AWSRUN_DRY_RUN"),
    (False, "on", None, True, "$AWSRUN_DRY_RUN"),
    (False, "false", None, False, None),
    (False, "False", None, False, None),
    (False, "0", None, False, None),
    (False, "no", None, False, None),
    (False, "off", None, False, None),
    (False, "", None, False, None),
    (False, "false", "true", False, None),  # the environment beats the .env file
    (False, "true", "false", True, "$AWSRUN_DRY_RUN"),
    (False, None, "true", True, f"AWSRUN_DRY_RUN in {DOTENV}"),
    (False, None, "1", True, f"AWSRUN_DRY_RUN in {DOTENV}"),
    (False, None, "yes", True, f"AWSRUN_DRY_RUN in {DOTENV}"),
    (False, None, "no", False, None),
    (False, None, None, False, None),
]


@pytest.mark.parametrize("flag, env, dotenv, value, source", DRY_RUN_LAYERS)
def test_dry_run_precedence(flag: bool, env: Optional[str], dotenv: Optional[str], value: bool, source: Optional[str]) -> None:
    result = layers(
        ["--dry-run"] if flag else None,
        {"AWSRUN_DRY_RUN": env} if env is not None else None,
        {"AWSRUN_DRY_RUN": dotenv} if dotenv is not None else None,
    )
    assert result.dry_run is value
    assert result.sources.get("dry-run") == source
    assert any(line.startswith("dry-run = ") for line in result.explain()) is (source is not None)


@pytest.mark.parametrize(
    "env, dotenv, bad",
    [
        ({"AWSRUN_DRY_RUN": "maybe"}, {}, "maybe"),
        ({"AWSRUN_DRY_RUN": "2"}, {}, "2"),
        ({"AWSRUN_DRY_RUN": "y"}, {}, "y"),
        ({}, {"AWSRUN_DRY_RUN": "enabled"}, "enabled"),
        ({"AWSRUN_QUIET": "sure"}, {}, "sure"),
        ({"AWSRUN_ALLOW_FALLBACKS": "-1"}, {}, "-1"),
    ],
)
def test_bad_boolean_is_refused(env: Dict[str, str], dotenv: Dict[str, str], bad: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        resolve([], env, dotenv)
    assert repr(bad) in str(caught.value)
    assert "AWSRUN_" in str(caught.value)  # says which variable holds it


# --- a repeatable option ---------------------------------------------------------------------

TAG_LAYERS = [
    # flags, AWSRUN_TAG, .env AWSRUN_TAG -> tags, source
    (["--tag", "a=1", "--tag", "b=2"], "c=3", "d=4", (("a", "1"), ("b", "2")), "--tag"),
    (["--tag", "a=1"], None, "d=4", (("a", "1"),), "--tag"),
    ([], "c=3,e=5", "d=4", (("c", "3"), ("e", "5")), "$AWSRUN_TAG"),
    ([], " c=3 , e=5 ,", None, (("c", "3"), ("e", "5")), "$AWSRUN_TAG"),
    ([], "c=3", None, (("c", "3"),), "$AWSRUN_TAG"),
    ([], "c=", None, (("c", ""),), "$AWSRUN_TAG"),
    ([], None, "d=4,f=6", (("d", "4"), ("f", "6")), f"AWSRUN_TAG in {DOTENV}"),
    ([], None, None, (), None),
]


@pytest.mark.parametrize("flags, env, dotenv, tags, source", TAG_LAYERS)
def test_tag_precedence(flags: List[str], env: Optional[str], dotenv: Optional[str], tags: Tuple, source: Optional[str]) -> None:
    result = layers(flags, {"AWSRUN_TAG": env} if env is not None else None, {"AWSRUN_TAG": dotenv} if dotenv is not None else None)
    assert result.tags == tags
    assert result.sources.get("tag") == source
    if source:
        shown = ", ".join(f"{k}={v}" for k, v in tags)
        assert f"tag = {shown} (from {source})" in result.explain()


@pytest.mark.parametrize(
    "env, dotenv, bad",
    [
        ({"AWSRUN_TAG": "a=1,novalue"}, {}, "novalue"),
        ({}, {"AWSRUN_TAG": "aws:x=1"}, "aws:x"),
        ({"AWSRUN_TAG": "a=1,A=2"}, {}, "A"),
    ],
)
def test_bad_tag_from_environment_or_dotenv(env: Dict[str, str], dotenv: Dict[str, str], bad: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        resolve([], env, dotenv)
    assert repr(bad) in str(caught.value)


@pytest.mark.parametrize(
    "argv, env, dotenv, transitive",
    [
        (["--tag", "a=1", "--transitive-tag", "a"], {}, {}, ("a",)),
        ([], {"AWSRUN_TAG": "a=1,b=2", "AWSRUN_TRANSITIVE_TAG": "a,b"}, {}, ("a", "b")),
        ([], {}, {"AWSRUN_TAG": "a=1", "AWSRUN_TRANSITIVE_TAG": "a"}, ("a",)),
        (["--tag", "a=1"], {}, {"AWSRUN_TRANSITIVE_TAG": "a"}, ("a",)),
    ],
)
def test_transitive_tags_from_every_layer(argv: List[str], env: Dict[str, str], dotenv: Dict[str, str], transitive: Tuple) -> None:
    assert resolve(argv, env, dotenv).transitive_tags == transitive


def test_transitive_tag_must_be_a_tag_from_whichever_layer() -> None:
    with pytest.raises(InvalidValue) as caught:
        resolve(["--tag", "a=1"], {"AWSRUN_TRANSITIVE_TAG": "b"})
    assert "'b'" in str(caught.value)


# --- every setting can come from the environment -----------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/Deploy"
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"

FROM_ENVIRONMENT = [
    ("AWSRUN_ROLE", ROLE, "roles", lambda v: [r.arn("aws") for r in v] == [ROLE]),
    ("AWSRUN_ROLE", "123456789012:Deploy", "roles", lambda v: v[0].partition is None and v[0].account == "123456789012"),
    ("AWSRUN_ROLE", f"{ROLE},123456789012:Target", "roles", lambda v: [r.arn("aws") for r in v] == [ROLE, "arn:aws:iam::123456789012:role/Target"]),
    ("AWSRUN_PROFILE", "deploy", "profile", lambda v: v == "deploy"),
    ("AWSRUN_MFA_SERIAL", "arn:aws:iam::123456789012:mfa/alice", "mfa_serial", lambda v: v == "arn:aws:iam::123456789012:mfa/alice"),
    ("AWSRUN_MFA_CODE", "123456", "mfa_code", lambda v: v == "123456"),
    ("AWSRUN_EXTERNAL_ID", "ext-id-1234", "external_id", lambda v: v == "ext-id-1234"),
    ("AWSRUN_REGION", "eu-west-1", "region", lambda v: v == "eu-west-1"),
    ("AWSRUN_SOURCE_IDENTITY", "alice", "source_identity", lambda v: v == "alice"),
    ("AWSRUN_POLICY", '{"Version": "2012-10-17"}', "policy", lambda v: v == '{"Version":"2012-10-17"}'),
    ("AWSRUN_POLICY_ARN", f"{POLICY_ARN},{POLICY_ARN}", "policy_arns", lambda v: v == (POLICY_ARN, POLICY_ARN)),
    ("AWSRUN_CONNECT_TIMEOUT", "2.5", "connect_timeout", lambda v: v == 2.5),
    ("AWSRUN_READ_TIMEOUT", "30", "read_timeout", lambda v: v == 30.0),
    ("AWSRUN_ALLOW_FALLBACKS", "true", "allow_fallbacks", lambda v: v is True),
    ("AWSRUN_QUIET", "1", "quiet", lambda v: v is True),
    ("AWSRUN_VERBOSE", "yes", "verbose", lambda v: v is True),
    ("AWSRUN_DEBUG", "on", "debug", lambda v: v is True),
]


@pytest.mark.parametrize("variable, text, attribute, check", FROM_ENVIRONMENT)
@pytest.mark.parametrize("layer", ["environment", "dotenv"])
def test_every_setting_from_environment_and_dotenv(layer: str, variable: str, text: str, attribute: str, check) -> None:
    given = {variable: text}
    if variable == "AWSRUN_MFA_CODE":  # a code alone has nothing to go with and is refused
        given["AWSRUN_MFA_SERIAL"] = "arn:aws:iam::123456789012:mfa/alice"
    result = resolve([], given, {}) if layer == "environment" else resolve([], {}, given)
    assert check(getattr(result, attribute))
    name = variable[len("AWSRUN_"):].lower().replace("_", "-")
    expected = f"${variable}" if layer == "environment" else f"{variable} in {DOTENV}"
    assert result.sources[name] == expected


@pytest.mark.parametrize(
    "env, bad",
    [
        ({"AWSRUN_DURATION": "60"}, "60"),
        ({"AWSRUN_SESSION_NAME": "x"}, "x"),
        ({"AWSRUN_ROLE": "not-a-role"}, "not-a-role"),
        ({"AWSRUN_REGION": "moon-base-1"}, "moon-base-1"),
        ({"AWSRUN_EXTERNAL_ID": "a b"}, "****"),
        ({"AWSRUN_READ_TIMEOUT": "0"}, "0"),
        ({"AWSRUN_POLICY_ARN": "ReadOnlyAccess"}, "ReadOnlyAccess"),
    ],
)
def test_invalid_value_from_environment_is_named(env: Dict[str, str], bad: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        resolve([], env)
    assert repr(bad) in str(caught.value)


@pytest.mark.parametrize(
    "argv, env",
    [
        (["--quiet", "--verbose"], {}),
        (["-q", "-v"], {}),
        (["--verbose"], {"AWSRUN_QUIET": "true"}),
        ([], {"AWSRUN_QUIET": "1", "AWSRUN_VERBOSE": "1"}),
    ],
)
def test_quiet_and_verbose_exclude_each_other(argv: List[str], env: Dict[str, str]) -> None:
    with pytest.raises(UsageError, match="--quiet and --verbose"):
        resolve(argv, env)


# --- sources and explain() never show a masked value ---------------------------------------------

SECRET_ID = "ExternalSecret-7890"


@pytest.mark.parametrize(
    "argv, env, dotenv, source",
    [
        (["--external-id", SECRET_ID], {}, {}, "--external-id"),
        ([], {"AWSRUN_EXTERNAL_ID": SECRET_ID}, {}, "$AWSRUN_EXTERNAL_ID"),
        ([], {}, {"AWSRUN_EXTERNAL_ID": SECRET_ID}, f"AWSRUN_EXTERNAL_ID in {DOTENV}"),
    ],
)
def test_external_id_is_masked(argv: List[str], env: Dict[str, str], dotenv: Dict[str, str], source: str) -> None:
    result = resolve(argv, env, dotenv)
    assert result.external_id == SECRET_ID  # the value itself is kept for STS
    assert result.sources["external-id"] == source
    assert f"external-id = ****7890 (from {source})" in result.explain()
    assert SECRET_ID not in "\n".join(result.explain())
    assert SECRET_ID not in repr(result.shown) + repr(result.sources)


@pytest.mark.parametrize("short_id", ["ab", "abcd"])
def test_short_external_id_is_masked_whole(short_id: str) -> None:
    result = resolve(["--external-id", short_id])
    assert result.shown["external-id"] == "****"
    assert f"= {short_id} " not in "\n".join(result.explain())


def test_repr_of_settings_does_not_show_the_external_id() -> None:
    # Settings is a value that travels (into tracebacks, logs); like Credentials it must not print secrets.
    result = resolve(["--external-id", SECRET_ID])
    assert SECRET_ID not in repr(result)
    assert SECRET_ID not in str(result)


def test_explain_lists_every_given_setting_with_its_source() -> None:
    result = resolve(
        ["--role", ROLE, "--tag", "team=dev", "--dry-run"],
        {"AWSRUN_REGION": "eu-west-1", "AWSRUN_DURATION": "900"},
        {"AWSRUN_SOURCE_IDENTITY": "alice"},
    )
    assert sorted(result.explain()) == sorted(
        [
            f"role = {ROLE} (from --role)",
            "tag = team=dev (from --tag)",
            "dry-run = True (from --dry-run)",
            "region = eu-west-1 (from $AWSRUN_REGION)",
            "duration = 900 (from $AWSRUN_DURATION)",
            f"source-identity = alice (from AWSRUN_SOURCE_IDENTITY in {DOTENV})",
            f"session-name = {GITHUB_DEFAULT_NAME} (from default)",
            "connect-timeout = 5 (from default)",
            "read-timeout = 10 (from default)",
            "format = sh (from default)",
            "min-ttl = 900, or half the session if less (from default)",
        ]
    )


def test_dotenv_origin_names_the_file_that_gave_the_value() -> None:
    files = EnvFiles(
        {"AWSRUN_REGION": "eu-west-1", "AWSRUN_DURATION": "900"},
        {"AWSRUN_REGION": "/a/.env", "AWSRUN_DURATION": "/b/override.env"},
    )
    result = settings.resolve(_parse([]), dict(GITHUB), files)
    assert result.sources["region"] == "AWSRUN_REGION in /a/.env"
    assert result.sources["duration"] == "AWSRUN_DURATION in /b/override.env"


def test_resolve_does_not_change_its_inputs() -> None:
    args = _parse(["--tag", "a=1"])
    environ = {**GITHUB, "AWSRUN_REGION": "eu-west-1"}
    files = EnvFiles({"AWSRUN_DURATION": "900"}, {"AWSRUN_DURATION": DOTENV})
    before = (dict(args), dict(environ), dict(files.values), dict(files.origin))
    settings.resolve(args, environ, files)
    assert (dict(args), dict(environ), dict(files.values), dict(files.origin)) == before


# --- which .env files --------------------------------------------------------------------------

ENV_FILE_PATHS = [
    # argv, environment -> paths, required
    ([], {}, [DEFAULT_PATH], False),
    (["--env-file", "a.env"], {}, ["a.env"], True),
    (["--env-file", "a.env", "--env-file", "b.env"], {}, ["a.env", "b.env"], True),
    ([], {"AWSRUN_ENV_FILE": "a.env"}, ["a.env"], True),
    ([], {"AWSRUN_ENV_FILE": "a.env, b.env"}, ["a.env", "b.env"], True),
    ([], {"AWSRUN_ENV_FILE": ""}, [DEFAULT_PATH], False),
    (["--env-file", "flag.env"], {"AWSRUN_ENV_FILE": "env.env"}, ["flag.env"], True),
    (["--no-env-file"], {}, [], False),
    ([], {"AWSRUN_NO_ENV_FILE": "true"}, [], False),
    ([], {"AWSRUN_NO_ENV_FILE": "false"}, [DEFAULT_PATH], False),
    ([], {"AWSRUN_NO_ENV_FILE": "0", "AWSRUN_ENV_FILE": "a.env"}, ["a.env"], True),
    # a flag beats the environment: the flag decides, the other variable is not a conflict
    (["--no-env-file"], {"AWSRUN_ENV_FILE": "env.env"}, [], False),
    (["--env-file", "flag.env"], {"AWSRUN_NO_ENV_FILE": "1"}, ["flag.env"], True),
]


@pytest.mark.parametrize(
    "argv, environ, paths, required",
    ENV_FILE_PATHS,
    ids=[" ".join(a) + " " + ",".join(f"{k}={v}" for k, v in e.items()) for a, e, _, _ in ENV_FILE_PATHS],
)
def test_env_file_paths(argv: List[str], environ: Dict[str, str], paths: List[str], required: bool) -> None:
    assert settings.env_file_paths(_parse(argv), environ) == (paths, required)


@pytest.mark.parametrize(
    "argv, environ",
    [
        (["--no-env-file", "--env-file", "a.env"], {}),
        (["--env-file", "a.env", "--no-env-file"], {}),
        ([], {"AWSRUN_NO_ENV_FILE": "yes", "AWSRUN_ENV_FILE": "a.env"}),
    ],
)
def test_no_env_file_with_env_file_is_a_usage_error(argv: List[str], environ: Dict[str, str]) -> None:
    with pytest.raises(UsageError, match="exclude each other"):
        settings.env_file_paths(_parse(argv), environ)


def test_bad_no_env_file_value_is_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        settings.env_file_paths(_parse([]), {"AWSRUN_NO_ENV_FILE": "perhaps"})
    assert "'perhaps'" in str(caught.value)
