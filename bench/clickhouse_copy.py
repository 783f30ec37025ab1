"""Benchmark: `pytask copy --mode client` (the table streamed through the task in Native) against
its own ceiling — what a ClickHouse user pipes by hand between two servers' HTTP interfaces,
`curl … SELECT … FORMAT Native | curl … INSERT … FORMAT Native` — on the same table, in the same
run; with the endpoints' own figures beside it, a row-by-row migration, and the engine's
in-process `INSERT … SELECT`. Then, on the same partitioned table, the copy partition by
partition (each verified and recorded: 1 and 2 at a time) against the copy in one piece
(`--one-piece`), and a copy killed halfway resumed (only the partitions not yet recorded are
copied again).

Two chDB-backed ClickHouse endpoints (images/chdb-http/chdb_http.py) stand in for source and
destination, as in the tests and the local cluster. The reference is two real curl processes
piped, both on this machine: the source's answer streams into the destination's request. curl
sends `--data-binary @-` (the form ClickHouse's documentation shows) only once it has read all
of its input; `-T -` streams it as it comes (chunked): both are measured, and the faster is the
reference. Each copy is checked on the destination (row count and checksum, as `verify` does).
The endpoint's own figures (a SELECT into /dev/null, an INSERT from a file, each by curl) show
what one side alone can do: the copy can't beat the slower side. The engine's `INSERT … SELECT`
of one table into another inside the destination (no HTTP, no client) is context, not a target.
The naive peer is what a migration script written without thought does: read rows, send one
INSERT per row; it is measured on a sample (it is too slow for the whole table).

Copies are timed over ``--rounds`` interleaved rounds and the best of each is reported: the
machine is shared, and a round another process slowed tells nothing about the copy. Ratios are
against references measured in this run; no absolute figure is a target.

    python -m bench.clickhouse_copy [--rows 2000000] [--rounds 3] [--naive-rows 300]
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
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clickhouse_connect
from pytask.cli import run
from pytask.clickhouse.partitions import Data, Fingerprint, fingerprint, stored_columns

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
SELECT_ALL = "SELECT * FROM bench.events FORMAT Native"
# how the piped curl sends its input: all of it read first (as the docs show), or streamed
UPLOADS = {
    "curl | curl (--data-binary @-)": ["--data-binary", "@-"],
    "curl | curl (-T -, streamed)": ["-X", "POST", "-T", "-"],
}
STAGED = Data.table("bench__polyetl_staging", "events")
REFERENCE = Data.table("bench", "reference")


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


class Curl:
    """curl against one endpoint, its credentials in a config file (-K) of the run's temporary
    directory: never on a command line."""

    def __init__(self, ep: ChdbEndpoint, config: Path) -> None:
        config.write_text(
            f'header = "X-ClickHouse-User: {ep.user}"\nheader = "X-ClickHouse-Key: {ep.password}"\n'
        )
        config.chmod(0o600)
        self.ep, self.config = ep, config

    def argv(self, *args: str, query: str | None = None) -> list[str]:
        url = self.ep.url + "/" + (f"?query={urllib.parse.quote(query)}" if query else "")
        return ["curl", "-sS", "--fail-with-body", "-K", str(self.config), *args, url]


def piped(producer: list[str], consumer: list[str]) -> float:
    """Seconds for ``producer | consumer`` (both checked)."""
    t0 = time.perf_counter()
    first = subprocess.Popen(producer, stdout=subprocess.PIPE)
    assert first.stdout is not None
    second = subprocess.Popen(consumer, stdin=first.stdout, stdout=subprocess.PIPE)
    first.stdout.close()  # the consumer holds the pipe; a failed consumer ends the producer
    out, _ = second.communicate()
    first.wait()
    seconds = time.perf_counter() - t0
    if first.returncode or second.returncode:
        raise RuntimeError(f"curl | curl exited {first.returncode}, {second.returncode}: {out!r}")
    return seconds


def timed(command: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"{command[:3]} exited {done.returncode}: {done.stdout[-500:]!r}")
    return seconds


def checked(dest: Any, data: Data, expected: Fingerprint, columns: Any) -> None:
    """The copy on the destination holds the source's rows: count and checksum."""
    got = fingerprint(dest, data, columns)
    if got != expected:
        raise RuntimeError(f"{data.label()}: expected {expected}, got {got}")


def best(rounds: int, once: Callable[[], float]) -> float:
    return min(once() for _ in range(rounds))


