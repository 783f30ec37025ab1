"""selfcheck, in-process: result shape, redaction, scratch check, --fail-with codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytask.errors import ExitCode
from tests.conftest import RunCli

SECRET = "pw-7f3a9c-never-print-me"


def test_result_shape_and_redaction(run_cli: RunCli, tmp_path: Path) -> None:
    result_file = tmp_path / "xcom" / "return.json"
    env = {"PYTASK_DEMO_PASSWORD": SECRET, "PYTASK_REGION": "eu", "HOME": "/root"}
    outcome = run_cli(
        ["selfcheck", "--result-file", str(result_file), "--scratch-dir", str(tmp_path)], env
    )
    assert outcome.code == ExitCode.OK
    result = json.loads(result_file.read_text())
    assert result["status"] == "ok"
    assert result["command"] == "selfcheck"
    assert result["counts"] == {"checks": 1, "failed": 0}
    assert result["outputs"]["config"] == {
        "PYTASK_DEMO_PASSWORD": "[redacted]",
        "PYTASK_REGION": "eu",
    }
    assert result["outputs"]["uid"] == os.geteuid()
    assert result["outputs"]["runtime"].startswith("CPython 3.")
    assert SECRET not in outcome.stdout + outcome.stderr + result_file.read_text()
    assert [line["msg"] for line in outcome.lines] == ["selfcheck started", "selfcheck done"]


def test_unwritable_scratch_dir_is_permanent_and_named(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    outcome = run_cli(["selfcheck", "--scratch-dir", str(missing)])
    assert outcome.code == ExitCode.PERMANENT
    [error] = outcome.errors()
    assert str(missing) in error["error"]
    assert error["error_kind"] == "permanent"


@pytest.mark.parametrize(
    ("kind", "code"),
    [("permanent", ExitCode.PERMANENT), ("transient", ExitCode.TRANSIENT)],
)
def test_fail_with_failures(run_cli: RunCli, tmp_path: Path, kind: str, code: ExitCode) -> None:
    result_file = tmp_path / "r.json"
    outcome = run_cli(["selfcheck", "--fail-with", kind, "--result-file", str(result_file)])
    assert outcome.code == code
    [error] = outcome.errors()
    assert error["error_kind"] == kind
    assert not result_file.exists()


def test_fail_with_nothing_to_do_writes_a_result(run_cli: RunCli, tmp_path: Path) -> None:
    result_file = tmp_path / "r.json"
    outcome = run_cli(
        ["selfcheck", "--result-file", str(result_file)], {"PYTASK_FAIL_WITH": "nothing-to-do"}
    )
    assert outcome.code == ExitCode.NOTHING_TO_DO
    assert json.loads(result_file.read_text())["status"] == "nothing_to_do"
    assert outcome.errors() == []
