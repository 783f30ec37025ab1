"""The service fixtures as processes: the S3 server and the chDB-backed ClickHouse endpoint,
per session — for tasks/python's tests (pytask's commands), which need no Docker.

tasks/python's conftest.py registers them by importing them; what they start they stop at the
end of the session. The root's tests/integration starts the same services as containers
instead (tests/support/containers.py) and takes only the S3 clients and ``bucket`` from here:
those ask for ``s3_settings`` by name, so they talk to whichever server the registering
conftest.py provides.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .chdb_http import ChdbEndpoint, start_chdb_endpoint, stop_chdb_endpoint
from .s3 import ClientFactory, S3Client, S3Settings, empty_bucket, new_client, s3_server

__all__ = ["bucket", "chdb_endpoint", "s3_client", "s3_client_factory", "s3_settings"]


@pytest.fixture(scope="session")
def s3_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Settings]:
    """The server S3_ENDPOINT_URL names, else a private one for the session."""
    with s3_server(tmp_path_factory.mktemp("s3-state")) as settings:
        yield settings


@pytest.fixture(scope="session")
def s3_client_factory(s3_settings: S3Settings) -> ClientFactory:
    """New clients for the server (see :func:`new_client`: keyword arguments override the
    credentials)."""

    def make(**overrides: str) -> S3Client:
        return new_client(s3_settings, **overrides)

    return make


@pytest.fixture(scope="session")
def s3_client(s3_client_factory: ClientFactory) -> S3Client:
    return s3_client_factory()


@pytest.fixture
def bucket(s3_client: S3Client) -> Iterator[str]:
    """A new, empty bucket; emptied and deleted after the test."""
    name = f"it-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3_client, name)
    s3_client.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def chdb_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbEndpoint]:
    endpoint, proc = start_chdb_endpoint(tmp_path_factory.mktemp("chdb") / "data")
    yield endpoint
    stop_chdb_endpoint(proc)
