"""Shared fixtures: run the CLI in-process and read back what it printed and wrote."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytask.cli import run


@dataclass
class Outcome:
    """What one in-process run produced."""

    code: int
    stdout: str
    stderr: str
    lines: list[dict[str, Any]] = field(default_factory=list)

    def errors(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["level"] == "error"]


RunCli = Callable[..., Outcome]


@pytest.fixture
def run_cli() -> RunCli:
    def _run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Outcome:
        out, err = io.StringIO(), io.StringIO()
        code = run(argv, dict(env or {}), stdout=out, stderr=err)
        text = err.getvalue()
        lines = [json.loads(line) for line in text.splitlines()]
        return Outcome(code=code, stdout=out.getvalue(), stderr=text, lines=lines)

    return _run
