"""Fixtures for the integration tests: the S3 server, clients for it, and the chDB-backed
ClickHouse endpoint — defined once in tests/support/fixtures.py (tasks/python's tests use the
same ones), registered here. S3_ENDPOINT_URL and the AWS_* variables select a running S3
server; otherwise the session starts a private one and stops it (tests/support/s3.py)."""

from __future__ import annotations

from tests.support.fixtures import bucket, chdb_endpoint, s3_client, s3_client_factory, s3_settings

__all__ = ["bucket", "chdb_endpoint", "s3_client", "s3_client_factory", "s3_settings"]
