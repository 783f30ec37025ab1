"""The entry point: argv in, exit code out, errors reported once as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytask import __version__
from pytask.errors import ExitCode
from tests.conftest import RunCli


def test_help_goes_to_stdout_and_exits_zero(run_cli: RunCli) -> None:
    outcome = run_cli(["--help"])
    assert outcome.code == ExitCode.OK
    assert "selfcheck" in outcome.stdout
    assert outcome.stderr == ""


def test_command_help(run_cli: RunCli) -> None:
    outcome = run_cli(["selfcheck", "--help"])
    assert outcome.code == ExitCode.OK
    assert "--fail-with" in outcome.stdout


def test_version(run_cli: RunCli) -> None:
    outcome = run_cli(["--version"])
    assert outcome.code == ExitCode.OK
    assert outcome.stdout.strip() == f"pytask {__version__}"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["selfcheck", "--bogus"], "--bogus"),
        (["--log-level", "loud", "selfcheck"], "--log-level"),
        (["selfcheck", "--fail-with", "sometimes"], "--fail-with"),
        (["nosuchcommand"], "nosuchcommand"),
        ([], "expected a command"),
    ],
)
def test_bad_usage_is_one_json_error_naming_the_problem(
    run_cli: RunCli, argv: list[str], named: str
) -> None:
    outcome = run_cli(argv)
    assert outcome.code == ExitCode.USAGE
    [error] = outcome.errors()
    assert error["error_kind"] == "usage"
    assert error["exit_code"] == 64
    assert named in error["error"]
    assert outcome.stdout == ""


def test_bad_env_value_names_the_variable(run_cli: RunCli) -> None:
    outcome = run_cli(["selfcheck"], {"PYTASK_LOG_LEVEL": "chatty"})
    assert outcome.code == ExitCode.USAGE
    [error] = outcome.errors()
    assert (
        'expected PYTASK_LOG_LEVEL to be one of debug, info, warn, error, got: "chatty"'
        in (error["error"])
    )


def test_flag_wins_over_env(run_cli: RunCli, tmp_path: Path) -> None:
    flag_file, env_file = tmp_path / "flag.json", tmp_path / "env.json"
    outcome = run_cli(
        ["selfcheck", "--result-file", str(flag_file)], {"PYTASK_RESULT_FILE": str(env_file)}
    )
    assert outcome.code == ExitCode.OK
    assert flag_file.exists()
    assert not env_file.exists()


def test_common_flags_before_or_after_the_command(run_cli: RunCli, tmp_path: Path) -> None:
    before = run_cli(["--log-level", "error", "--result-file", str(tmp_path / "a"), "selfcheck"])
    after = run_cli(["selfcheck", "--log-level", "error", "--result-file", str(tmp_path / "b")])
    assert before.code == after.code == ExitCode.OK
    assert before.lines == after.lines == []  # info lines filtered by --log-level error
    assert json.loads((tmp_path / "a").read_text())["status"] == "ok"
    assert json.loads((tmp_path / "b").read_text())["status"] == "ok"


def test_unexpected_exception_is_internal_error_not_a_traceback_dump(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("pytask.commands.selfcheck.check_scratch_dir", boom)
    outcome = run_cli(["selfcheck"])
    assert outcome.code == ExitCode.INTERNAL
    [error] = outcome.errors()
    assert error["error_kind"] == "internal"
    assert error["error"] == "division by zero"
    assert "ZeroDivisionError" in error["traceback"]
