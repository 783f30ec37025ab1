"""Which format should staged (normalised) events have? ClickHouse's ingest speed and the size
of the same 1 M events in each candidate format, measured in this run with the real engine
(chDB, in-process): `INSERT INTO t SELECT * FROM file(path, fmt, structure[, compression])`,
best of 3. The Rust transform writes the winner; `pytask load` ingests it.

    python -m bench.staged_format [--rows 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from chdb import session as chdb_session

COLUMNS = (
    "event_id String, provider LowCardinality(String), source_key String, line UInt32, "
    "match_id String, event_type LowCardinality(String), occurred_at DateTime64(3, 'UTC'), "
    "team Nullable(String), player Nullable(String), odds_home Nullable(Float64), "
    "odds_away Nullable(Float64), score_home Nullable(UInt16), score_away Nullable(UInt16)"
)
FILL = (
    "SELECT concat('ev-', toString(number)), ['acme','betco','cobra'][number % 3 + 1], "
    "'raw/acme/2026/file.csv', number % 100000, concat('m', toString(number % 5000)), "
    "['goal','card','odds','start'][number % 4 + 1], "
    "toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(number * 37), "
    "if(number % 7 = 0, NULL, concat('team', toString(number % 40))), "
    "if(number % 3 = 0, NULL, concat('p', toString(number % 900))), "
    "if(number % 4 = 2, 1.5 + (number % 10) / 10, NULL), if(number % 4 = 2, 2.5, NULL), "
    "if(number % 4 = 0, number % 5, NULL), if(number % 4 = 0, number % 3, NULL) FROM numbers({n})"
)
CANDIDATES = [
    ("Parquet", None),
    ("Native", None),
    ("Native", "zstd"),
    ("RowBinary", None),
    ("CSV", None),
    ("JSONEachRow", None),
    ("JSONEachRow", "zstd"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    structure = COLUMNS.replace("'", "\\'")
    with tempfile.TemporaryDirectory(prefix="bench-format-") as tmp:
        s = chdb_session.Session(str(Path(tmp) / "db"))  # type: ignore[no-untyped-call]

        def q(sql: str) -> None:
            s.query(sql, "TabSeparated")  # type: ignore[no-untyped-call]

        q(f"CREATE TABLE default.src ({COLUMNS}) ENGINE = MergeTree ORDER BY event_id")
        q("INSERT INTO default.src " + FILL.format(n=args.rows))
        q(f"CREATE TABLE default.dst ({COLUMNS}) ENGINE = MergeTree ORDER BY event_id")
        print(f"{args.rows:,} events; ingest = INSERT … SELECT FROM file(), best of 3")
        print(f"{'format':<18} {'MB':>8} {'M rows/s':>9}")
        for fmt, compression in CANDIDATES:
            path = Path(tmp) / f"data.{fmt}{'.' + compression if compression else ''}"
            comp_out = f" COMPRESSION '{compression}'" if compression else ""
            q(f"SELECT * FROM default.src INTO OUTFILE '{path}'{comp_out} FORMAT {fmt}")
            comp_in = f", '{compression}'" if compression else ""
            best = float("inf")
            for _ in range(3):
                q("TRUNCATE TABLE default.dst")
                source = f"file('{path}', '{fmt}', '{structure}'{comp_in})"
                t0 = time.perf_counter()
                q(f"INSERT INTO default.dst SELECT * FROM {source}")
                best = min(best, time.perf_counter() - t0)
            label = fmt + (f"+{compression}" if compression else "")
            print(f"{label:<18} {path.stat().st_size / 1e6:>8.1f} {args.rows / best / 1e6:>9.2f}")


if __name__ == "__main__":
    main()
