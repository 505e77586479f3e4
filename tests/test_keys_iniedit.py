"""The careful INI editor: tables of before/after files, every other byte kept; atomic, all-or-nothing writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from awsrun.errors import ConfigError
from awsrun.keys import iniedit

CP = "credential_process"
LINE = "awsrun-keys get work"
KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")

SET_CASES = [
    ("empty file", "", "[profile work]\ncredential_process = awsrun-keys get work\n"),
    ("appended after other profiles, comments kept",
     "# mine\n[profile other]\nregion = eu-west-1 ; not a comment\n",
     "# mine\n[profile other]\nregion = eu-west-1 ; not a comment\n\n[profile work]\ncredential_process = awsrun-keys get work\n"),
    ("no trailing newline",
     "[profile other]\nregion = eu-west-1",
     "[profile other]\nregion = eu-west-1\n\n[profile work]\ncredential_process = awsrun-keys get work\n"),
    ("CRLF file stays CRLF",
     "[profile other]\r\nregion = eu-west-1\r\n",
     "[profile other]\r\nregion = eu-west-1\r\n\r\n[profile work]\r\ncredential_process = awsrun-keys get work\r\n"),
    ("existing section: after its last setting, before the blank line and the next comment",
     "[profile work]\nregion = us-east-2\n\n# next\n[profile b]\nx = 1\n",
     "[profile work]\nregion = us-east-2\ncredential_process = awsrun-keys get work\n\n# next\n[profile b]\nx = 1\n"),
    ("existing section that is last and has no final newline",
     "[profile work]\nregion = us-east-2",
     "[profile work]\nregion = us-east-2\ncredential_process = awsrun-keys get work"),
    ("existing value replaced in place, continuation dropped",
     "[profile work]\nCredential_Process=old thing\n  continued\nregion = x\n",
     "[profile work]\ncredential_process = awsrun-keys get work\nregion = x\n"),
    ("indented sub-section key is not a key of the profile",
     "[profile work]\ns3 =\n  credential_process = nested\n",
     "[profile work]\ns3 =\n  credential_process = nested\ncredential_process = awsrun-keys get work\n"),
    ("header with extra spaces, as botocore splits it",
     "[profile   work]\nregion = x\n",
     "[profile   work]\nregion = x\ncredential_process = awsrun-keys get work\n"),
    ("[work] in config is not profile work (botocore ignores it)",
     "[work]\nregion = x\n",
     "[work]\nregion = x\n\n[profile work]\ncredential_process = awsrun-keys get work\n"),
    ("CRLF section without a final newline",
     "[profile work]\r\nregion = x",
     "[profile work]\r\nregion = x\r\ncredential_process = awsrun-keys get work"),
]


@pytest.mark.parametrize("before, after", [case[1:] for case in SET_CASES], ids=[case[0] for case in SET_CASES])
def test_set_value(before: str, after: str) -> None:
    assert iniedit.set_value(before, "config", "work", CP, LINE) == after


def test_default_profile_uses_the_default_section() -> None:
    before = "[default]\nregion = x\n[profile default]\noutput = json\n"
    assert iniedit.set_value(before, "config", "default", CP, "awsrun-keys get default") == (
        "[default]\nregion = x\ncredential_process = awsrun-keys get default\n[profile default]\noutput = json\n")
    assert iniedit.set_value("", "config", "default", CP, "c") == "[default]\ncredential_process = c\n"


REMOVE_CASES = [
    ("keys of one section only; other sections, comments and order kept",
     "# top\n[work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n; comment\naws_secret_access_key = s\nregion = x\n[other]\naws_access_key_id = AKIAOTHER\n",
     "# top\n[work]\n; comment\nregion = x\n[other]\naws_access_key_id = AKIAOTHER\n"),
    ("[profile work] in the credentials file is another profile",
     "[profile work]\naws_access_key_id = A\n[work]\naws_access_key_id = B\naws_secret_access_key = s\n",
     "[profile work]\naws_access_key_id = A\n[work]\n"),
    ("CRLF and no final newline",
     "[work]\r\nAWS_ACCESS_KEY_ID : A\r\naws_secret_access_key=s",
     "[work]\r\n"),
    ("indented lines are continuations of the removed key, or of another key",
     "[work]\naws_secret_access_key = s\n  more\nother =\n  aws_access_key_id = nested\n",
     "[work]\nother =\n  aws_access_key_id = nested\n"),
    ("absent profile: untouched", "[a]\nx = 1", "[a]\nx = 1"),
]


@pytest.mark.parametrize("before, after", [case[1:] for case in REMOVE_CASES], ids=[case[0] for case in REMOVE_CASES])
def test_remove_keys(before: str, after: str) -> None:
    assert iniedit.remove_keys(before, "credentials", "work", KEYS) == after


DROP_CASES = [
    ("only the keys: the section goes, the sections around it stay",
     "[a]\nx = 1\n\n[work]\naws_access_key_id = A\naws_secret_access_key = s\n\n[b]\ny = 2\n",
     "[a]\nx = 1\n\n[b]\ny = 2\n"),
    ("the last section: the blank lines before it go too",
     "# top\n[a]\nx = 1\n\n\n[work]\naws_access_key_id = A\naws_secret_access_key = s\n",
     "# top\n[a]\nx = 1\n"),
    ("the only section, CRLF, no final newline: an empty file",
     "[work]\r\nAWS_ACCESS_KEY_ID : A\r\naws_secret_access_key=s", ""),
    ("a section that keeps another key stays",
     "[work]\naws_access_key_id = A\naws_secret_access_key = s\nregion = x\n",
     "[work]\nregion = x\n"),
    ("a comment it held stays, its header goes",
     "[a]\nx = 1\n[work]\n# the work key\naws_access_key_id = A\naws_secret_access_key = s\n\n[b]\n",
     "[a]\nx = 1\n# the work key\n\n[b]\n"),
    ("a continuation of a kept key keeps the section",
     "[work]\naws_access_key_id = A\ns3 =\n  x = 1\n", "[work]\ns3 =\n  x = 1\n"),
    ("a section that was already empty is not this edit's to remove", "[work]\n[b]\ny = 2\n", "[work]\n[b]\ny = 2\n"),
    ("absent profile: untouched", "[a]\nx = 1", "[a]\nx = 1"),
]


@pytest.mark.parametrize("before, after", [case[1:] for case in DROP_CASES], ids=[case[0] for case in DROP_CASES])
def test_remove_keys_drops_the_section_they_emptied(before: str, after: str) -> None:
    assert iniedit.remove_keys(before, "credentials", "work", KEYS, drop_emptied=True) == after
    import configparser

    parser = configparser.RawConfigParser()
    parser.read_string(after)  # what botocore reads still parses
    assert not any(section == "work" and not parser.options(section) for section in parser.sections()) or \
        before.startswith("[work]\n[")  # only a section that was empty before stays empty


@pytest.mark.parametrize("kind, text", [
    ("credentials", "[work]\na = 1\n[other]\n[work]\nb = 2\n"),
    ("config", "[profile work]\na = 1\n[profile  work]\nb = 2\n"),
])
def test_a_profile_given_twice_is_refused_with_both_lines(kind: str, text: str) -> None:
    with pytest.raises(ConfigError, match=r"appears more than once in F \(lines 1 and [34]\)"):
        iniedit.remove_keys(text, kind, "work", KEYS, path="F")


def test_write_all_keeps_mode_backup_and_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "config"
    real.parent.mkdir()
    real.write_text("[a]\nx = 1\n")
    real.chmod(0o640)
    link = tmp_path / "config"
    link.symlink_to(real)
    kept = iniedit.write_all([iniedit.Edit(str(link), "[a]\nx = 1\n", "[a]\nx = 2\n")])
    assert link.is_symlink() and real.read_text() == "[a]\nx = 2\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert kept == [str(real) + ".awsrun-keys.bak"] and Path(kept[0]).read_text() == "[a]\nx = 1\n"
    assert sorted(os.listdir(real.parent)) == ["config", "config.awsrun-keys.bak"]


def test_no_backup_of_a_file_that_held_a_secret(tmp_path: Path) -> None:
    credentials = tmp_path / "aws" / "credentials"
    credentials.parent.mkdir()
    credentials.write_text("[w]\naws_secret_access_key = s\n")
    assert iniedit.write_all([iniedit.Edit(str(credentials), credentials.read_text(), "[w]\n", sensitive=True)]) == []
    assert os.listdir(credentials.parent) == ["credentials"]


def test_a_failed_second_write_restores_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "aws"
    folder.mkdir()
    first, second = folder / "config", folder / "credentials"
    first.write_text("old\n")
    second.mkdir()  # a folder where the file should be: replacing it fails after the first is written
    with pytest.raises(ConfigError, match="nothing was changed"):
        iniedit.write_all([iniedit.Edit(str(first), "old\n", "new\n"), iniedit.Edit(str(second), "old2\n", "new2\n")])
    assert first.read_text() == "old\n" and second.is_dir()
    assert sorted(os.listdir(folder)) == ["config", "credentials"]
