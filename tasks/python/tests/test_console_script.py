"""The real ``pytask`` console script, run as a process the way the image runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "pw-console-4b1d-never-print-me"


@pytest.fixture(scope="module")
def pytask_bin() -> str:
    found = shutil.which("pytask", path=str(Path(sys.executable).parent))
    assert found, "pytask console script is not installed in this environment"
    return found


def run_bin(binary: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [binary, *args], env=base | env, capture_output=True, text=True, timeout=60, check=False
    )


def test_selfcheck_process(pytask_bin: str, tmp_path: Path) -> None:
    result_file = tmp_path / "return.json"
    proc = run_bin(
        pytask_bin,
        "selfcheck",
        "--scratch-dir",
        str(tmp_path),
        env={"PYTASK_RESULT_FILE": str(result_file), "PYTASK_DEMO_PASSWORD": SECRET},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert lines
    assert all({"ts", "level", "msg", "tool"} <= line.keys() for line in lines)
    assert json.loads(result_file.read_text())["outputs"]["config"]["PYTASK_DEMO_PASSWORD"] == (
        "[redacted]"
    )
    assert SECRET not in proc.stdout + proc.stderr + result_file.read_text()


def test_bad_flag_process(pytask_bin: str) -> None:
    proc = run_bin(pytask_bin, "selfcheck", "--no-such-flag", env={})
    assert proc.returncode == 64
    [line] = [json.loads(line) for line in proc.stderr.splitlines()]
    assert "--no-such-flag" in line["error"]
