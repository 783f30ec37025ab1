"""Benchmark: `pytask copy` (streamed Native) vs a row-by-row migration vs the engine's own
INSERT … SELECT — rows/s and ratios, all measured in this run on the same machine; and, on
the same partitioned table, the copy partition by partition (each verified and recorded: 1
and 2 at a time) against the copy in one piece (`--one-piece`), and a copy killed halfway
resumed (only the partitions not yet recorded are copied again).

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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import clickhouse_connect
from pytask.cli import run

from tests.support.chdb_http import ChdbEndpoint, pytask_env, start_chdb_endpoint

SCHEMA = (
    "(id UInt64, kind LowCardinality(String), at DateTime64(3), tags Array(String), "
    "price Decimal(18, 4), note Nullable(String)) ENGINE = MergeTree "
    "PARTITION BY intDiv(id, {per}) ORDER BY id"
)
PARTITIONS = 8
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
    return {
        "PYTASK_DATABASE": "bench",
        "PYTASK_TABLES": json.dumps(["events"]),
        "PYTASK_COPY_MODE": "client",
        **pytask_env("SOURCE", source),
        **pytask_env("DEST", dest),
    }


def pytask(argv: list[str], environ: dict[str, str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, environ, out, err)
    if code != 0:
        raise RuntimeError(f"pytask {argv} exited {code}: {err.getvalue()}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def timed_copy(environ: dict[str, str], *flags: str) -> tuple[float, float]:
    """A fresh staging table, then one timed copy and the verify after it: (seconds of the
    copy, seconds of copy + verify)."""
    reset(environ)
    pytask(["prepare"], environ)
    t0 = time.perf_counter()
    pytask(["copy", "--table", "events", *flags], environ)
    copied = time.perf_counter() - t0
    pytask(["verify"], environ)
    return copied, time.perf_counter() - t0


def reset(environ: dict[str, str]) -> None:
    """Drop the staging database, if any (cleanup: 0 dropped, 99 nothing to drop)."""
    err = io.StringIO()
    code = run(["cleanup"], environ, io.StringIO(), err)
    if code not in (0, 99):
        raise RuntimeError(f"pytask cleanup exited {code}: {err.getvalue()}")


def killed_then_resumed(environ: dict[str, str]) -> tuple[int, float, dict[str, Any]]:
    """Copy in a child process killed (PYTASK_COPY_CRASH_AFTER) after half the partitions are
    recorded; then resume in this one: (partitions recorded before the kill, seconds of the
    resumed copy, its result)."""
    reset(environ)
    pytask(["prepare"], environ)
    child = subprocess.run(
        [sys.executable, "-m", "pytask", "copy", "--table", "events", "--parallel", "1"],
        env={**os.environ, **environ, "PYTASK_COPY_CRASH_AFTER": str(PARTITIONS // 2)},
        capture_output=True,
        check=False,
    )
    if child.returncode != 137:
        raise RuntimeError(f"the copy to kill exited {child.returncode}: {child.stderr[-2000:]!r}")
    t0 = time.perf_counter()
    result = pytask(["copy", "--table", "events", "--parallel", "1"], environ)
    return PARTITIONS // 2, time.perf_counter() - t0, result


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
            schema = SCHEMA.format(per=-(-args.rows // PARTITIONS))
            source.command(f"CREATE TABLE bench.events {schema}")
            source.command("INSERT INTO bench.events " + FILL.format(n=args.rows))
            environ = env(source_ep, dest_ep)

            whole = timed_copy(environ, "--one-piece")
            ours = args.rows / whole[0]
            by_part = {n: timed_copy(environ, "--parallel", str(n)) for n in (1, 2)}
            recorded, resume_s, resumed = killed_then_resumed(environ)

            # ceiling: the destination engine copying a table it already holds into another
            dest.command(f"CREATE TABLE bench.ceiling {schema}")
            t0 = time.perf_counter()
            dest.command("INSERT INTO bench.ceiling SELECT * FROM bench__polyetl_staging.events")
            ceiling = args.rows / (time.perf_counter() - t0)

            # naive peer: read rows, one INSERT per row
            dest.command(f"CREATE TABLE bench.naive {schema}")
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
    print(f"\nthe same table, {PARTITIONS} partitions: in one piece vs partition by partition")
    print(f"{'copy':<40} {'copy s':>7} {'rows/s':>10} {'+verify s':>9} {'vs one piece':>12}")
    rows_of = [
        ("one piece (--one-piece)", whole),
        *((f"by partition, {n} at a time (each checked)", t) for n, t in by_part.items()),
    ]
    for label, (copy_s, total_s) in rows_of:
        print(
            f"{label:<40} {copy_s:>7.2f} {args.rows / copy_s:>10,.0f} {total_s:>9.2f} "
            f"{whole[1] / total_s:>11.2f}x"
        )
    counts = resumed["counts"]
    print(
        f"killed after {recorded} of {PARTITIONS} partitions, resumed: "
        f"{counts['partitions_copied']} copied, {counts['partitions_resumed']} kept, "
        f"{resume_s:.2f} s ({resume_s / by_part[1][0]:.2f}x of a whole copy by partition)"
    )
    print("(vs one piece: copy + verify time of the one-piece copy / of this one)")


if __name__ == "__main__":
    main()
