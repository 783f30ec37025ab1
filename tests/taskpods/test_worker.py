"""taskpods.worker, the worker pod's entry point, run as the pod template runs it: a real
interpreter, a real module as Airflow's command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
loaded = {"kubernetes.client", "taskpods.languages"} <= set(sys.modules)
print(json.dumps({"argv": sys.argv[1:], "name": __name__, "preloaded": loaded}))
"""


def worker(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskpods.worker", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_a_python_module_command_runs_in_process_after_the_preload(tmp_path: Path) -> None:
    (tmp_path / "probe_workload.py").write_text(PROBE)
    proc = worker("python", "-m", "probe_workload", "--json-string", '{"a": 1}', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        '{"argv": ["--json-string", "{\\"a\\": 1}"], "name": "__main__", "preloaded": true}'
    )


def test_its_exit_status_is_the_modules(tmp_path: Path) -> None:
    (tmp_path / "failing_workload.py").write_text("raise SystemExit(3)\n")
    assert worker("python", "-m", "failing_workload", cwd=tmp_path).returncode == 3


def test_any_other_command_line_runs_unchanged(tmp_path: Path) -> None:
    proc = worker("sh", "-c", 'echo "$0 $1"', "a b", "c", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "a b c\n")
