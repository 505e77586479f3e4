"""The one writer (awsrun/files.py): every file awsrun and awsrun-keys write goes through it.

In-process for the writer itself and the grep that keeps it the only one; awsrun as a real
process for --report, --output-dir, the trust store and the cache, and the XDG folders.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from awsrun import files

from awsrun.deliver import neutral
from awsrun.errors import ConfigError
from awsrun.keys import iniedit, store
from tests.conftest import CHILD, ROLE_ARN, SOURCE_KEY_ID, SOURCE_SECRET, child_report, run_awsrun
from tests.fake_sts import ISSUED_KEY_ID, FakeSts, assume_role_ok

AWSRUN = Path(files.__file__).parent
DEPLOY = "arn:aws:iam::123456789012:role/Deploy"
READONLY = "arn:aws:iam::210987654321:role/ReadOnly"
EACH = ["--each-role", DEPLOY, "--each-role", READONLY]


def temporaries(folder: Path) -> List[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


# --- the writer itself ----------------------------------------------------------------------


@pytest.mark.parametrize("plant", ["symlink", "dangling symlink", "fifo", "folder"])
def test_the_writer_refuses_a_target_that_is_not_a_regular_file(plant: str, tmp_path: Path) -> None:
    victim, target = tmp_path / "victim", tmp_path / "target"
    victim.write_text("precious")
    if plant == "symlink":
        target.symlink_to(victim)
    elif plant == "dangling symlink":
        target.symlink_to(tmp_path / "nowhere")
    elif plant == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    with pytest.raises(files.WriteError) as caught:
        files.write_bytes(str(target), b"new")
    assert str(caught.value).startswith(f"refusing to write {target}: it is ")
    assert "\n" not in str(caught.value) and caught.value.exit_status == 125
    assert victim.read_text() == "precious" and not (tmp_path / "nowhere").exists()
    assert temporaries(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.NewFile(str(target)) as stream:
            stream.write(b"half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and temporaries(tmp_path) == []


def test_modes_are_set_at_creation(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        files.write_bytes(str(tmp_path / "private"), b"x")
        files.write_bytes(str(tmp_path / "public"), b"x", mode=files.PUBLIC)
        files.write_bytes(str(tmp_path / "exact"), b"x", mode=0o644, exact=True)
    finally:
        os.umask(previous)
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("private", "public", "exact")}
    assert modes == {"private": 0o600, "public": 0o640, "exact": 0o644}


def test_a_hard_link_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim, target = tmp_path / "victim", tmp_path / "target"
    victim.write_text("precious")
    os.link(victim, target)
    files.write_text(str(target), "new")
    assert victim.read_text() == "precious" and target.read_text() == "new"


@pytest.mark.parametrize("value, expected", [
    (None, "/h/.cache"), ("", "/h/.cache"), ("cfg", "/h/.cache"), ("./cfg", "/h/.cache"), ("../x", "/h/.cache"),
    ("/abs/cache", "/abs/cache"),
])
def test_xdg_folder_ignores_a_relative_value(value: str, expected: str) -> None:
    environ = {"HOME": "/h", **({"XDG_CACHE_HOME": value} if value is not None else {})}
    assert files.xdg_folder(environ, "XDG_CACHE_HOME", ".cache") == expected


# --- nothing else writes files ------------------------------------------------------------

# What opens a file for writing, in any module's source.
WRITES = re.compile(
    r"""\b(?:open|os\.fdopen)\([^)]*,\s*(?:mode\s*=\s*)?["'][rbt]*[wax+][rwabxt+]*["']"""  # "w", "wb", "a", "r+"
    r"""|\bO_(?:WRONLY|RDWR|CREAT|APPEND|TRUNC)\b"""
    r"""|\b(?:mkstemp|mkdtemp|NamedTemporaryFile|TemporaryFile|SpooledTemporaryFile)\b"""
    r"""|\bshutil\.(?:copy\w*|move)\b|\bos\.(?:replace|rename)\b"""
    r"""|(?<!files)\.write_(?:text|bytes)\(""")  # pathlib's; files.write_text is the writer
