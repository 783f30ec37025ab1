"""The contract suite's harness: the task images under test and how a run is captured.

The images come from ``hack/images.sh refs`` (one line per language in hack/lib.sh), so a new
language joins the suite by being added there.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
XCOM_DIR = "/airflow/xcom"


@dataclass(frozen=True)
class TaskImage:
    """One task image: its language, tool name (= entry point) and image reference."""

    language: str
    ref: str

    @property
    def tool(self) -> str:
        return self.ref.rsplit("/", 1)[-1].split(":", 1)[0]

    @property
    def env_prefix(self) -> str:
        return self.tool.upper() + "_"


@dataclass
class Run:
    """One container run: exit code, output, parsed log lines and result (if any)."""

    code: int
    stdout: str
    stderr: str
    result_text: str | None
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any]:
        assert self.result_text is not None, f"no result file; stderr:\n{self.stderr}"
        parsed: dict[str, Any] = json.loads(self.result_text)
        return parsed

    def errors(self) -> list[dict[str, Any]]:
        return error_lines(self.lines)


def error_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines of level ``error``."""
    return [line for line in lines if line.get("level") == "error"]


@dataclass(frozen=True)
class Container:
    """A container started detached (``docker run --detach``), for tests that act on a task
    while it runs; removed by the fixture that started it."""

    id: str
    xcom: Path

    def follow_until(self, msg: str) -> list[dict[str, Any]]:
        """The log lines up to the first one with ``msg`` (``docker logs --follow``); fails
        when the container ends without logging it."""
        lines: list[dict[str, Any]] = []
        with subprocess.Popen(
            ["docker", "logs", "--follow", self.id],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as follow:
            assert follow.stderr is not None
            try:
                for raw in follow.stderr:
                    lines += parse_lines(raw)
                    if lines and lines[-1].get("msg") == msg:
                        return lines
            finally:
                follow.kill()
        pytest.fail(f"the container ended without logging {msg!r}: {lines}")

    def lines(self) -> list[dict[str, Any]]:
        """Every log line so far (the container's stderr)."""
        logs = subprocess.run(
            ["docker", "logs", self.id], capture_output=True, text=True, check=True, timeout=30
        )
        return parse_lines(logs.stderr)

    def exit_code(self) -> int:
        state = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", self.id],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
        assert state[0] == "false", "the container is still running"
        return int(state[1])


def task_images() -> list[TaskImage]:
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "hack/images.sh"), "refs"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [TaskImage(*line.split()) for line in out.splitlines() if line.strip()]


IMAGES = task_images()


def image_refs() -> dict[str, str]:
    """The task images `make images` builds, by language (hack/images.sh refs)."""
    return {image.language: image.ref for image in task_images()}


def parse_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line must be one JSON object: a non-JSON line fails the test here."""
    lines = []
    for raw in stderr.splitlines():
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            pytest.fail(f"stderr line is not JSON: {raw!r}")
        assert isinstance(obj, dict), f"stderr line is not a JSON object: {raw!r}"
        lines.append(obj)
    return lines
