"""Which awsrun the benchmark measures: the installed command, how it was installed, and with what.

A figure means little without this. pip 23.0 without a pyproject.toml installs an editable
awsrun through `setup.py develop`, whose launcher looks itself up through importlib.metadata
(about 40 ms a call); a PEP 660 editable install or a wheel writes a plain console script.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from typing import Dict, List, Optional


def awsrun_script(name: str = "awsrun") -> Optional[str]:
    """The console script a user runs: the one beside this Python (the venv's), else the first on PATH."""
    return shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)


def launcher_kind(script: str) -> str:
    """What the console script does before awsrun's own code runs."""
    try:
        with open(script, encoding="utf-8", errors="replace") as stream:
            text = stream.read(4096)
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if "EASY-INSTALL-ENTRY-SCRIPT" in text or "load_entry_point" in text:
        return "setup.py develop launcher (looks itself up through importlib.metadata: slow)"
    if "from awsrun.cli import run" in text or "from awsrun.keys.cli import run" in text:
        return "plain console script (imports awsrun.cli directly)"
    return "unknown launcher"


def install_kind() -> str:
    """How the awsrun this Python imports was installed."""
    try:
        dist = importlib.metadata.distribution("awsrun")
    except importlib.metadata.PackageNotFoundError:
        return "not installed in this Python (a checkout on PYTHONPATH?)"
    if str(getattr(dist, "_path", "")).endswith(".egg-info"):
        return f"editable, setup.py develop (egg-info), version {dist.version}"
    direct = dist.read_text("direct_url.json")
    editable = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
    return f"{'editable, PEP 660' if editable else 'regular (wheel)'}, version {dist.version}"


def version_of(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def interpreter(script: Optional[str]) -> str:
    """The Python the console script runs under (its #! line), else this one."""
    if script:
        with open(script, "rb") as stream:
            first = stream.readline().decode(errors="replace")
        if first.startswith("#!") and "python" in first:
            return first[2:].split()[0]
    return sys.executable


def probe() -> Dict[str, str]:
    """Run in the console script's Python: how awsrun is installed there, and the versions."""
    spec = importlib.util.find_spec("awsrun")
    return {
        "install": install_kind(),
        "origin": os.path.dirname(spec.origin) if spec and spec.origin else "not importable",
        "python": sys.version.split()[0],
        "versions": ", ".join(f"{name} {version_of(name)}" for name in ("pip", "setuptools", "docopt-ng", "botocore")),
    }


def describe() -> List[str]:
    """Lines that say what was measured; the first names the awsrun command."""
    script = awsrun_script()
    python = interpreter(script)
    # A script's own folder leads sys.path, so no awsrun.egg-info in the working folder can answer.
    done = subprocess.run([python, os.path.abspath(__file__)], capture_output=True, text=True)
    found = json.loads(done.stdout) if done.returncode == 0 else {}
    lines = [
        f"awsrun command: {script or 'none on PATH: measured as python -m awsrun'}",
        f"  launcher:     {launcher_kind(script) if script else 'python -m awsrun'}",
        f"  install:      {found.get('install', 'unknown: ' + done.stderr.strip()[-200:])}",
        f"  awsrun from:  {found.get('origin', '?')}",
        f"  python:       {found.get('python', '?')} ({python}); {found.get('versions', '')}",
    ]
    if os.environ.get("PYTHONPATH"):
        lines.append(f"  PYTHONPATH:   {os.environ['PYTHONPATH']} (its awsrun is the one measured)")
    return lines


if __name__ == "__main__":
    print(json.dumps(probe()))