# Explicit, and each for a reason: the terminal is not a file awsrun creates.
ALLOWED = {
    ("mfa.py", "os.open(TERMINAL, os.O_RDWR | os.O_NOCTTY)"),  # /dev/tty, to ask for the MFA code
}


def test_no_module_but_files_py_opens_a_file_for_writing() -> None:
    found = []
    for path in sorted(AWSRUN.rglob("*.py")):
        if path == AWSRUN / "files.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if WRITES.search(code) and not any(path.name == name and snippet in code for name, snippet in ALLOWED):
                found.append(f"{path.relative_to(AWSRUN)}:{number}: {line.strip()}")
    assert found == [], "write through awsrun.files instead:\n" + "\n".join(found)


def test_the_grep_would_see_each_kind_of_write() -> None:
    for line in ['open(p, "w")', "open(p, 'ab')", 'open(p, mode="r+")', "os.open(p, os.O_WRONLY)",
                 "tempfile.mkstemp(dir=d)", "os.replace(a, b)", "shutil.copyfile(a, b)", 'os.fdopen(fd, "wb")',
                 "Path(p).write_text(t)"]:
        assert WRITES.search(line), line
    for line in ['open(p, "rb")', "open(p, encoding='utf-8')", "os.open(p, os.O_RDONLY)"]:
        assert not WRITES.search(line), line


# --- --report ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.xml", "report.json"])
def test_a_symlinked_report_is_refused_before_any_role_runs(name: str, source_env: Dict[str, str],
                                                            tmp_path: Path) -> None:
    victim, report = tmp_path / "victim", tmp_path / name
    victim.write_text("precious")
    report.symlink_to(victim)
    marker = tmp_path / "ran"
    result = run_awsrun(["--no-cache", "--report", str(report), *EACH, "--", "touch", str(marker)], env=source_env)
    assert result.returncode == 125
    assert result.stderr.splitlines() == [
        f"awsrun: refusing to write {report}: it is a symbolic link, which awsrun never writes through or replaces"]
    assert victim.read_text() == "precious" and report.is_symlink() and not marker.exists()


