"""Secret detection, redaction and *_FILE indirection."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytask.errors import UsageError
from pytask.secrets import REDACTED, is_secret_name, read_secret, redacted_env


@pytest.mark.parametrize(
    "name", ["PYTASK_DB_PASSWORD", "PYTASK_API_TOKEN", "PYTASK_S3_SECRET_ACCESS_KEY", "X_SECRET"]
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PYTASK_HOST", "PYTASK_DB_PASSWORD_FILE", "PYTASK_KEYS"])
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


def test_redacted_env_keeps_only_prefix_and_hides_values() -> None:
    env = {"PYTASK_DB_PASSWORD": "hunter2", "PYTASK_DB_HOST": "ch", "OTHER_PASSWORD": "x"}
    assert redacted_env(env, "PYTASK_") == {"PYTASK_DB_HOST": "ch", "PYTASK_DB_PASSWORD": REDACTED}


def test_read_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t\n")
    assert read_secret({"PYTASK_DB_PASSWORD_FILE": str(secret)}, "PYTASK_DB_PASSWORD") == "s3cr3t"


def test_read_secret_from_env_or_absent() -> None:
    assert read_secret({"PYTASK_DB_PASSWORD": "v"}, "PYTASK_DB_PASSWORD") == "v"
    assert read_secret({}, "PYTASK_DB_PASSWORD") is None


def test_both_set_is_refused() -> None:
    env = {"PYTASK_DB_PASSWORD": "v", "PYTASK_DB_PASSWORD_FILE": "/f"}
    with pytest.raises(UsageError, match="only one of"):
        read_secret(env, "PYTASK_DB_PASSWORD")


def test_unreadable_file_names_the_variable_not_the_value(tmp_path: Path) -> None:
    env = {"PYTASK_DB_PASSWORD_FILE": str(tmp_path / "missing")}
    with pytest.raises(UsageError, match="expected PYTASK_DB_PASSWORD_FILE to name a readable"):
        read_secret(env, "PYTASK_DB_PASSWORD")