def main() -> None:  # noqa: PLR0915 - one run, printed in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--naive-rows", type=int, default=300)
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp_dir:
        tmp = Path(tmp_dir)
        source_ep, source_proc = start_chdb_endpoint(tmp / "source")
        dest_ep, dest_proc = start_chdb_endpoint(tmp / "dest")
        try:
            source, dest = client(source_ep), client(dest_ep)
            for c in (source, dest):
                c.command("CREATE DATABASE IF NOT EXISTS bench ENGINE = Atomic")
            schema = SCHEMA.format(per=-(-n // PARTITIONS))
            source.command(f"CREATE TABLE bench.events {schema}")
            source.command("INSERT INTO bench.events " + FILL.format(n=n))
            dest.command(f"CREATE TABLE {REFERENCE.sql} {schema}")
            src_curl = Curl(source_ep, tmp / "source.curl")
            dst_curl = Curl(dest_ep, tmp / "dest.curl")
            columns = stored_columns(source, Data.table("bench", "events"))
            expected = fingerprint(source, Data.table("bench", "events"), columns)
            environ = env(source_ep, dest_ep)

            # the endpoint's own figures: one side at a time
            dump = tmp / "events.native"
            timed(src_curl.argv("--data-binary", SELECT_ALL, "-o", str(dump)))
            size = dump.stat().st_size
            select_s = best(
                args.rounds,
                lambda: timed(src_curl.argv("--data-binary", SELECT_ALL, "-o", os.devnull)),
            )

            def insert_from_file() -> float:
                dest.command(f"TRUNCATE TABLE {REFERENCE.sql}")
                return timed(
                    dst_curl.argv(
                        "--data-binary",
                        f"@{dump}",
                        query=f"INSERT INTO {REFERENCE.sql} FORMAT Native",
                    )
                )

            insert_s = best(args.rounds, insert_from_file)
            checked(dest, REFERENCE, expected, columns)

            # interleaved rounds: each reference, then the client copy
            times: dict[str, list[float]] = {label: [] for label in UPLOADS}
            ours: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                for label, upload in UPLOADS.items():
                    dest.command(f"TRUNCATE TABLE {REFERENCE.sql}")
                    times[label].append(
                        piped(
                            src_curl.argv("--data-binary", SELECT_ALL),
                            dst_curl.argv(
                                *upload, query=f"INSERT INTO {REFERENCE.sql} FORMAT Native"
                            ),
                        )
                    )
                    checked(dest, REFERENCE, expected, columns)
                ours.append(timed_copy(environ, "--one-piece"))
                checked(dest, STAGED, expected, columns)
            curl_s = {label: min(t) for label, t in times.items()}
            reference = min(curl_s, key=curl_s.__getitem__)
            whole = min(ours)
            by_part = {k: timed_copy(environ, "--parallel", str(k)) for k in (1, 2)}
            recorded, resume_s, resumed = killed_then_resumed(environ)

            # the engine copying a table it holds into another: no HTTP, no client
            dest.command(f"CREATE TABLE bench.in_engine {schema}")
            t0 = time.perf_counter()
            dest.command(f"INSERT INTO bench.in_engine SELECT * FROM {STAGED.sql}")
            in_engine_s = time.perf_counter() - t0

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

    mb = size / 1e6
    print(
        f"rows copied: {n:,} ({mb:,.1f} MB as Native); best of {args.rounds} rounds "
        f"(naive sample: {args.naive_rows:,} rows)"
    )
    print("\nthe chDB endpoint alone (images/chdb-http), one side at a time, by curl")
    print(f"{'':<52} {'s':>6} {'rows/s':>11} {'MB/s':>7}")
    for label, seconds in (
        ("source: SELECT ... FORMAT Native > /dev/null", select_s),
        ("destination: INSERT ... FORMAT Native < file", insert_s),
        ("destination: engine INSERT ... SELECT (no HTTP)", in_engine_s),
    ):
        print(f"{label:<52} {seconds:>6.2f} {n / seconds:>11,.0f} {mb / seconds:>7.1f}")
    print("\ncopy between the two endpoints, the same table (each checked: count, checksum)")
    print(f"{'method':<52} {'s':>6} {'rows/s':>11} {'MB/s':>7} {'vs ref':>7}")
    ref_s = curl_s[reference]
    for label, seconds in (
        *((f"{k}{' = reference' if k == reference else ''}", v) for k, v in curl_s.items()),
        ("pytask copy --mode client --one-piece", whole[0]),
    ):
        print(
            f"{label:<52} {seconds:>6.2f} {n / seconds:>11,.0f} {mb / seconds:>7.1f} "
            f"{ref_s / seconds:>6.2f}x"
        )
    print(f"{'row-by-row migration (naive peer)':<52} {'':>6} {naive:>11,.0f}")
    print(
        f"pytask copy vs reference: {ref_s / whole[0]:.2f}x   vs naive: "
        f"{n / whole[0] / naive:,.0f}x   vs the engine's INSERT ... SELECT: "
        f"{in_engine_s / whole[0]:.2f}x"
    )
    print(f"\nthe same table, {PARTITIONS} partitions: in one piece vs partition by partition")
    print(f"{'copy':<40} {'copy s':>7} {'rows/s':>10} {'+verify s':>9} {'vs one piece':>12}")
    rows_of = [
        ("one piece (--one-piece)", whole),
        *((f"by partition, {k} at a time (each checked)", t) for k, t in by_part.items()),
    ]
    for label, (copy_s, total_s) in rows_of:
        print(
            f"{label:<40} {copy_s:>7.2f} {n / copy_s:>10,.0f} {total_s:>9.2f} "
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
