"""Shared fixtures: run the CLI in-process and read back what it printed and wrote; the services
the command tests talk to, and two ClickHouse servers for the sync.

The services — the S3 server (hack/s3-server.sh, or the one S3_ENDPOINT_URL names) and the
chDB-backed ClickHouse endpoint (images/chdb-http) — come from the repository's test support
(tests/support at the root, on this project's pythonpath as ``support``), which the root's
integration tests use too; what the fixtures start they stop at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.fixtures import bucket, chdb_endpoint, s3_client, s3_client_factory, s3_settings
from tests.inprocess import Outcome, invoke
from tests.process import console_script
from tests.sync_servers import seeded, servers

__all__ = [
    "Outcome",
    "RunCli",
    "bucket",
    "chdb_endpoint",
    "pytask_bin",
    "run_cli",
    "s3_client",
    "s3_client_factory",
    "s3_settings",
    "seeded",
    "servers",
]


RunCli = Callable[..., Outcome]


@pytest.fixture
def run_cli() -> RunCli:
    return invoke


@pytest.fixture(scope="session")
def pytask_bin() -> str:
    """The real console script (tests.process.run_bin runs it)."""
    return console_script()
