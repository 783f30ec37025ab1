"""Shared fixtures: run the CLI in-process and read back what it printed and wrote; the services
the command tests talk to, and two ClickHouse servers for the sync.

The services — the S3 server (hack/s3-server.sh, or the one S3_ENDPOINT_URL names) and the
chDB-backed ClickHouse endpoint (images/chdb-http) — come from the repository's test support
(tests/support at the root, on this project's pythonpath as ``support``), which the root's
integration tests use too; what the fixtures start they stop at the end of the session.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytask.cli import run
from support.fixtures import bucket, chdb_endpoint, s3_client, s3_client_factory, s3_settings
from tests.sync_servers import seeded, servers

__all__ = [
    "Outcome",
    "RunCli",
    "bucket",
    "chdb_endpoint",
    "run_cli",
    "s3_client",
    "s3_client_factory",
    "s3_settings",
    "seeded",
    "servers",
]


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
