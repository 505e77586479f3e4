"""Which profile lines awsrun-keys changes: read with botocore's config loader, edited with iniedit.

Every plan is computed (and refused) before the keyring or AWS is touched.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from awsrun.errors import ConfigError
from awsrun.keys import iniedit
from awsrun.keys.keysource import COMMAND, check_name, keyring_name

__all__ = ["check_name", "Files", "plan_add", "plan_import", "plan_remove", "users", "process_line"]

KEY_NAMES = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token")
_ROLE_KEYS = ("role_arn", "source_profile", "credential_source", "web_identity_token_file", "sso_session",
              "sso_start_url", "login_session")


def process_line(name: str) -> str:
    return f"{COMMAND} get {name}"


class Files(NamedTuple):
    """The AWS config and credentials files, their text, and the profiles botocore reads from them."""

    config_path: str
    credentials_path: str
    config: str
    credentials: str
    config_profiles: Mapping[str, Mapping[str, str]]
    credentials_profiles: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> "Files":
        home = environ.get("HOME") or os.path.expanduser("~")
        config_path = os.path.expanduser(environ.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"))
        credentials_path = os.path.expanduser(
            environ.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"))
        return cls(config_path, credentials_path, iniedit.read(config_path), iniedit.read(credentials_path),
                   _parse(config_path, config=True), _parse(credentials_path, config=False))


def _parse(path: str, config: bool) -> Mapping[str, Mapping[str, str]]:
    from botocore import configloader
    from botocore.exceptions import BotoCoreError

    if not os.path.isfile(path):
        return {}
    try:
        if config:
            return configloader.load_config(path).get("profiles", {})
        return configloader.raw_config_parse(path)
    except BotoCoreError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _conflicts(files: Files, name: str, allow_keys: bool) -> None:
    profile = files.config_profiles.get(name, {})
    role = [key for key in _ROLE_KEYS if key in profile]
    if role:
        raise ConfigError(f"profile {name!r} in {files.config_path} sets {role[0]}; keep keys in a profile of their "
                          f"own (e.g. {name}-keys) and name it as source_profile")
    process = profile.get("credential_process")
    if process and keyring_name(process) != name:
        raise ConfigError(f"profile {name!r} in {files.config_path} already has credential_process = {process}; "
                          "remove it first or choose another name")
    if not allow_keys:
        for path, found in ((files.credentials_path, files.credentials_profiles.get(name, {})), (files.config_path, profile)):
            if found.get("aws_access_key_id"):
                raise ConfigError(f"profile {name!r} holds keys in {path}: use 'awsrun-keys import {name}' to move them")


def plan_add(files: Files, name: str) -> List[iniedit.Edit]:
    _conflicts(files, name, allow_keys=False)
    new = iniedit.set_value(files.config, "config", name, "credential_process", process_line(name), files.config_path)
    return [iniedit.Edit(files.config_path, files.config, new)]


def plan_import(files: Files, name: str) -> Tuple[Tuple[str, str], str, List[iniedit.Edit]]:
    """The profile's (key id, secret), the file they are in, and the edits that move them out."""
    found: Optional[Tuple[Mapping[str, str], str]] = None
    for path, profiles in ((files.credentials_path, files.credentials_profiles), (files.config_path, files.config_profiles)):
        profile = profiles.get(name, {})
        if profile.get("aws_access_key_id") or profile.get("aws_secret_access_key"):
            found = found or (profile, path)  # botocore reads the credentials file first
    if found is None:
        raise ConfigError(f"profile {name!r} has no aws_access_key_id in {files.credentials_path} or {files.config_path}")
    profile, where = found
    if profile.get("aws_session_token") or profile.get("aws_security_token"):
        raise ConfigError(f"profile {name!r} in {where} has a session token: its keys are temporary, not worth keeping")
    if not (profile.get("aws_access_key_id") and profile.get("aws_secret_access_key")):
        raise ConfigError(f"profile {name!r} in {where} has only one of aws_access_key_id and aws_secret_access_key")
    _conflicts(files, name, allow_keys=True)
    # The keys were all a credentials section held: no empty [name] is left behind.
    credentials = iniedit.remove_keys(files.credentials, "credentials", name, KEY_NAMES, files.credentials_path,
                                      drop_emptied=True)
    config = iniedit.remove_keys(files.config, "config", name, KEY_NAMES, files.config_path)
    config = iniedit.set_value(config, "config", name, "credential_process", process_line(name), files.config_path)
    edits = [
        iniedit.Edit(files.config_path, files.config, config, sensitive=config_had_keys(files, name)),
        iniedit.Edit(files.credentials_path, files.credentials, credentials, sensitive=credentials != files.credentials),
    ]
    return (profile["aws_access_key_id"].strip(), profile["aws_secret_access_key"].strip()), where, edits


def config_had_keys(files: Files, name: str) -> bool:
    return any(files.config_profiles.get(name, {}).get(key) for key in KEY_NAMES)


def users(files: Files) -> Dict[str, List[str]]:
    """NAME -> the profiles that use it: directly (credential_process) or as their source_profile."""
    direct: Dict[str, List[str]] = {}
    for profile, values in files.config_profiles.items():
        name = keyring_name(values.get("credential_process", ""))
        if name:
            direct.setdefault(name, []).append(profile)
    found = {name: list(profiles) for name, profiles in direct.items()}
    for profile, values in files.config_profiles.items():
        for name, sources in direct.items():
            if values.get("source_profile") in sources and profile not in found[name]:
                found[name].append(profile)
    return found


def plan_remove(files: Files, name: str) -> Tuple[List[str], List[iniedit.Edit]]:
    """The profiles pointing at ``name``, and the edit that removes their credential_process
    (and a profile's section when that was all it held, as ``add`` writes it)."""
    profiles = [profile for profile, values in files.config_profiles.items()
                if keyring_name(values.get("credential_process", "")) == name]
    config = files.config
    for profile in profiles:
        config = iniedit.remove_keys(config, "config", profile, ["credential_process"], files.config_path,
                                     drop_emptied=True)
    return profiles, [iniedit.Edit(files.config_path, files.config, config)]
