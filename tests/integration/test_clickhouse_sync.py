"""The zero-downtime database sync end to end on two ClickHouse engines (source and
destination, each a chDB-backed endpoint): plan → prepare → copy → verify → swap → cleanup
through the real `pytask` commands.

The endpoints speak HTTP only, so `remote()` (native protocol) cannot work between them:
`--mode auto` must detect that and stream through the task, which is what these tests
exercise. With real servers — CLICKHOUSE_SOURCE_HOST/_PORT/_USER/_PASSWORD and the same for
DEST — the same tests run against them instead, server-side copies included.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytask.cli import run

from tests.support.chdb_http import ChdbEndpoint, start_chdb_endpoint, stop_chdb_endpoint

pytestmark = pytest.mark.clickhouse

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
    env = {"PYTASK_DATABASE": DB, "PYTASK_COPY_MODE": "auto"}
    for role, ep in (("SOURCE", source), ("DEST", dest)):
        env |= {
            f"PYTASK_{role}_HOST": ep.host,
            f"PYTASK_{role}_PORT": str(ep.port),
            f"PYTASK_{role}_USER": ep.user,
            f"PYTASK_{role}_PASSWORD": ep.password,
        }
    return env


def pytask(argv: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any] | None, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, env, out, err)
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


def ok(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    code, result, err = pytask(argv, env)
    assert code == 0, err
    assert result is not None
    return result


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


class Reader(threading.Thread):
    """Queries every live destination table in a loop for the whole sync and records anything
    that is neither the old nor the new state: a missing table or a partial row count."""

    def __init__(self, dest: ChdbEndpoint, allowed: dict[str, set[int]]) -> None:
        super().__init__(daemon=True)
        self.client = dest.client()
        self.allowed = allowed
        self.stop = threading.Event()
        self.anomalies: list[str] = []
        self.reads = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for name, counts in self.allowed.items():
                try:
                    n = int(self.client.query(f"SELECT count() FROM {DB}.{name}").result_rows[0][0])
                except Exception as exc:
                    if name != "lookup":  # lookup may only appear at swap time
                        self.anomalies.append(f"{name}: {type(exc).__name__}")
                    continue
                self.reads += 1
                if n not in counts:
                    self.anomalies.append(f"{name}: {n} rows")


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


def live_counts(dest: Any) -> dict[str, int]:
    """Row counts of the live destination tables that exist before a sync."""
    return {
        n: int(dest.query(f"SELECT count() FROM {DB}.{n}").result_rows[0][0])
        for n in TABLES
        if n != "lookup"
    }


def copy_all(env: dict[str, str], tables: Iterable[str]) -> None:
    for table in tables:
        ok(["copy", "--table", table], env)


def test_sync_copies_verifies_and_swaps_without_exposing_partial_tables(seeded: Seeded) -> None:
    source, dest, dest_ep = seeded.source, seeded.dest, seeded.dest_endpoint
    want = fingerprints(source, DB)
    assert sum(rows for rows, _ in want.values()) >= 1_000_000
    env = dict(seeded.env)

    reader = Reader(
        dest_ep, {n: {10, rows} if n != "lookup" else {rows} for n, (_, rows) in TABLES.items()}
    )
    reader.start()
    try:
        plan = ok(["plan"], env)
        tables = plan["outputs"]["tables"]
        assert sorted(tables) == sorted(TABLES)
        env["PYTASK_TABLES"] = ",".join(tables)
        ok(["prepare"], env)
        for table in tables:
            copied = ok(["copy", "--table", table], env)
            if not REAL:  # remote() can't reach an HTTP-only peer: auto must fall back
                assert copied["outputs"]["mode"] == "client"
            assert copied["counts"]["rows"] == TABLES[table][1]
        ok(["verify"], env)
        swapped = ok(["swap"], env)
        assert swapped["counts"]["swapped"] == len(TABLES)
        ok(["cleanup"], env)
    finally:
        reader.stop.set()
        reader.join(timeout=60)
    assert reader.reads > 0
    assert reader.anomalies == []
    assert fingerprints(dest, DB) == want
    assert dest.query(
        f"SELECT count() FROM system.databases WHERE name = '{DB}__polyetl_staging'"
    ).result_rows == [(0,)]
    # a second run with the same inputs ends in the same state
    ok(["prepare"], env)
    copy_all(env, tables)
    for argv in (["verify"], ["swap"], ["cleanup"]):
        ok(argv, env)
    assert fingerprints(dest, DB) == want


def test_failure_mid_copy_leaves_live_untouched_and_rerun_completes(seeded: Seeded) -> None:
    source, dest = seeded.source, seeded.dest
    env = seeded.env | {"PYTASK_TABLES": ",".join(TABLES)}
    live_before = live_counts(dest)
    ok(["prepare"], env)
    # The fault: the staging table rejects rows past id 300000, so the insert fails partway.
    dest.command(f"ALTER TABLE {DB}__polyetl_staging.events ADD CONSTRAINT small CHECK id < 300000")
    code, _, err = pytask(["copy", "--table", "events"], env)
    assert code in (65, 75), err
    assert live_counts(dest) == live_before
    # verify refuses what was not fully copied, so swap cannot run on it
    copy_all(env, (t for t in TABLES if t != "events"))
    code, _, err = pytask(["verify"], env)
    assert code == 65, err
    assert "events" in err
    code, _, err = pytask(["swap"], env)
    assert code == 65, err
    # the fix, then a re-run of the failed step completes the sync
    dest.command(f"ALTER TABLE {DB}__polyetl_staging.events DROP CONSTRAINT small")
    ok(["copy", "--table", "events"], env)
    ok(["verify"], env)
    ok(["swap"], env)
    assert fingerprints(dest, DB) == fingerprints(source, DB)


def test_swap_rerun_after_a_partial_swap_completes_it(seeded: Seeded) -> None:
    source, dest = seeded.source, seeded.dest
    env = seeded.env | {"PYTASK_TABLES": ",".join(TABLES)}
    ok(["prepare"], env)
    copy_all(env, TABLES)
    ok(["verify"], env)
    # A crash between the exchange and the drop of the old copy, done by hand for one table.
    dest.command(f"EXCHANGE TABLES {DB}__polyetl_staging.events AND {DB}.events")
    swapped = ok(["swap"], env)
    assert (swapped["counts"]["swapped"], swapped["counts"]["already_swapped"]) == (
        len(TABLES) - 1,
        1,
    )
    assert fingerprints(dest, DB) == fingerprints(source, DB)
    again = ok(["swap"], env)  # and once more: nothing left to do, nothing broken
    assert again["counts"]["already_swapped"] == len(TABLES)


@pytest.mark.parametrize("bad", ["sales`; DROP DATABASE sales", "sales.x", "../sales"])
def test_hostile_table_names_are_refused(
    bad: str, servers: tuple[ChdbEndpoint, ChdbEndpoint]
) -> None:
    env = env_for(*servers)
    code, result, err = pytask(["copy", "--table", bad], env)
    assert (code, result) == (64, None), err
    code, _, err = pytask(["swap", "--tables", f"events,{bad}"], env)
    assert code == 64, err
