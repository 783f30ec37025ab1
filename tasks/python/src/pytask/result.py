"""The task result: one JSON object with the same shape in every language.

KubernetesPodOperator's xcom sidecar reads ``/airflow/xcom/return.json`` after the container
exits, so the file must be whole or absent: it is written to a temp file in the same
directory and renamed into place.
"""

from __future__ import annotations

import enum
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pytask import TOOL, __version__
from pytask.errors import PermanentError


class Status(enum.StrEnum):
    """Result status: work done, or nothing to do (task skipped)."""

    OK = "ok"
    NOTHING_TO_DO = "nothing_to_do"


@dataclass(frozen=True)
class TaskResult:
    """What a command hands to the next task: integer counts and small outputs."""

    command: str
    counts: Mapping[str, int] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    status: Status = Status.OK

    def __post_init__(self) -> None:
        for name, value in self.counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"expected counts.{name} to be a non-negative int, got: {value!r}")

    def to_json(self) -> dict[str, Any]:
        """The contract's result object."""
        return {
            "status": self.status.value,
            "tool": TOOL,
            "version": __version__,
            "command": self.command,
            "counts": dict(self.counts),
            "outputs": dict(self.outputs),
        }


def write_result(result: TaskResult, path: Path | None, stdout: IO[str]) -> None:
    """Write ``result`` atomically to ``path``, or as one line to ``stdout`` when unset."""
    text = json.dumps(result.to_json(), ensure_ascii=False, separators=(",", ":"), default=str)
    if path is None:
        stdout.write(text + "\n")
        stdout.flush()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PermanentError(f"cannot write result file {str(path)!r}") from exc
