"""The command's AWS config is a neutral copy of the user's: settings kept, every way to credentials gone.

Checked through botocore's own parser reading the copy back, and for real: awsrun as a
process running the AWS CLI or botocore as its command, each trying an escape.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import botocore.configloader
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from awsrun.deliver import neutral
from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, run_awsrun

AWS = os.path.join(os.path.dirname(sys.executable), "aws")
CONFIG_KEY_ID = "AKIACONFIGKEYEXAMPLE"
CONFIG_SECRET = "configSecretKeyEXAMPLEconfigSecretKeyEXAM"
ASSUMED = "arn:aws:sts::123456789012:assumed-role/Deploy/"
MODES = {"exec": ["--no-cache", "--role", ROLE_ARN], "refresh": ["--refresh", "--no-cache", "--role", ROLE_ARN]}


def read_back(text: str, tmp_path: Path) -> Dict[str, Any]:
    path = tmp_path / "read-back.config"
    path.write_text(text)
    return botocore.configloader.load_config(str(path))


def walk(value: Any) -> List[str]:
    """Every key at every depth of botocore's reading."""
    if not isinstance(value, dict):
        return []
    return [key for key, item in value.items() for key in [key, *walk(item)]]


# --- the copy, read back by botocore ---------------------------------------------------------

FULL = f"""[default]
region = eu-west-1
output = json
aws_access_key_id = {CONFIG_KEY_ID}
aws_secret_access_key = {CONFIG_SECRET}
ca_bundle = /etc/ssl/ca.pem
retry_mode = standard
max_attempts = 7
s3 =
  addressing_style = path
  aws_access_key_id = NESTEDKEY
[profile process]
credential_process = /bin/false
region = us-west-2
[profile sso]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin
sso_start_url = https://example.awsapps.com/start
endpoint_url = http://127.0.0.1:4566
[profile chained]
role_arn = {ROLE_ARN}
source_profile = default
mfa_serial = arn:aws:iam::123456789012:mfa/alice
external_id = secret-ish
duration_seconds = 3600
role_session_name = alice
services = local
[profile web]
role_arn = {ROLE_ARN}
web_identity_token_file = /var/run/token
credential_source = Environment
login_session = arn:aws:iam::123456789012:user/alice
[sso-session corp]
sso_region = eu-west-1
sso_start_url = https://example.awsapps.com/start
[services local]
sts =
  endpoint_url = http://127.0.0.1:5000
s3 =
  endpoint_url = http://127.0.0.1:5001
[plugins]
cli_legacy_plugin_path = /opt/plugins
"""

EXPECTED = {
    "profiles": {
        "default": {"region": "eu-west-1", "output": "json", "ca_bundle": "/etc/ssl/ca.pem",
                    "retry_mode": "standard", "max_attempts": "7", "s3": {"addressing_style": "path"}},
        "process": {"region": "us-west-2"},
        "sso": {"endpoint_url": "http://127.0.0.1:4566"},
        "chained": {"services": "local"},
        "web": {},
    },
    "sso_sessions": {},
    "services": {"local": {"sts": {"endpoint_url": "http://127.0.0.1:5000"},
                           "s3": {"endpoint_url": "http://127.0.0.1:5001"}}},
    "plugins": {"cli_legacy_plugin_path": "/opt/plugins"},
}


def test_every_setting_but_the_ways_to_credentials_reads_back_the_same(tmp_path: Path) -> None:
    assert read_back(neutral.neutral_text(FULL.encode()), tmp_path) == EXPECTED


def test_the_profile_awsrun_ran_as_becomes_the_default(tmp_path: Path) -> None:
    config = read_back(neutral.neutral_text(FULL.encode(), "process"), tmp_path)
    assert config["profiles"]["default"] == {"region": "us-west-2"}
    assert config["profiles"]["process"] == {"region": "us-west-2"}
    assert read_back(neutral.neutral_text(FULL.encode(), "absent"), tmp_path) == EXPECTED


