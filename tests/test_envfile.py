"""envfile.read on real files: values, later file wins, errors that name the file and line, no side effects."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun.config import envfile
from awsrun.config.envfile import DEFAULT_PATH, EnvFiles
from awsrun.errors import ConfigError, ExitStatus
from tests.conftest import trust_env_file


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "text, values",
    [
        ("A=1\n", {"A": "1"}),
        ("A=1\nB=two\n", {"A": "1", "B": "two"}),
        ("# a comment\n\nA=1 # trailing comment\n", {"A": "1"}),
        ("export A=1\n", {"A": "1"}),
        ("A='single quoted'\n", {"A": "single quoted"}),
        ('A="double quoted"\n', {"A": "double quoted"}),
        ('A="line one\\nline two"\n', {"A": "line one\nline two"}),
        ("A=\n", {"A": ""}),
        ("A = spaced \n", {"A": "spaced"}),
        ("A=1\nA=2\n", {"A": "2"}),
        ("BARE_KEY\nA=1\n", {"A": "1"}),  # a key without '=' sets nothing
        ("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWSRUN_ROLE=123456789012:Deploy\n",
         {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWSRUN_ROLE": "123456789012:Deploy"}),
        ("A=1", {"A": "1"}),  # no final newline
        ("", {}),
        ("A=ünïcödé\n", {"A": "ünïcödé"}),
    ],
)
def test_values(tmp_path: Path, text: str, values: Dict[str, str]) -> None:
    path = write(tmp_path, ".env", text)
    result = envfile.read([path], required=True)
    assert result.values == values
    assert result.origin == {key: path for key in values}


@pytest.mark.parametrize(
    "text, key, literal",
    [
        ("A=${HOME}\n", "A", "${HOME}"),
        ('A="${HOME}/x"\n', "A", "${HOME}/x"),
        ("B=1\nA=${B}\n", "A", "${B}"),
        ("A=${UNSET:-default}\n", "A", "${UNSET:-default}"),
        ("A=$HOME\n", "A", "$HOME"),
    ],
)
def test_no_interpolation(tmp_path: Path, text: str, key: str, literal: str) -> None:
    path = write(tmp_path, ".env", text)
    assert envfile.read([path], required=True).values[key] == literal


def test_later_file_wins_and_origin_follows(tmp_path: Path) -> None:
    first = write(tmp_path, "first.env", "SHARED=first\nONLY_FIRST=1\n")
    second = write(tmp_path, "second.env", "SHARED=second\nONLY_SECOND=2\n")
    result = envfile.read([first, second], required=True)
    assert result.values == {"SHARED": "second", "ONLY_FIRST": "1", "ONLY_SECOND": "2"}
    assert result.origin == {"SHARED": second, "ONLY_FIRST": first, "ONLY_SECOND": second}


def test_order_decides(tmp_path: Path) -> None:
    first = write(tmp_path, "first.env", "SHARED=first\n")
    second = write(tmp_path, "second.env", "SHARED=second\n")
    result = envfile.read([second, first], required=True)
    assert (result.values["SHARED"], result.origin["SHARED"]) == ("first", first)


@pytest.mark.parametrize(
    "paths",
    [
        ["missing.env"],
        ["present.env", "missing.env"],
        ["missing.env", "present.env"],
    ],
)
def test_missing_named_file_is_an_error(isolated: Path, paths: List[str]) -> None:
    write(isolated, "present.env", "A=1\n")
    with pytest.raises(ConfigError) as caught:
        envfile.read(paths, required=True)
    assert "'missing.env'" in str(caught.value)
    assert caught.value.exit_status == ExitStatus.FAILURE


def test_missing_default_file_is_empty(isolated: Path) -> None:
    assert not (isolated / DEFAULT_PATH).exists()
    result = envfile.read([DEFAULT_PATH], required=False)
    assert result == EnvFiles({}, {})


def test_default_file_is_read_from_the_current_directory_once_trusted(isolated: Path) -> None:
    write(isolated, ".env", "A=1\n")
    warnings: List[str] = []
    assert envfile.read([DEFAULT_PATH], required=False, warn=warnings.append) == EnvFiles({}, {})
    assert len(warnings) == 1 and "untrusted" in warnings[0]
    trust_env_file()
    result = envfile.read([DEFAULT_PATH], required=False)
    assert (result.values, result.origin) == ({"A": "1"}, {"A": DEFAULT_PATH})


def test_no_paths_is_empty() -> None:
    assert envfile.read([], required=True) == EnvFiles({}, {})


@pytest.mark.parametrize(
    "text, line",
    [
        ('A=1\nB="unterminated\nC=3\n', 2),
        ("A=1\nthis is not a line\n", 2),
        ("this is not a line\n", 1),
        ("# comment\n\nA=1\n  = nokey\n", 4),
        ("A=1\nB=2\nC=3\nD='x\n", 4),
    ],
)
def test_unparseable_line_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, "bad.env", text)
    with pytest.raises(ConfigError) as caught:
        envfile.read([path], required=True)
    message = str(caught.value)
    assert repr(path) in message
    assert f"line {line}" in message
    assert "\n" not in message


def test_unparseable_default_file_is_an_error_too(isolated: Path) -> None:
    write(isolated, ".env", "A=1\nnot valid\n")
    assert envfile.read([DEFAULT_PATH], required=False) == EnvFiles({}, {})  # untrusted: never parsed
    trust_env_file()
    with pytest.raises(ConfigError, match="line 2"):
        envfile.read([DEFAULT_PATH], required=False)


def test_named_directory_is_an_error(tmp_path: Path) -> None:
    directory = tmp_path / "dir.env"
    directory.mkdir()
    with pytest.raises(ConfigError) as caught:
        envfile.read([str(directory)], required=True)
    assert repr(str(directory)) in str(caught.value)


def test_default_directory_is_no_env_file(isolated: Path) -> None:
    (isolated / DEFAULT_PATH).mkdir()  # a virtualenv named .env
    warnings: List[str] = []
    assert envfile.read([DEFAULT_PATH], required=False, warn=warnings.append) == EnvFiles({}, {})
    assert warnings == []


def test_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.env"
    path.write_bytes(b"A=caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        envfile.read([str(path)], required=True)
    assert repr(str(path)) in str(caught.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = Path(write(tmp_path, "secret.env", "A=1\n"))
    path.chmod(0)
    with pytest.raises(ConfigError) as caught:
        envfile.read([str(path)], required=True)
    assert repr(str(path)) in str(caught.value)


def test_os_environ_is_never_changed(tmp_path: Path) -> None:
    first = write(tmp_path, "a.env", "AWSRUN_TEST_NEW=1\nHOME=/elsewhere\nPATH=/nowhere\n")
    second = write(tmp_path, "b.env", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWSRUN_TEST_NEW=2\n")
    before = dict(os.environ)
    result = envfile.read([first, second], required=True)
    assert result.values["HOME"] == "/elsewhere"
    assert dict(os.environ) == before


def test_dotenv_logger_is_left_as_found(tmp_path: Path) -> None:
    logger = logging.getLogger("dotenv.main")
    handlers, propagate = list(logger.handlers), logger.propagate
    good = write(tmp_path, "good.env", "A=1\n")
    bad = write(tmp_path, "bad.env", "not valid\n")
    envfile.read([good], required=True)
    with pytest.raises(ConfigError):
        envfile.read([bad], required=True)
    assert (logger.handlers, logger.propagate) == (handlers, propagate)


def test_result_does_not_share_state_between_reads(tmp_path: Path) -> None:
    path = write(tmp_path, ".env", "A=1\n")
    first = envfile.read([path], required=True)
    first.values["B"] = "2"
    assert envfile.read([path], required=True).values == {"A": "1"}