@pytest.mark.parametrize("name", ["report.xml", "report.json"])
def test_a_hard_linked_report_is_replaced_not_written_through(name: str, source_env: Dict[str, str],
                                                             tmp_path: Path) -> None:
    victim, report = tmp_path / "victim", tmp_path / name
    victim.write_text("precious")
    os.link(victim, report)
    result = run_awsrun(["--no-cache", "--report", str(report), *EACH, "--", "true"], env=source_env)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious" and report.read_text().startswith(("<?xml", "{"))


_FILE_SIZE_LIMITED = (
    "import os, resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'awsrun', *sys.argv[1:]])\n"
)


@pytest.mark.parametrize("name", ["report.xml", "report.json"])
def test_a_report_that_cannot_be_written_whole_leaves_the_old_one(name: str, source_env: Dict[str, str],
                                                                 tmp_path: Path) -> None:
    report = tmp_path / name
    report.write_text("the last run's report\n")
    result = subprocess.run([sys.executable, "-c", _FILE_SIZE_LIMITED, "--no-cache", "-q", "--report", str(report),
                             *EACH, "--", "true"], env={**os.environ, **source_env}, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 125
    assert result.stderr.splitlines() == [
        f"awsrun: warning: could not write the report: cannot write {report}: File too large"]
    assert report.read_text() == "the last run's report\n" and temporaries(tmp_path) == []


# --- --output-dir ---------------------------------------------------------------------------


def test_output_dir_files_are_replaced_whole_never_written_through(source_env: Dict[str, str],
                                                                   tmp_path: Path) -> None:
    out, victim = tmp_path / "logs", tmp_path / "victim"
    out.mkdir()
    victim.write_text("precious\n")
    os.link(victim, out / "Deploy@123456789012.out")  # a hard link: O_NOFOLLOW alone does not stop it
    (out / "ReadOnly@210987654321.out").write_text("the last run\n")
    # While the command runs, its old file is still whole: the new one appears when it ends.
    code = ("import os, sys; label = 'Deploy@123456789012' if 'Deploy' in os.environ['AWSRUN_ASSUMED_ROLE_ARN'] "
            f"else 'ReadOnly@210987654321'; print('saw', open(os.path.join({str(out)!r}, label + '.out')).read(), end='')")
    result = run_awsrun(["--no-cache", "--output-dir", str(out), *EACH, "--", sys.executable, "-c", code],
                        env=source_env)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert (out / "Deploy@123456789012.out").read_text() == "saw precious\n"
    assert (out / "ReadOnly@210987654321.out").read_text() == "saw the last run\n"
    assert stat.S_IMODE((out / "Deploy@123456789012.out").stat().st_mode) == 0o666 & ~_umask()
    assert temporaries(out) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("plant", ["symlink", "fifo"])
def test_output_dir_refuses_a_planted_link_or_fifo(plant: str, source_env: Dict[str, str], tmp_path: Path) -> None:
    out, victim = tmp_path / "logs", tmp_path / "victim"
    out.mkdir()
    victim.write_text("precious")
    path = out / "Deploy@123456789012.err"
    if plant == "symlink":
        path.symlink_to(victim)
    else:
        os.mkfifo(path)  # opened for writing in place, it would block awsrun for ever
    result = run_awsrun(["--no-cache", "--output-dir", str(out), *EACH, "--", "echo", "hi"], env=source_env)
    assert result.returncode == 125
    assert f"awsrun failed (125): refusing to write {path}: it is " in result.stderr
    assert victim.read_text() == "precious" and (out / "ReadOnly@210987654321.out").read_text() == "hi\n"
    assert temporaries(out) == []


# --- the trust store, the cache, the neutral config, awsrun-keys ----------------------------


def test_trusting_through_a_symlinked_store_is_refused(tmp_path: Path) -> None:
    folder, victim = tmp_path / "home" / ".config" / "awsrun", tmp_path / "victim"
    folder.mkdir(parents=True, mode=0o700)
    victim.write_text("precious")
    (folder / "trusted-env-files.json").symlink_to(victim)
    Path(".env").write_text("A=1\n")
    result = run_awsrun(["--trust-env-file"])
    assert result.returncode == 125 and len(result.stderr.splitlines()) == 1
    assert victim.read_text() == "precious" and (folder / "trusted-env-files.json").is_symlink()


def test_the_neutral_config_is_never_written_through_a_link(tmp_path: Path) -> None:
    source, folder, victim = tmp_path / "config", tmp_path / "cache", tmp_path / "victim"
    source.write_text("[default]\nregion = eu-west-1\n")
    folder.mkdir(mode=0o700)
    victim.write_text("precious")
    path = neutral.config_file(str(source), str(folder), None, print, write=False)
    Path(path).symlink_to(victim)
    warnings: List[str] = []
    assert neutral.config_file(str(source), str(folder), None, warnings.append) == os.devnull
    assert warnings == [f"the command gets no AWS config file: cannot write its copy in {folder} "
                        "(it is a symbolic link, which awsrun never writes through or replaces)"]
    assert victim.read_text() == "precious" and temporaries(folder) == []


def test_a_keys_backup_is_never_written_through_a_link(tmp_path: Path) -> None:
    config, victim = tmp_path / "config", tmp_path / "victim"
    config.write_text("[a]\nx = 1\n")
    config.chmod(0o640)
    victim.write_text("precious")
    Path(str(config) + ".awsrun-keys.bak").symlink_to(victim)
    with pytest.raises(ConfigError, match=r"^refusing to write .*config\.awsrun-keys\.bak: it is a symbolic link.*; "
                                          r"nothing was changed$"):
        iniedit.write_all([iniedit.Edit(str(config), "[a]\nx = 1\n", "[a]\nx = 2\n")])
    assert config.read_text() == "[a]\nx = 1\n" and victim.read_text() == "precious"
    assert temporaries(tmp_path) == []


def test_keys_backups_and_edits_keep_the_files_mode(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[a]\nx = 1\n")
    config.chmod(0o640)
    (kept,) = iniedit.write_all([iniedit.Edit(str(config), "[a]\nx = 1\n", "[a]\nx = 2\n")])
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (config, kept)] == [0o640, 0o640]
    new = tmp_path / "credentials"
    iniedit.write_all([iniedit.Edit(str(new), "", "[w]\n")])
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


def test_the_keys_backend_memo_is_never_written_through_a_link(tmp_path: Path) -> None:
    hint, victim = tmp_path / "awsrun-keys" / "backend", tmp_path / "victim"
    hint.parent.mkdir(mode=0o700)
    victim.write_text("precious")
    hint.symlink_to(victim)
    store._remember(str(hint), "keyring.backends.SecretService.Keyring")
    assert victim.read_text() == "precious" and hint.is_symlink()


# --- a relative XDG_CONFIG_HOME / XDG_CACHE_HOME is ignored ---------------------------------


def test_a_relative_xdg_config_home_cannot_make_a_repository_trust_its_own_dotenv(
        isolated: Path, source_env: Dict[str, str]) -> None:
    # What a cloned repository could ship: a .env, and cfg/awsrun/trusted-env-files.json trusting it.
    dotenv = isolated / ".env"
    dotenv.write_bytes(b"ATTACKER_MARK=yes\n")
    shipped = isolated / "cfg" / "awsrun"
    shipped.mkdir(parents=True, mode=0o700)
    import hashlib

    digest = hashlib.sha256(dotenv.read_bytes()).hexdigest()
    (shipped / "trusted-env-files.json").write_text(json.dumps({"version": 1, "files": {str(dotenv): digest}}))
    (shipped / "trusted-env-files.json").chmod(0o600)
    env = {**source_env, "XDG_CONFIG_HOME": "cfg"}
    result = run_awsrun(["--no-cache", "-r", ROLE_ARN, "--", sys.executable, str(CHILD)], env=env)
    assert result.returncode == 0, result.stderr
    assert "ATTACKER_MARK" not in child_report(result.stdout)["env"]
    assert f"awsrun: warning: ignoring untrusted {dotenv}" in result.stderr
    # Trusting writes the user's own store, under $HOME/.config, never the repository's.
    before = (shipped / "trusted-env-files.json").read_bytes()
    assert run_awsrun(["--trust-env-file"], env=env).returncode == 0
    home_store = Path(os.environ["HOME"]) / ".config" / "awsrun" / "trusted-env-files.json"
    assert str(dotenv) in json.loads(home_store.read_text())["files"]
    assert (shipped / "trusted-env-files.json").read_bytes() == before


def test_a_relative_xdg_cache_home_is_ignored(isolated: Path) -> None:
    home = Path(os.environ["HOME"])
    env = {"AWS_ACCESS_KEY_ID": SOURCE_KEY_ID, "AWS_SECRET_ACCESS_KEY": SOURCE_SECRET, "XDG_CACHE_HOME": "cache"}
    with FakeSts([assume_role_ok()]) as sts:
        result = run_awsrun(["-r", ROLE_ARN, "--credential-process"], env={**env, "AWS_ENDPOINT_URL_STS": sts.url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"] == ISSUED_KEY_ID
    assert not (isolated / "cache").exists()
    assert list((home / ".cache" / "awsrun").glob("*.session"))
    assert store._hint_file({"HOME": str(home), "XDG_CACHE_HOME": "cache"}) == str(
        home / ".cache" / "awsrun-keys" / "backend")
