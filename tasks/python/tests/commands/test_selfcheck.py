"""selfcheck, in-process: result shape, redaction, scratch check, --hold, --fail-with codes."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from pytask.commands.selfcheck import hold
from pytask.config import LogLevel
from pytask.errors import ExitCode, Terminated
from pytask.logs import configure
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


def test_hold_waits_then_continues_as_without(run_cli: RunCli, tmp_path: Path) -> None:
    result_file = tmp_path / "r.json"
    started = time.monotonic()
    outcome = run_cli(["selfcheck", "--hold", "1", "--result-file", str(result_file)])
    assert time.monotonic() - started >= 1
    assert outcome.code == ExitCode.OK
    assert [line["msg"] for line in outcome.lines] == [
        "selfcheck started",
        "selfcheck holding",
        "selfcheck done",
    ]
    assert outcome.lines[1]["seconds"] == 1
    assert json.loads(result_file.read_text())["outputs"]["held_s"] == 1


def test_hold_then_fail_with(run_cli: RunCli, tmp_path: Path) -> None:
    result_file = tmp_path / "r.json"
    outcome = run_cli(
        ["selfcheck", "--fail-with", "permanent", "--result-file", str(result_file)],
        {"PYTASK_HOLD": "1"},
    )
    assert outcome.code == ExitCode.PERMANENT
    assert [line["msg"] for line in outcome.lines][:2] == ["selfcheck started", "selfcheck holding"]
    assert not result_file.exists()


def test_no_hold_by_default(run_cli: RunCli) -> None:
    outcome = run_cli(["selfcheck"])
    assert outcome.code == ExitCode.OK
    assert json.loads(outcome.stdout)["outputs"]["held_s"] == 0
    assert "selfcheck holding" not in [line["msg"] for line in outcome.lines]


def test_hold_says_how_long_is_left_every_five_seconds() -> None:
    stream = io.StringIO()
    slept: list[float] = []
    hold(12, configure(LogLevel.INFO, stream), slept.append)
    assert slept == [5, 5, 2]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["msg"], line.get("seconds"), line.get("remaining_s")) for line in lines] == [
        ("selfcheck holding", 12, None),
        ("selfcheck held", None, 7),
        ("selfcheck held", None, 2),
    ]


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (
            ["--hold", "-1"],
            {},
            'expected --hold to be a whole number of seconds from 0 to 86400, got: "-1"',
        ),
        (["--hold", "abc"], {}, 'got: "abc"'),
        (["--hold", "86401"], {}, 'got: "86401"'),
        (["--hold", "1.5"], {}, 'got: "1.5"'),
        (["--hold", " 5"], {}, 'got: " 5"'),
        ([], {"PYTASK_HOLD": "soon"}, "expected PYTASK_HOLD to be a whole number"),
    ],
)
def test_bad_hold_is_usage_error_naming_the_value(
    run_cli: RunCli, argv: list[str], env: dict[str, str], named: str
) -> None:
    outcome = run_cli(["selfcheck", *argv], env)
    assert outcome.code == ExitCode.USAGE
    [error] = outcome.errors()
    assert error["error_kind"] == "usage"
    assert named in error["error"]
    assert outcome.stdout == ""


def test_terminated_is_one_warn_line_exit_143_and_no_result(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped(*_: object) -> None:
        raise Terminated("SIGTERM")

    monkeypatch.setattr("pytask.commands.selfcheck.hold", stopped)
    result_file = tmp_path / "r.json"
    # Written whatever --log-level says: it is what explains the exit code.
    argv = ["selfcheck", "--log-level", "error", "--result-file", str(result_file)]
    outcome = run_cli(argv)
    assert outcome.code == 143
    assert [(line["level"], line["msg"], line["signal"]) for line in outcome.lines] == [
        ("warn", "terminated", "SIGTERM")
    ]
    assert not result_file.exists()