@pytest.mark.parametrize(
    "config, expected",
    [
        ("", {}),
        ("[default]\n", {"default": {}}),
        # a continuation line is part of the value: dropped whole, never a key of its own
        (f"[default]\nregion = eu-west-1\n  aws_access_key_id = {CONFIG_KEY_ID}\noutput = json\n",
         {"default": {"output": "json"}}),
        (f"[default]\noutput = json\n  [profile evil]\n  aws_access_key_id = {CONFIG_KEY_ID}\n",
         {"default": {}}),
        # a nested section stays nested, its credential keys go
        (f"[default]\ns3 =\n  aws_access_key_id = {CONFIG_KEY_ID}\n  addressing_style = path\n",
         {"default": {"s3": {"addressing_style": "path"}}}),
        (f"[default]\ns3 =\n  aws_access_key_id = {CONFIG_KEY_ID}\n", {"default": {}}),
        # [DEFAULT] reaches every section through configparser, as it does for botocore
        (f"[DEFAULT]\naws_access_key_id = {CONFIG_KEY_ID}\nregion = eu-west-1\n[default]\n",
         {"default": {"region": "eu-west-1"}}),
        # keys no SDK spells so are not risked
        ("[default]\nweird key = 1\nRegion = eu-west-1\n", {"default": {"region": "eu-west-1"}}),
        ("[profile a]b]\nregion = eu-west-1\n", {"a]b": {"region": "eu-west-1"}}),
    ],
    ids=["empty", "empty-default", "continuation-key", "continuation-section", "nested", "nested-only-key",
         "DEFAULT", "odd-keys", "bracket-name"],
)
def test_hostile_values_cannot_become_keys_or_sections(config: str, expected: Dict[str, Any], tmp_path: Path) -> None:
    text = neutral.neutral_text(config.encode())
    assert read_back(text, tmp_path)["profiles"] == expected
    assert CONFIG_KEY_ID not in text


_NAME = st.sampled_from(["region", "output", "aws_access_key_id", "credential_process", "sso_start_url", "s3",
                         "role_arn", "endpoint_url", "x", "[default]", "[profile p]"])
_TEXT = st.lists(st.sampled_from(list("ab =[]:#;\n\t") + ["aws_access_key_id", "[profile p]", "\n  "]),
                max_size=12).map("".join)
