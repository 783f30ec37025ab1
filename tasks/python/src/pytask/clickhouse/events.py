"""The events table the S3 ingest pipeline loads, and the staged-object naming it relies on.

The Rust transform writes one Parquet object per raw object (docs/staged-format.md) with the
event columns below; the loader adds where each row came from (`source_key`, `source_etag`)
and when it was loaded.
"""

from __future__ import annotations

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "String"),
    ("provider", "LowCardinality(String)"),
    ("match_id", "String"),
    ("event_type", "LowCardinality(String)"),
    ("occurred_at", "DateTime64(3, 'UTC')"),
    ("team", "Nullable(String)"),
    ("player", "Nullable(String)"),
    ("odds_home", "Nullable(Float64)"),
    ("odds_draw", "Nullable(Float64)"),
    ("odds_away", "Nullable(Float64)"),
    ("score_home", "Nullable(UInt16)"),
    ("score_away", "Nullable(UInt16)"),
    ("source_line", "UInt64"),
)
LOADER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_key", "String"),
    ("source_etag", "String"),
)


def create_table_sql(qualified_table: str) -> str:
    """The events table: MergeTree ordered for per-match, per-time queries."""
    columns = ",\n  ".join(f"`{n}` {t}" for n, t in (*EVENT_COLUMNS, *LOADER_COLUMNS))
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified_table} (\n  {columns},\n"
        "  `loaded_at` DateTime64(3, 'UTC') DEFAULT now64(3)\n)\n"
        "ENGINE = MergeTree ORDER BY (provider, match_id, occurred_at, event_id)"
    )


def structure() -> str:
    """The staged objects' columns, as a ClickHouse structure string."""
    return ", ".join(f"{n} {t}" for n, t in EVENT_COLUMNS)


def staged_key(raw_key: str) -> str:
    """Where the transform puts the events of a raw object.

    >>> staged_key("raw/acme/2026/11/23/feed-001.csv.gz")
    'staged/acme/2026/11/23/feed-001.csv.gz.parquet'
    """
    if not raw_key.startswith("raw/"):
        raise ValueError(f"expected a raw/ key, got: {raw_key!r}")
    return f"staged/{raw_key.removeprefix('raw/')}.parquet"
