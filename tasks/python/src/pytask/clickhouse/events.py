"""The events table the S3 ingest pipeline loads, and the staged-object naming it relies on.

The Rust transform writes one Parquet object per raw object (docs/staged-format.md) with the
event columns below; the loader adds where each row came from (`source_key`, `source_etag`),
when that object arrived (`arrived_at`, recorded by discover: the latest delivery of an id
wins) and when it was loaded. One row per ``(provider, event_id)``: every row of an id lives in
one partition (:data:`PARTITION_KEY`), which the loader replaces atomically
(:mod:`pytask.clickhouse.latest`).
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
    ("arrived_at", "DateTime64(3, 'UTC')"),
)
# Buckets of ids per provider: partitions stay few (providers x 16) and each id has one home.
ID_BUCKETS = 16
PARTITION_KEY = f"(provider, cityHash64(event_id) % {ID_BUCKETS})"


def create_table_sql(qualified_table: str) -> str:
    """The events table: MergeTree ordered for per-match, per-time queries, partitioned so
    that each id has one home partition, with a bloom filter to find ids fast."""
    columns = ",\n  ".join(f"`{n}` {t}" for n, t in (*EVENT_COLUMNS, *LOADER_COLUMNS))
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified_table} (\n  {columns},\n"
        "  `loaded_at` DateTime64(3, 'UTC') DEFAULT now64(3),\n"
        "  INDEX event_id_bloom event_id TYPE bloom_filter GRANULARITY 4\n)\n"
        f"ENGINE = MergeTree PARTITION BY {PARTITION_KEY}\n"
        "ORDER BY (provider, match_id, occurred_at, event_id)"
    )


def structure() -> str:
    """The staged objects' columns, as a ClickHouse structure string."""
    return ", ".join(f"{n} {t}" for n, t in EVENT_COLUMNS)


def staged_key(raw_key: str) -> str:
    """Where the transform puts the events of a raw object.

    >>> staged_key("raw/acme/2026/11/23/feed-001.csv.gz")
    'staged/acme/2026/11/23/feed-001.csv.gz.parquet'
    """
    return f"staged/{rest_of(raw_key)}.parquet"


def rest_of(raw_key: str) -> str:
    if not raw_key.startswith("raw/"):
        raise ValueError(f"expected a raw/ key, got: {raw_key!r}")
    return raw_key.removeprefix("raw/")


def sidecar_key(raw_key: str) -> str:
    """Where the transform names why it quarantined a whole object (docs/staged-format.md).

    >>> sidecar_key("raw/acme/x.csv.gz")
    'quarantine/_reasons/acme/x.csv.gz.json'
    """
    return f"quarantine/_reasons/{rest_of(raw_key)}.json"
