"""The real ``pytask`` console script, run as a process the way the image runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.process import run_bin

SECRET = "pw-console-4b1d-never-print-me"


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


def test_sigterm_stops_a_hold_at_once_with_143_and_no_result(
    pytask_bin: str, tmp_path: Path
) -> None:
    result_file = tmp_path / "return.json"
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    args = ["selfcheck", "--hold", "60", "--scratch-dir", str(tmp_path)]
    args += ["--result-file", str(result_file)]
    with subprocess.Popen([pytask_bin, *args], env=base, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        lines = []
        for raw in proc.stderr:  # up to the holding line: the handler is installed by then
            lines.append(json.loads(raw))
            if lines[-1]["msg"] == "selfcheck holding":
                break
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        lines += [json.loads(raw) for raw in proc.stderr]
    assert time.monotonic() - sent < 5, "the hold must not run to its end"
    assert code == 143
    assert (lines[-1]["level"], lines[-1]["msg"], lines[-1]["signal"]) == (
        "warn",
        "terminated",
        "SIGTERM",
    )
    assert not result_file.exists()
    assert list(tmp_path.iterdir()) == []
