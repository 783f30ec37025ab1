"""The command tests' way to run pytask: in-process, as `(exit code, result, log)` — and the env
that points a command at a ClickHouse server. One runner, :func:`invoke`, also behind the CLI
tests' ``run_cli`` fixture."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytask.cli import run
from support.chdb_http import ChdbEndpoint, pytask_env


@dataclass(frozen=True)
class Outcome:
    """What one in-process run produced."""

    code: int
    stdout: str
    stderr: str
    lines: list[dict[str, Any]]  # stderr, read as the JSON log lines the contract says it is

    @property
    def result(self) -> dict[str, Any] | None:
        """The result printed on stdout; None when nothing was."""
        return json.loads(self.stdout) if self.stdout.strip() else None

    def errors(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["level"] == "error"]


def invoke(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Outcome:
    """Run the CLI in-process, as the ``run_cli`` fixture and the helpers below do."""
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, dict(env or {}), stdout=out, stderr=err)
    text = err.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    return Outcome(code=code, stdout=out.getvalue(), stderr=text, lines=lines)


def pytask(argv: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any] | None, str]:
    """The exit code, the result printed on stdout (None when nothing was), stderr."""
    done = invoke(argv, env)
    return done.code, done.result, done.stderr


def pytask_lines(
    argv: list[str], env: dict[str, str]
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]]]:
    """As :func:`pytask`, with stderr read as the JSON log lines it is."""
    done = invoke(argv, env)
    return done.code, done.result, done.lines


def ok(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The result of a run that must succeed."""
    code, result, err = pytask(argv, env)
    assert code == 0, err
    assert result is not None
    return result


def source_env(endpoint: ChdbEndpoint, **extra: str) -> dict[str, str]:
    return {**pytask_env("SOURCE", endpoint), **extra}
