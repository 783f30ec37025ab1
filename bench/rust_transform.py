"""How fast is the Rust transform (`rstask transform`) against DuckDB doing the same
normalisation, and against merely reading (or decompressing) the same bytes? All measured in
this run, on the same local files, best of `--repeat`.

For acme (CSV, UK local times, fractional odds) and betco (nested NDJSON, epoch millis), plain
and gzip, a feed of about `--mb` MB (uncompressed) is written by `rstask generate` with a small
mix of bad rows, then:

* rstask: `rstask transform --input-file F --provider P --output-file OUT.parquet` (local mode:
  the same streaming reader → parser → mapping → Parquet writer as the S3 path, plus the
  quarantine NDJSON); its max RSS is read with /usr/bin/time (else wait4());
* DuckDB: the same normalisation in SQL (below, per provider): read_csv / read_json with the
  mapping's columns, timestamps parsed (acme: Europe/London local time → UTC), fractional odds
  → decimal, event types mapped with CASE, event_id composed, bad rows filtered, duplicate ids
  dropped (first wins), input order kept, Parquet + zstd out. DuckDB writes no quarantine
  file: it only filters, so it does less work than rstask. Its rows out match rstask's but
  for acme's `bad_quoting` rows, which DuckDB's CSV reader accepts (a stray quote inside an
  unquoted field) and rstask quarantines;
* raw: Python reading the file in 1 MiB chunks, or zlib-decompressing it streaming;
* lines: the same, plus splitting the text into lines (Python's C line iterator over the
  file, or over a buffered gzip stream) — the least any line-oriented transform must do.
  Added because "raw" for a plain file is a page-cache read (~15 GB/s), a figure no parser
  approaches; "raw" is still printed and its ratio reported unchanged. Note that
  `lines` for gzip is Python's `gzip` module (zlib, plus a buffer layer), a little slower
  than the bare `zlib` loop of "raw".

MB/s are of the input file's bytes (compressed for gzip) and of the uncompressed text.
`--peak-mb 1024` also transforms a 1 GB acme CSV once and reports rstask's max RSS.

The binary is `$CARGO_TARGET_DIR/release/rstask` (default `$POLYETL_CACHE/cargo-target`, i.e.
`~/.cache/polyetl/cargo-target`), built with `cargo build --release --locked` in tasks/rust
when missing (`--rebuild` to always run cargo, which is a no-op when up to date).

    python -m bench.rust_transform [--mb 200] [--repeat 2] [--peak-mb 1024] [--rebuild]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import duckdb

REPO = Path(__file__).resolve().parent.parent
RUST = REPO / "tasks" / "rust"
CHUNK = 1 << 20
TIME = Path("/usr/bin/time")

# A small mix of bad rows, every kind that exists in the provider's format.
COMMON_BAD = (
    "wrong_type=0.002,missing_field=0.002,timestamp_out_of_range=0.002,"
    "duplicate_key=0.002,unknown_enum=0.002,invalid_utf8=0.001"
)
BAD = {
    "acme": COMMON_BAD + ",bad_quoting=0.001,wrong_field_count=0.001",
    "betco": COMMON_BAD + ",bad_json=0.001",
}
SUFFIX = {"acme": "csv", "betco": "ndjson"}
T = TypeVar("T")

# The mapping's window (mappings' default valid_from / valid_until), epoch ms.
VALID_FROM_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
VALID_UNTIL_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z

# Fractional odds like rstask's (`n/d` → 1 + n/d, evens → 2.0); NULL when not odds.
FRACTIONAL = """
CREATE OR REPLACE MACRO frac(p) AS CASE
  WHEN lower(trim(p)) IN ('evens', 'evs', 'even') THEN 2.0
  ELSE 1 + try_cast(trim(split_part(p, '/', 1)) AS UINTEGER)::DOUBLE
         / nullif(try_cast(trim(split_part(p, '/', 2)) AS UINTEGER), 0)
         + CASE WHEN len(string_split(p, '/')) = 2 THEN 0 END
