"""Sample staged events (docs/staged-format.md), made by the ClickHouse engine itself."""

from __future__ import annotations

STAGED_EVENTS_SQL = (
    "SELECT concat('{provider}-', toString(number + {first})) AS event_id, "
    "'{provider}' AS provider, "
    "concat('m', toString(number % 10)) AS match_id, "
    "['goal', 'card'][number % 2 + 1] AS event_type, "
    "toDateTime64('2026-11-23 12:00:00', 3, 'UTC') + toIntervalMillisecond(number) AS occurred_at, "
    "CAST(if(number % 3 = 0, NULL, 'home') AS Nullable(String)) AS team, "
    "CAST(NULL AS Nullable(String)) AS player, "
    "CAST(if(number % 2 = 0, 1.5, NULL) AS Nullable(Float64)) AS odds_home, "
    "CAST(NULL AS Nullable(Float64)) AS odds_draw, CAST(NULL AS Nullable(Float64)) AS odds_away, "
    "CAST((number + {revision}) % 4 AS Nullable(UInt16)) AS score_home, "
    "CAST({revision} AS Nullable(UInt16)) AS score_away, "
    "toUInt64(number + 2) AS source_line FROM numbers({rows}) FORMAT Parquet"
)


def staged_events_sql(provider: str, rows: int, first: int = 0, revision: int = 0) -> str:
    """A query whose Parquet output is a staged object of `rows` events of `provider`, ids
    `<provider>-<first>` on; `revision` changes the scores (and is `score_away` itself), as a
    provider's corrected re-delivery would."""
    return STAGED_EVENTS_SQL.format(provider=provider, rows=rows, first=first, revision=revision)
