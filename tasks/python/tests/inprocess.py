"""The command tests' way to run pytask: in-process, as `(exit code, result, log)` — and the env
that points a command at a ClickHouse server. (``run_cli`` in conftest.py is the CLI tests'.)"""

from __future__ import annotations

import io
import json
from typing import Any

from pytask.cli import run
from support.chdb_http import ChdbEndpoint


def pytask(argv: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any] | None, str]:
    """The exit code, the result printed on stdout (None when nothing was), stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, env, out, err)
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


def pytask_lines(
    argv: list[str], env: dict[str, str]
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]]]:
    """As :func:`pytask`, with stderr read as the JSON log lines it is."""
    code, result, err = pytask(argv, env)
    return code, result, [json.loads(line) for line in err.splitlines()]


def ok(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The result of a run that must succeed."""
    code, result, err = pytask(argv, env)
    assert code == 0, err
    assert result is not None
    return result


def server_env(role: str, endpoint: ChdbEndpoint) -> dict[str, str]:
    """``PYTASK_<ROLE>_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD`` of ``endpoint``."""
    return {
        f"PYTASK_{role}_HOST": endpoint.host,
        f"PYTASK_{role}_PORT": str(endpoint.port),
        f"PYTASK_{role}_USER": endpoint.user,
        f"PYTASK_{role}_PASSWORD": endpoint.password,
    }


def source_env(endpoint: ChdbEndpoint, **extra: str) -> dict[str, str]:
    return {**server_env("SOURCE", endpoint), **extra}
