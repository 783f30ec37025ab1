"""Common settings: flags over env, validated into typed values."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pytask.config import LogLevel, env_name, resolve_common
from pytask.errors import UsageError


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