_LINE = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", _NAME, _TEXT),
    st.builds(lambda k, v: f"  {k} = {v}", _NAME, _TEXT),
    st.sampled_from(["[default]", "[profile p]", "[services s]", "[sso-session s]", "[DEFAULT]", "", "  "]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(lines=["[default]", "region = \n[aws_access_key_id]"])  # a profile with a key's name: only a name
@given(lines=st.lists(_LINE, max_size=12))
def test_any_config_botocore_reads_gives_a_copy_without_credential_keys(lines: List[str], tmp_path: Path) -> None:
    source = tmp_path / "source.config"
    source.write_text("\n".join(lines) + "\n")
    try:
        original = botocore.configloader.raw_config_parse(str(source))
    except botocore.exceptions.ConfigParseError:
        with pytest.raises(ValueError):
            neutral.neutral_text(source.read_bytes())
        return
    try:
        text = neutral.neutral_text(source.read_bytes())
    except ValueError:  # refused rather than copied wrongly: the command then gets no config
        return
    read_back(text, tmp_path)  # botocore reads it whole
    raw = botocore.configloader.raw_config_parse(str(tmp_path / "read-back.config"))
    for key in (key for values in raw.values() for key in walk(values)):  # a section may have any name
        assert key not in neutral.CREDENTIAL_KEYS and not key.startswith("sso_")
    for section, values in raw.items():
        assert not section.startswith("sso-session")
        for key, value in values.items():
            assert original[section][key] == value or {
                sub: item for sub, item in original[section][key].items() if sub in value} == value


# --- the copy on disk ---------------------------------------------------------------------------

def cache_folder() -> Path:
    return Path(os.environ["HOME"]) / ".cache" / "awsrun"


def test_a_changed_config_gets_its_own_copy_and_an_unchanged_one_reuses_it(tmp_path: Path) -> None:
    source, folder = tmp_path / "config", tmp_path / "cache"
    source.write_text("[default]\nregion = eu-west-1\n")
    first = neutral.config_file(str(source), str(folder), None, pytest.fail)
    assert neutral.config_file(str(source), str(folder), None, pytest.fail) == first
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    source.write_text("[default]\nregion = eu-west-2\n")
    second = neutral.config_file(str(source), str(folder), None, pytest.fail)
    assert second != first and Path(second).read_text() == "[default]\nregion = eu-west-2\n"
    assert neutral.config_file(str(source), str(folder), "other", pytest.fail) not in (first, second)


def test_a_loosely_permitted_copy_is_replaced(tmp_path: Path) -> None:
    source, folder = tmp_path / "config", tmp_path / "cache"
    source.write_text("[default]\nregion = eu-west-1\n")
    path = Path(neutral.config_file(str(source), str(folder), None, pytest.fail))
    path.write_text(f"[default]\naws_access_key_id = {CONFIG_KEY_ID}\n")
    path.chmod(0o666)
    assert neutral.config_file(str(source), str(folder), None, pytest.fail) == str(path)
    assert path.read_text() == "[default]\nregion = eu-west-1\n"


@pytest.mark.parametrize("problem", ["group-writable", "unparsable"])
def test_without_a_safe_copy_the_command_gets_no_config_and_a_warning(problem: str, tmp_path: Path) -> None:
    source, folder = tmp_path / "config", tmp_path / "cache"
    source.write_text("[default]\nregion = eu-west-1\n")
    folder.mkdir(mode=0o700)
    if problem == "group-writable":
        folder.chmod(0o770)
    else:
        source.write_text("region = eu-west-1\n")  # no section header: botocore refuses it too
    warnings: List[str] = []
    assert neutral.config_file(str(source), str(folder), None, warnings.append) == os.devnull
    assert len(warnings) == 1 and "no AWS config file" in warnings[0]


def test_five_runs_leave_one_copy(source_env: Dict[str, str]) -> None:
    config = Path(os.environ["AWS_CONFIG_FILE"])
    config.write_text("[default]\nregion = eu-west-1\n")
    seen = set()
    for _ in range(5):
        result = run_awsrun([*MODES["exec"], "--", sys.executable, str(CHILD)], env=source_env)
        assert result.returncode == 0, result.stderr
        seen.add(json.loads(result.stdout)["env"]["AWS_CONFIG_FILE"])
    assert len(seen) == 1
    assert sorted(path.name for path in cache_folder().iterdir()) == [Path(seen.pop()).name]


# --- for real: the command tries each escape --------------------------------------------------

def child_env(result: subprocess.CompletedProcess) -> Dict[str, str]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["env"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_aws_cli_cannot_use_keys_kept_in_the_config(mode: str, source_env: Dict[str, str]) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile keys-in-config]\naws_access_key_id = {CONFIG_KEY_ID}\naws_secret_access_key = {CONFIG_SECRET}\n")
    result = run_awsrun([*MODES[mode], "--", AWS, "--profile", "keys-in-config", "sts", "get-caller-identity"],
                        env=source_env)
    # The profile is still there, without a way to credentials: the CLI finds none in exec
    # mode (--profile drops the key variables from its chain) and the endpoint's with --refresh.
    if mode == "exec":
        assert result.returncode != 0
        assert "Unable to locate credentials" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Arn"].startswith(ASSUMED)
    assert "user/" not in result.stdout


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_credential_process_in_the_config_never_runs(mode: str, source_env: Dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[profile proc]\ncredential_process = sh -c 'touch {marker}; exit 1'\nmax_attempts = 7\n")
    probe = ("import botocore.session\n"
             "session = botocore.session.Session(profile='proc')\n"
             "credentials = session.get_credentials()\n"
             "print(credentials and credentials.method, session.get_config_variable('max_attempts'))\n")
    result = run_awsrun([*MODES[mode], "--", sys.executable, "-c", probe], env=source_env)
    assert result.returncode == 0, result.stderr
    # none at all in exec mode (an explicit profile drops the key variables), the role's with --refresh
    assert result.stdout.split() == [{"exec": "None", "refresh": "container-role"}[mode], "7"]
    assert not marker.exists()


def test_a_child_that_drops_the_key_variables_finds_no_default_keys(source_env: Dict[str, str]) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[default]\naws_access_key_id = {CONFIG_KEY_ID}\naws_secret_access_key = {CONFIG_SECRET}\nregion = eu-west-1\n")
    probe = ("import os, botocore.session\n"
             "for name in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION',"
             " 'AWS_DEFAULT_REGION'):\n"
             "    os.environ.pop(name)\n"
             "session = botocore.session.Session()\n"
             "print(session.get_credentials() is None, session.get_config_variable('region'))\n")
    result = run_awsrun([*MODES["exec"], "--", sys.executable, "-c", probe], env=source_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "eu-west-1"]  # the keys are gone, the region is not


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_services_section_reaches_the_aws_cli(mode: str, moto_sts: str) -> None:
    # No endpoint variable anywhere: awsrun and the command both find moto through the config.
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[default]\nregion = eu-west-1\nservices = local\n[services local]\nsts =\n  endpoint_url = {moto_sts}\n")
    env = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET}
    result = run_awsrun([*MODES[mode], "--", AWS, "sts", "get-caller-identity", "--output", "json"], env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"].startswith(ASSUMED)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_command_is_told_to_load_the_config(mode: str, source_env: Dict[str, str]) -> None:
    env = child_env(run_awsrun([*MODES[mode], "--", sys.executable, str(CHILD)],
                               env={**source_env, "AWS_SDK_LOAD_CONFIG": "0"}))
    assert env["AWS_SDK_LOAD_CONFIG"] == "1"
    assert Path(env["AWS_CONFIG_FILE"]).parent == cache_folder()
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull


def test_allow_fallbacks_gives_the_users_own_files_back(source_env: Dict[str, str]) -> None:
    env = child_env(run_awsrun([*MODES["exec"], "--allow-fallbacks", "--", sys.executable, str(CHILD)],
                               env=source_env))
    assert env["AWS_CONFIG_FILE"] == os.environ["AWS_CONFIG_FILE"]
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.environ["AWS_SHARED_CREDENTIALS_FILE"]
    assert "AWS_SDK_LOAD_CONFIG" not in env


OTHER_TOOLS = {
    "EC2_ACCESS_KEY": SOURCE_KEY_ID,
    "EC2_SECRET_KEY": SOURCE_SECRET,
    "EC2_SECURITY_TOKEN": "ec2SecurityTokenEXAMPLE",
    "AWS_CREDENTIAL_PROFILES_FILE": "/home/alice/.aws/java-credentials",
    "BOTO_PATH": "/etc/boto.cfg:/home/alice/.boto",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "githubOidcRequestTokenEXAMPLE",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/_apis/oidc",
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_other_tools_and_the_ci_runners_credential_variables_are_removed(mode: str, source_env: Dict[str, str]) -> None:
    env = child_env(run_awsrun([*MODES[mode], "--", sys.executable, str(CHILD)], env={**source_env, **OTHER_TOOLS}))
    for name, value in OTHER_TOOLS.items():
        assert name not in env
        assert not any(value in seen for seen in env.values())


def test_dry_run_shows_the_config_the_command_would_get(source_env: Dict[str, str]) -> None:
    result = run_awsrun([*MODES["exec"], "--dry-run", "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "set AWS_SDK_LOAD_CONFIG=1" in lines
    config = next(line for line in lines if line.startswith("set AWS_CONFIG_FILE="))
    assert Path(config.partition("=")[2]).parent == cache_folder()


def test_a_profiles_settings_reach_an_exec_d_command_as_its_default(moto_sts: str) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text(
        f"[default]\nregion = ap-south-1\n"
        f"[profile deploy]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = eu-west-1\nmax_attempts = 7\n"
        f"[profile base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = {SOURCE_SECRET}\n")
    probe = ("import botocore.session\n"
             "session = botocore.session.Session()\n"
             "print(session.get_config_variable('region'), session.get_config_variable('max_attempts'),"
             " session.get_credentials().method)\n")
    result = run_awsrun(["--no-cache", "--profile", "deploy", "--", sys.executable, "-c", probe],
                        env={"AWS_ENDPOINT_URL_STS": moto_sts})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["eu-west-1", "7", "env"]


def test_a_cache_hit_parses_no_config(source_env: Dict[str, str]) -> None:
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[default]\nregion = eu-west-1\n")
    args = ["--role", ROLE_ARN, "--", sys.executable, str(CHILD)]
    assert run_awsrun(args, env=source_env).returncode == 0  # cold: assumes and writes the copy
    hit = subprocess.run([sys.executable, "-X", "importtime", "-m", "awsrun", *args],
                         env={**os.environ, **source_env}, capture_output=True, text=True, timeout=60)
    assert hit.returncode == 0, hit.stderr
    assert "reusing cached session" in hit.stderr
    imported = {line.split("|")[-1].strip() for line in hit.stderr.splitlines() if line.startswith("import time:")}
    assert "configparser" not in imported and "botocore" not in imported
    assert json.loads(hit.stdout)["env"]["AWS_CONFIG_FILE"].startswith(str(cache_folder()))


# --- content-addressed copies do not pile up ---------------------------------------------------

def _aged(path: Path, seconds: float) -> Path:
    """``path`` (made empty if missing), last modified ``seconds`` ago."""
    if not path.exists():
        path.write_text("")
    moment = time.time() - seconds
    os.utime(path, (moment, moment))
    return path


def test_copies_unused_for_a_month_go_when_a_new_one_is_written(tmp_path: Path) -> None:
    """Every config edit makes a new copy; old ones are reused (and touched) while a command may
    hold them, and only those no run used for STALE_AFTER go, with a killed run's temporary files."""
    from awsrun.files import STALE_AFTER
    from awsrun.config.configfiles import read

    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    source = tmp_path / "config"
    source.write_text("[default]\nregion = eu-west-1\n")
    warnings: List[str] = []
    first = Path(neutral.config_file(str(source), str(folder), None, warnings.append))
    stale = _aged(folder / "config-0000", STALE_AFTER + 60)
    left_behind = _aged(folder / ".config-1111.x.tmp", STALE_AFTER + 60)
    recent = _aged(folder / "config-2222", STALE_AFTER - 3600)
    memo = _aged(folder / "profiles-3333", STALE_AFTER + 60)  # another kind: its own pruning
    _aged(first, STALE_AFTER + 60)
    assert neutral.config_file(str(source), str(folder), None, warnings.append) == str(first)  # reused: touched
    assert stale.exists()  # reuse writes nothing new, so prunes nothing
    source.write_text("[default]\nregion = eu-west-2\n")
    second = Path(neutral.config_file(str(source), str(folder), None, warnings.append))
    assert second != first and second.exists() and first.exists() and recent.exists() and memo.exists()
    assert not stale.exists() and not left_behind.exists()
    assert warnings == []

    environ = {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(source),
               "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}
    read(environ, str(folder))
    kept = [path for path in folder.iterdir() if path.name.startswith("profiles-")]
    assert len(kept) == 1 and kept[0] != memo  # the new memo, and the month-old one gone
    _aged(kept[0], STALE_AFTER + 60)
    read(environ, str(folder))  # a hit on the memo marks it used
    assert kept[0].stat().st_mtime > time.time() - 60
