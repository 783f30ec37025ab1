"""Two ClickHouse engines for the sync commands (source and destination, each a chDB-backed
endpoint), and the database the tests sync between them (docs/clickhouse-sync.md).

The endpoints speak HTTP only, so `remote()` (native protocol) cannot work between them:
`--mode auto` must detect that and stream through the task. With real servers —
CLICKHOUSE_SOURCE_HOST/_PORT/_USER/_PASSWORD and the same for DEST — the same tests run
against them instead, server-side copies included.

The fixtures are registered in conftest.py; ``servers`` is per test module, so each module
starts from fresh servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from support.chdb_http import ChdbEndpoint, pytask_env, start_chdb_endpoint, stop_chdb_endpoint
from tests.inprocess import ok

DB = "sales"
TABLES = {
    # name: (DDL columns + engine, rows)
    "events": (
        "(id UInt64, kind LowCardinality(String), at DateTime64(3, 'UTC'), tags Array(String), "
        "attrs Map(String, Float64), note Nullable(String)) ENGINE = MergeTree ORDER BY id",
        700_000,
    ),
    "customers": (
        "(id UInt64, name String, vip Nullable(UInt8)) ENGINE = ReplacingMergeTree ORDER BY id",
        200_000,
    ),
    "prices": (
        "(sku String, price Decimal(18, 4), valid DateTime64(6)) ENGINE = MergeTree ORDER BY sku",
        100_000,
    ),
    "totals": ("(day Date, amount Float64) ENGINE = SummingMergeTree ORDER BY day", 3_650),
    "lookup": ("(k UInt32, v String) ENGINE = Memory", 1_000),
}
FILL = {
    "events": "SELECT number, ['a','b','c'][number % 3 + 1], "
    "toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(number), "
    "[toString(number % 7)], map('x', number / 3), "
    "if(number % 5 = 0, NULL, toString(number)) FROM numbers({n})",
    "customers": "SELECT number, concat('c', toString(number)), if(number % 2, NULL, 1) "
    "FROM numbers({n})",
    "prices": "SELECT toString(number), number / 7, toDateTime64('2026-06-01 12:00:00', 6) "
    "FROM numbers({n})",
    # no zero sums: SummingMergeTree drops such rows when it merges, on either side
    "totals": "SELECT toDate('2016-01-01') + number, number * 1.5 + 1 FROM numbers({n})",
    "lookup": "SELECT number, toString(number) FROM numbers({n})",
}


def real_server(role: str) -> ChdbEndpoint | None:
    """A real ClickHouse server from CLICKHOUSE_<ROLE>_HOST/_PORT/_USER/_PASSWORD, if given."""
    host = os.environ.get(f"CLICKHOUSE_{role}_HOST")
    if not host:
        return None
    return ChdbEndpoint(
        host,
        int(os.environ.get(f"CLICKHOUSE_{role}_PORT", "8123")),
        os.environ.get(f"CLICKHOUSE_{role}_USER", "default"),
        os.environ.get(f"CLICKHOUSE_{role}_PASSWORD", ""),
    )


REAL = real_server("SOURCE") is not None and real_server("DEST") is not None


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ChdbEndpoint, ChdbEndpoint]]:
    source_real, dest_real = real_server("SOURCE"), real_server("DEST")
    if source_real is not None and dest_real is not None:
        yield source_real, dest_real
        return
    root = tmp_path_factory.mktemp("sync")
    source, source_proc = start_chdb_endpoint(root / "source")
    dest, dest_proc = start_chdb_endpoint(root / "dest")
    yield source, dest
    for proc in (source_proc, dest_proc):
        stop_chdb_endpoint(proc)


def env_for(source: ChdbEndpoint, dest: ChdbEndpoint) -> dict[str, str]:
    return {
        "PYTASK_DATABASE": DB,
        "PYTASK_COPY_MODE": "auto",
        **pytask_env("SOURCE", source),
        **pytask_env("DEST", dest),
    }


def fingerprints(client: Any, db: str) -> dict[str, tuple[int, int]]:
    out = {}
    for name in TABLES:
        rows = client.query(
            f"SELECT count(), sumWithOverflow(cityHash64(*)) FROM {db}.{name}"
        ).result_rows
        out[name] = (int(rows[0][0]), int(rows[0][1]))
    return out


def seed(source: Any, dest: Any) -> None:
    for c, db in ((source, DB), (dest, DB)):
        c.command(f"DROP DATABASE IF EXISTS {db} SYNC")
        c.command(f"CREATE DATABASE {db} ENGINE = Atomic")
    for name, (ddl, rows) in TABLES.items():
        source.command(f"CREATE TABLE {DB}.{name} {ddl}")
        source.command(f"INSERT INTO {DB}.{name} " + FILL[name].format(n=rows))
        if name != "lookup":  # the destination lacks one table: swap must create it by RENAME
            dest.command(f"CREATE TABLE {DB}.{name} {ddl}")
            dest.command(
                f"INSERT INTO {DB}.{name} " + FILL[name].format(n=10)
            )  # an older, smaller copy


@dataclass(frozen=True)
class Seeded:
    """Both servers freshly seeded (seed()), their clients, and the env of the sync steps."""

    source: Any
    dest: Any
    dest_endpoint: ChdbEndpoint
    env: dict[str, str]


@pytest.fixture
def seeded(servers: tuple[ChdbEndpoint, ChdbEndpoint]) -> Seeded:
    source_ep, dest_ep = servers
    source, dest = source_ep.client(), dest_ep.client()
    seed(source, dest)
    return Seeded(source, dest, dest_ep, env_for(source_ep, dest_ep))


def copy_all(env: dict[str, str], tables: Iterable[str]) -> None:
    for table in tables:
        ok(["copy", "--table", table], env)
