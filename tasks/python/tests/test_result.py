"""The result object and its atomic file."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from pytask.errors import PermanentError
from pytask.result import Status, TaskResult, write_result


def test_shape() -> None:
    result = TaskResult(command="plan", counts={"tables": 3}, outputs={"db": "x"})
    assert result.to_json() == {
        "status": "ok",
        "tool": "pytask",
        "version": "0.1.0",
        "command": "plan",
        "counts": {"tables": 3},
        "outputs": {"db": "x"},
    }


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_counts_must_be_non_negative_ints(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected counts\.rows to be a non-negative int"):
        TaskResult(command="x", counts={"rows": bad})  # type: ignore[dict-item]


def test_written_atomically_into_new_dir_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "airflow" / "xcom" / "return.json"
    write_result(TaskResult(command="x", status=Status.NOTHING_TO_DO), target, io.StringIO())
    assert json.loads(target.read_text())["status"] == "nothing_to_do"
    assert os.listdir(target.parent) == ["return.json"]


def test_unset_path_prints_one_line() -> None:
    out = io.StringIO()
    write_result(TaskResult(command="x"), None, out)
    assert json.loads(out.getvalue())["command"] == "x"
    assert out.getvalue().count("\n") == 1


def test_unwritable_target_is_permanent(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(PermanentError, match="cannot write result file"):
        write_result(TaskResult(command="x"), blocker / "return.json", io.StringIO())