END
"""

# acme: mappings/acme.toml in SQL.
ACME_SQL = """
COPY (
  WITH src AS (
    SELECT *, row_number() OVER () AS source_line
    FROM read_csv('{input}', header = true, delim = ',', quote = '"', escape = '"',
                  all_varchar = true, ignore_errors = true,
                  columns = {{'seq': 'VARCHAR', 'fixture': 'VARCHAR', 'event': 'VARCHAR',
                             'time_local': 'VARCHAR', 'team': 'VARCHAR', 'player': 'VARCHAR',
                             'price_home': 'VARCHAR', 'price_draw': 'VARCHAR',
                             'price_away': 'VARCHAR', 'goals_home': 'VARCHAR',
                             'goals_away': 'VARCHAR'}})
  ), typed AS (
    SELECT
      'acme-' || fixture || '-' || seq AS event_id,
      'acme' AS provider,
      fixture AS match_id,
      CASE upper(event)
        WHEN 'KO' THEN 'kickoff' WHEN 'GOAL' THEN 'goal' WHEN 'PEN' THEN 'penalty'
        WHEN 'YC' THEN 'card' WHEN 'RC' THEN 'card' WHEN 'SUB' THEN 'substitution'
        WHEN 'PRICE' THEN 'odds' WHEN 'HT' THEN 'half_time' WHEN 'FT' THEN 'full_time'
      END AS event_type,
      timezone('Europe/London', try_strptime(time_local, '%d/%m/%Y %H:%M:%S')) AS occurred_at,
      team, player,
      price_home, price_draw, price_away, goals_home, goals_away,
      frac(price_home) AS odds_home, frac(price_draw) AS odds_draw,
      frac(price_away) AS odds_away,
      try_cast(trim(goals_home) AS USMALLINT) AS score_home,
      try_cast(trim(goals_away) AS USMALLINT) AS score_away,
      source_line
    FROM src
    WHERE fixture IS NOT NULL AND seq IS NOT NULL
  )
  SELECT event_id, provider, match_id, event_type, occurred_at, team, player,
         odds_home, odds_draw, odds_away, score_home, score_away,
         source_line::UBIGINT AS source_line
  FROM typed
  WHERE event_type IS NOT NULL AND occurred_at IS NOT NULL
    AND epoch_ms(occurred_at) >= {valid_from} AND epoch_ms(occurred_at) < {valid_until}
    AND (price_home IS NULL OR odds_home >= 1) AND (price_draw IS NULL OR odds_draw >= 1)
    AND (price_away IS NULL OR odds_away >= 1)
    AND (goals_home IS NULL OR score_home IS NOT NULL)
    AND (goals_away IS NULL OR score_away IS NOT NULL)
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_line) = 1
  ORDER BY source_line
) TO '{output}' (FORMAT parquet, COMPRESSION zstd)
"""

# betco: mappings/betco.toml in SQL (scalars read as text, then typed, as rstask does).
BETCO_SQL = """
COPY (
  WITH src AS (
    SELECT *, row_number() OVER () AS source_line
    FROM read_json('{input}', format = 'newline_delimited', ignore_errors = true,
                   columns = {{'fixture': 'STRUCT(id VARCHAR)', 'kind': 'VARCHAR',
                              'ts': 'VARCHAR', 'side': 'STRUCT(name VARCHAR)',
                              'actor': 'STRUCT(name VARCHAR)',
                              'market': 'STRUCT(prices STRUCT(home VARCHAR, draw VARCHAR,
                                                              away VARCHAR))',
                              'score': 'STRUCT(home VARCHAR, away VARCHAR)',
                              'id': 'VARCHAR'}})
  ), typed AS (
    SELECT
      'betco:' || id AS event_id,
      'betco' AS provider,
      fixture.id AS match_id,
      CASE kind
        WHEN 'kick_off' THEN 'kickoff' WHEN 'goal' THEN 'goal' WHEN 'penalty' THEN 'penalty'
        WHEN 'booking' THEN 'card' WHEN 'substitution' THEN 'substitution'
        WHEN 'price_change' THEN 'odds' WHEN 'half_time' THEN 'half_time'
        WHEN 'full_time' THEN 'full_time'
      END AS event_type,
      try_cast(ts AS BIGINT) AS ts_ms,
      side.name AS team, actor.name AS player,
      market.prices.home AS price_home, market.prices.draw AS price_draw,
      market.prices.away AS price_away,
      try_cast(market.prices.home AS DOUBLE) AS odds_home,
      try_cast(market.prices.draw AS DOUBLE) AS odds_draw,
      try_cast(market.prices.away AS DOUBLE) AS odds_away,
      score.home AS goals_home, score.away AS goals_away,
      try_cast(score.home AS USMALLINT) AS score_home,
      try_cast(score.away AS USMALLINT) AS score_away,
      source_line
    FROM src
    WHERE id IS NOT NULL AND fixture.id IS NOT NULL AND fixture.id <> ''
  )
  SELECT event_id, provider, match_id, event_type, epoch_ms(ts_ms) AS occurred_at, team,
         player, odds_home, odds_draw, odds_away, score_home, score_away,
         source_line::UBIGINT AS source_line
  FROM typed
  WHERE event_type IS NOT NULL AND ts_ms >= {valid_from} AND ts_ms < {valid_until}
    AND (price_home IS NULL OR odds_home >= 1) AND (price_draw IS NULL OR odds_draw >= 1)
    AND (price_away IS NULL OR odds_away >= 1)
    AND (goals_home IS NULL OR score_home IS NOT NULL)
    AND (goals_away IS NULL OR score_away IS NOT NULL)
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_line) = 1
  ORDER BY source_line
) TO '{output}' (FORMAT parquet, COMPRESSION zstd)
"""
SQL = {"acme": ACME_SQL, "betco": BETCO_SQL}


@dataclass
class Feed:
    provider: str
    gzip: bool
    path: Path
    text_bytes: int
    rows: int


def target_dir() -> Path:
    if env := os.environ.get("CARGO_TARGET_DIR"):
        return Path(env)
    cache = os.environ.get("POLYETL_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polyetl"
    )
    return Path(cache) / "cargo-target"


def rstask_binary(rebuild: bool) -> Path:
    binary = target_dir() / "release" / "rstask"
    if rebuild or not binary.exists():
        print(f"building {binary} (cargo build --release --locked) …", flush=True)
        env = {**os.environ, "CARGO_TARGET_DIR": str(target_dir())}
        cargo = ["cargo", "build", "--release", "--locked", "-q"]
        subprocess.run(cargo, cwd=RUST, env=env, check=True)
    return binary


def run_rstask(binary: Path, args: list[str], result: Path) -> tuple[dict[str, object], int]:
    """Runs rstask; returns its result and its max RSS in KiB.

    The RSS comes from `/usr/bin/time -f %M` when it exists: a child forked straight from
    this process would count this process's own memory (DuckDB loaded) up to the exec.
    """
    rss_file = result.with_suffix(".rss")
    timer = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] if TIME.exists() else []
    with subprocess.Popen(
        [*timer, str(binary), *args, "--result-file", str(result)], stderr=subprocess.PIPE
    ) as proc:
        stderr = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"rstask {args[0]} exited {proc.returncode}: {stderr.decode()}")
    loaded: dict[str, object] = json.loads(result.read_text())
    maxrss = int(rss_file.read_text().split()[-1]) if timer else usage.ru_maxrss
    return loaded, maxrss


def counts(result: dict[str, object]) -> dict[str, int]:
    got = result["counts"]
    assert isinstance(got, dict)
    return {str(k): int(v) for k, v in got.items()}


def generate(binary: Path, tmp: Path, provider: str, mb: float, gzip: bool) -> Feed:
    """A feed of about `mb` MB uncompressed (rows estimated from a 20,000-row sample)."""
    name = f"{provider}-{mb:g}mb.{SUFFIX[provider]}" + (".gz" if gzip else "")
    path = tmp / name
    common = ["--provider", provider, "--seed", "7", "--bad", BAD[provider]]
    sample, _ = run_rstask(
        binary,
        ["generate", *common, "--rows", "20000", "--output", str(tmp / "sample")],
        tmp / "gen.json",
    )
    rows = max(1, int(mb * 1e6 / (counts(sample)["bytes"] / 20_000)))
    args = ["generate", *common, "--rows", str(rows), "--output", str(path)]
    result, _ = run_rstask(binary, args + (["--gzip"] if gzip else []), tmp / "gen.json")
    return Feed(provider, gzip, path, counts(result)["bytes"], rows)


def best(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The shortest of `repeat` runs, and what the last run returned."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = run()
        times.append(time.perf_counter() - t0)
    return min(times), got


def raw_read(feed: Feed) -> None:
    with feed.path.open("rb") as f:
        if feed.gzip:
            d = zlib.decompressobj(wbits=31)
            while chunk := f.read(CHUNK):
                d.decompress(chunk)
            d.flush()
        else:
            while f.read(CHUNK):
                pass


def lines_read(feed: Feed) -> None:
    opener = gzip.open if feed.gzip else open
    with opener(feed.path, "rb") as f:
        for _ in f:
            pass


def rstask_transform(binary: Path, feed: Feed, out: Path) -> tuple[int, int]:
    """Local mode on the feed; returns rows out and max RSS (KiB)."""
    args = ["transform", "--input-file", str(feed.path), "--provider", feed.provider]
    result, maxrss = run_rstask(
        binary, [*args, "--output-file", str(out)], out.with_suffix(".json")
    )
    c = counts(result)
    assert c["rows_in"] == c["rows_out"] + c["rows_quarantined"]
    return c["rows_out"], maxrss


def duckdb_transform(feed: Feed, output: Path) -> int:
    con = duckdb.connect()
    try:
        con.execute(FRACTIONAL)
        sql = SQL[feed.provider].format(
            input=feed.path,
            output=output,
            valid_from=VALID_FROM_MS,
            valid_until=VALID_UNTIL_MS,
        )
        con.execute(sql)
        row = con.execute(f"SELECT count(*) FROM read_parquet('{output}')").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=200, help="uncompressed feed size, MB")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    parser.add_argument("--peak-mb", type=float, default=0, help="also: max RSS on this size")
    parser.add_argument("--rebuild", action="store_true", help="always run cargo build")
    args = parser.parse_args()
    binary = rstask_binary(args.rebuild)
    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
    print(
        f"rstask {binary}; DuckDB {duckdb.__version__} ({threads[0] if threads else '?'} threads);"
        f" {os.cpu_count()} CPUs; best of {args.repeat}; MB = 10^6 bytes"
    )
    header = (
        f"{'feed':<14} {'file MB':>8} {'text MB':>8} {'M rows':>7}  "
        f"{'what':<8} {'s':>6} {'file MB/s':>9} {'text MB/s':>9} {'rows out':>10} {'RSS MB':>7}"
    )
    print(header)
    ratios: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-rstask-") as tmp_name:
        tmp = Path(tmp_name)
        for provider in ("acme", "betco"):
            for gzip in (False, True):
                feed = generate(binary, tmp, provider, args.mb, gzip)
                label = f"{provider} {'gzip' if gzip else 'plain'}"
                size = feed.path.stat().st_size
                out = tmp / "out.parquet"
                t_rs, (rows_out, rss) = best(
                    args.repeat, partial(rstask_transform, binary, feed, out)
                )
                t_dk, duck_rows = best(
                    args.repeat, partial(duckdb_transform, feed, tmp / "duck.parquet")
                )
                t_raw, _ = best(args.repeat, partial(raw_read, feed))
                t_lines, _ = best(args.repeat, partial(lines_read, feed))
                for what, secs, rows, mem in (
                    ("rstask", t_rs, rows_out, f"{rss / 1024:.0f}"),
                    ("duckdb", t_dk, duck_rows, ""),
                    ("raw", t_raw, 0, ""),
                    ("lines", t_lines, 0, ""),
                ):
                    print(
                        f"{label:<14} {size / 1e6:>8.1f} {feed.text_bytes / 1e6:>8.1f} "
                        f"{feed.rows / 1e6:>7.2f}  {what:<8} {secs:>6.2f} "
                        f"{size / secs / 1e6:>9.1f} {feed.text_bytes / secs / 1e6:>9.1f} "
                        f"{rows or '':>10} {mem:>7}",
                        flush=True,
                    )
                ratios.append(
                    f"{label:<14} rstask/duckdb {t_dk / t_rs:6.2f}x"
                    f"   rstask/raw {t_raw / t_rs:6.3f}x"
                    f"   rstask/lines {t_lines / t_rs:6.3f}x"
                )
                feed.path.unlink()
        print(
            "throughput ratios (higher = rstask faster; raw = read or gunzip only;"
            " lines = that plus line splitting):"
        )
        for line in ratios:
            print("  " + line)
        if args.peak_mb:
            feed = generate(binary, tmp, "acme", args.peak_mb, gzip=False)
            t0 = time.perf_counter()
            run_args = ["transform", "--input-file", str(feed.path), "--provider", "acme"]
            result, maxrss = run_rstask(
                binary, [*run_args, "--output-file", str(tmp / "peak.parquet")], tmp / "p.json"
            )
            secs = time.perf_counter() - t0
            size = feed.path.stat().st_size
            print(
                f"peak memory: acme plain {size / 1e6:.0f} MB ({counts(result)['rows_in']:,} rows)"
                f" in {secs:.1f} s ({size / secs / 1e6:.0f} MB/s): rstask max RSS"
                f" {maxrss / 1024:.0f} MB"
            )


if __name__ == "__main__":
    main()
