"""The service fixtures (tests/support/containers.py): two ClickHouse servers that are really
two, which image they run (reported: the run's properties and its output), and — with the
official image or servers of one's own — a server-side copy between them with ``remote()``."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.support.containers import ClickHouseServer, clickhouse_image

pytestmark = pytest.mark.clickhouse

Pair = tuple[ClickHouseServer, ClickHouseServer]


@pytest.fixture
def database(clickhouse_pair: Pair) -> Iterator[str]:
    """A database name of this test's own, dropped on both servers after it."""
    name = f"it_{secrets.token_hex(6)}"
    yield name
    for server in clickhouse_pair:
        server.client().command(f"DROP DATABASE IF EXISTS {name}")


def test_two_servers_answer_independently(
    clickhouse_pair: Pair, database: str, record_property: Callable[[str, object], None]
) -> None:
    source, dest = clickhouse_pair
    assert source.kind == dest.kind
    assert (source.host, source.port) != (dest.host, dest.port)
    versions = [s.client().query("SELECT version()").result_rows[0][0] for s in clickhouse_pair]
    record_property("clickhouse_kind", source.kind)
    record_property("clickhouse_version", versions[0])
    print(f"ClickHouse pair: {source.kind} {versions[0]} (source {source.url}, dest {dest.url})")

    src, dst = source.client(), dest.client()
    src.command(f"CREATE DATABASE {database}")
    src.command(f"CREATE TABLE {database}.only_here (n UInt64) ENGINE = MergeTree ORDER BY n")
    src.command(f"INSERT INTO {database}.only_here SELECT number FROM numbers(10)")
    assert src.query(f"SELECT count() FROM {database}.only_here").result_rows == [(10,)]
    assert dst.command(f"EXISTS DATABASE {database}") == 0
    dst.command(f"CREATE DATABASE {database}")
    assert dst.command(f"EXISTS TABLE {database}.only_here") == 0


def test_remote_copies_from_source_to_dest(clickhouse_pair: Pair, database: str) -> None:
    """What `pytask copy --mode server` runs on the destination: INSERT … SELECT FROM remote()."""
    source, dest = clickhouse_pair
    if source.native_host is None or source.native_port is None:
        why = clickhouse_image().reason  # "no registry: <image> cannot be pulled", or a setting
        cause, _, detail = why.partition(": ")
        pytest.skip(
            f"{cause}: chdb-http has no native protocol, so no remote()"
            + (f" ({detail})" if detail else "")
        )
    src, dst = source.client(), dest.client()
    for client in (src, dst):
        client.command(f"CREATE DATABASE {database}")
        client.command(
            f"CREATE TABLE {database}.n (n UInt64, s String) ENGINE = MergeTree ORDER BY n"
        )
    src.command(f"INSERT INTO {database}.n SELECT number, toString(number) FROM numbers(100000)")
    remote = (
        f"remote('{source.native_host}:{source.native_port}', '{database}', 'n', "
        f"'{source.user}', '{source.password}')"
    )
    dst.command(f"INSERT INTO {database}.n SELECT * FROM {remote}")
    fingerprint = f"SELECT count(), sum(n), sum(cityHash64(s)) FROM {database}.n"
    assert dst.query(fingerprint).result_rows == src.query(fingerprint).result_rows
    assert dst.query(fingerprint).result_rows[0][0] == 100_000
