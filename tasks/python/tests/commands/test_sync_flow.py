"""The zero-downtime database sync end to end on two ClickHouse engines (source and
destination, each a chDB-backed endpoint; tests/sync_servers.py): plan → prepare → copy →
verify → swap → cleanup through the real `pytask` commands, and what a failure partway does.

These tests are about the flow, not one command: each step's own behaviour is tested with
its module (tests/commands/, tests/clickhouse/).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from support.chdb_http import ChdbEndpoint
from tests.inprocess import ok, pytask
from tests.sync_servers import DB, REAL, TABLES, Seeded, copy_all, fingerprints

pytestmark = pytest.mark.clickhouse


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


def live_counts(dest: Any) -> dict[str, int]:
    """Row counts of the live destination tables that exist before a sync."""
    return {
        n: int(dest.query(f"SELECT count() FROM {DB}.{n}").result_rows[0][0])
        for n in TABLES
        if n != "lookup"
    }


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
        env["PYTASK_TABLES"] = json.dumps(list(tables))
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
    env = seeded.env | {"PYTASK_TABLES": json.dumps(list(TABLES))}
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
