"""Fixtures for the integration tests: the services as containers (tests/support/containers.py)
and S3 clients (tests/support/fixtures.py, shared with tasks/python's tests).

* ``clickhouse`` (session): the ClickHouse server — CLICKHOUSE_HOST's, else a container of the
  official image where it can be pulled, else of this build's polyetl/chdb-http;
* ``clickhouse_pair`` (per module): ``(source, dest)``, two servers that reach each other
  (CLICKHOUSE_SOURCE_* and CLICKHOUSE_DEST_*, else two containers on one network);
* ``chdb_endpoint`` (session): the chdb-http image itself, for its own tests;
* ``s3_settings`` (session): S3_ENDPOINT_URL's server, else a polyetl/s3-server container;
  ``s3_client``, ``s3_client_factory`` and ``bucket`` talk to it.

The run ends with a line naming the images the containers ran (docs/testing.md).
"""

from __future__ import annotations

import pytest

from tests.support.containers import (
    chdb_endpoint,
    clickhouse,
    clickhouse_pair,
    s3_settings,
    started_images,
)
from tests.support.fixtures import bucket, s3_client, s3_client_factory

__all__ = [
    "bucket",
    "chdb_endpoint",
    "clickhouse",
    "clickhouse_pair",
    "s3_client",
    "s3_client_factory",
    "s3_settings",
]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for image, why in started_images.items():
        terminalreporter.write_line(f"service container: {image} ({why})")
