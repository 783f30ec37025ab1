"""Benchmark: `pytask copy` (streamed Native) vs a row-by-row migration vs the engine's own
INSERT … SELECT — rows/s and ratios, all measured in this run on the same machine.

Two chDB-backed ClickHouse endpoints (images/chdb-http/chdb_http.py) stand in for source and
destination. The ceiling is the destination engine copying within itself (`INSERT INTO … SELECT
FROM` another table of its own): no network, no client. The naive peer is what a migration
script written without thought does: read rows, send one INSERT per row; it is measured on a
sample (it is too slow for the whole table) and reported in rows/s.

    python -m bench.clickhouse_copy [--rows 2000000] [--naive-rows 300]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import clickhouse_connect
from pytask.cli import run

from tests.support.chdb_http import ChdbEndpoint, start_chdb_endpoint

SCHEMA = (
    "(id UInt64, kind LowCardinality(String), at DateTime64(3), tags Array(String), "
    "price Decimal(18, 4), note Nullable(String)) ENGINE = MergeTree ORDER BY id"
)
FILL = (
    "SELECT number, ['a','b','c'][number % 3 + 1], toDateTime64('2026-01-01 00:00:00', 3) + "
    "toIntervalMillisecond(number), [toString(number % 7)], number / 7, "
    "if(number % 5 = 0, NULL, toString(number)) FROM numbers({n})"
)


def client(ep: ChdbEndpoint) -> Any:
    return clickhouse_connect.get_client(
        host=ep.host, port=ep.port, username=ep.user, password=ep.password
    )


def env(source: ChdbEndpoint, dest: ChdbEndpoint) -> dict[str, str]:
    out = {"PYTASK_DATABASE": "bench", "PYTASK_TABLES": "events", "PYTASK_COPY_MODE": "client"}
    for role, ep in (("SOURCE", source), ("DEST", dest)):
        out |= {
            f"PYTASK_{role}_HOST": ep.host,
            f"PYTASK_{role}_PORT": str(ep.port),
            f"PYTASK_{role}_USER": ep.user,
            f"PYTASK_{role}_PASSWORD": ep.password,
        }
    return out


def pytask(argv: list[str], environ: dict[str, str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, environ, out, err)
    if code != 0:
        raise RuntimeError(f"pytask {argv} exited {code}: {err.getvalue()}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--naive-rows", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp:
        source_ep, source_proc = start_chdb_endpoint(Path(tmp) / "source")
        dest_ep, dest_proc = start_chdb_endpoint(Path(tmp) / "dest")
        try:
            source, dest = client(source_ep), client(dest_ep)
            for c in (source, dest):
                c.command("CREATE DATABASE IF NOT EXISTS bench ENGINE = Atomic")
            source.command(f"CREATE TABLE bench.events {SCHEMA}")
            source.command("INSERT INTO bench.events " + FILL.format(n=args.rows))
            environ = env(source_ep, dest_ep)
            pytask(["prepare"], environ)

            t0 = time.perf_counter()
            copied = pytask(["copy", "--table", "events"], environ)
            ours = copied["counts"]["rows"] / (time.perf_counter() - t0)

            # ceiling: the destination engine copying a table it already holds into another
            dest.command(f"CREATE TABLE bench.ceiling {SCHEMA}")
            t0 = time.perf_counter()
            dest.command("INSERT INTO bench.ceiling SELECT * FROM bench__polyetl_staging.events")
            ceiling = args.rows / (time.perf_counter() - t0)

            # naive peer: read rows, one INSERT per row
            dest.command(f"CREATE TABLE bench.naive {SCHEMA}")
            rows = source.query(
                f"SELECT * FROM bench.events ORDER BY id LIMIT {args.naive_rows}"
            ).result_rows
            t0 = time.perf_counter()
            for row in rows:
                dest.insert(
                    "bench.naive", [row], column_names=["id", "kind", "at", "tags", "price", "note"]
                )
            naive = len(rows) / (time.perf_counter() - t0)
        finally:
            for proc in (source_proc, dest_proc):
                proc.terminate()
                proc.wait(timeout=30)
    print(f"rows copied: {args.rows:,} (naive sample: {args.naive_rows:,})")
    print(f"{'method':<46} {'rows/s':>12}")
    print(f"{'pytask copy (client mode, streamed Native)':<46} {ours:>12,.0f}")
    print(f"{'row-by-row migration (naive peer)':<46} {naive:>12,.0f}")
    print(f"{'engine INSERT ... SELECT (ceiling)':<46} {ceiling:>12,.0f}")
    print(f"ratio vs naive: {ours / naive:,.1f}x   ratio vs ceiling: {ours / ceiling:.2f}x")


if __name__ == "__main__":
    main()
