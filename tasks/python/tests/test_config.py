"""Settings: flags over env, validated into typed values; a bad value names the flag or the env
variable it came from."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pytask.config import LogLevel, env_name, resolve_common
from pytask.errors import UsageError
from tests.inprocess import pytask_lines


def ns(**values: str) -> argparse.Namespace:
    return argparse.Namespace(**values)


def test_defaults() -> None:
    settings = resolve_common(ns(), {})
    assert settings.result_file is None
    assert settings.log_level is LogLevel.INFO
    assert settings.scratch_dir == Path("/tmp")  # noqa: S108


def test_env_fallbacks() -> None:
    settings = resolve_common(
        ns(),
        {
            "PYTASK_RESULT_FILE": "/x/r.json",
            "PYTASK_LOG_LEVEL": "debug",
            "PYTASK_SCRATCH_DIR": "/s",
        },
    )
    assert settings.result_file == Path("/x/r.json")
    assert settings.log_level is LogLevel.DEBUG
    assert settings.scratch_dir == Path("/s")


def test_flag_beats_env() -> None:
    settings = resolve_common(ns(log_level="warn"), {"PYTASK_LOG_LEVEL": "debug"})
    assert settings.log_level is LogLevel.WARN


def test_empty_path_is_refused_naming_its_source() -> None:
    with pytest.raises(UsageError, match=r'expected PYTASK_SCRATCH_DIR to be a path, got: ""'):
        resolve_common(ns(), {"PYTASK_SCRATCH_DIR": ""})


def test_env_name() -> None:
    assert env_name("--scratch-dir") == "PYTASK_SCRATCH_DIR"


def test_bad_choices_name_the_flag_or_the_env_variable_they_came_from() -> None:
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9", "PYTASK_DEST_HOST": "x"}
    code, _, lines = pytask_lines(["plan", "--database", "shop", "--pattern-syntax", "fuzzy"], env)
    assert code == 64
    assert lines[-1]["error"] == 'expected --pattern-syntax to be one of glob, regex, got: "fuzzy"'
    code, _, lines = pytask_lines(
        ["copy", "--database", "shop", "--table", "t"], {**env, "PYTASK_COPY_MODE": "teleport"}
    )
    assert code == 64
    assert lines[-1]["error"].startswith(
        "expected PYTASK_COPY_MODE to be one of auto, server, client"
    )
