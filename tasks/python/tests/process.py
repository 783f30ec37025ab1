"""The tests' way to run the real ``pytask`` console script, as the image runs it: a process
with a clean environment (only PATH), its exit status, stdout and stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def console_script() -> str:
    """The installed console script of this environment."""
    found = shutil.which("pytask", path=str(Path(sys.executable).parent))
    assert found, "pytask console script is not installed in this environment"
    return found


def run_bin(binary: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [binary, *args], env=base | env, capture_output=True, text=True, timeout=60, check=False
    )
