"""What a database holds, read from ``system.tables``, and what the sync does with each kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Views and materialized views are skipped: a view's definition names other tables (maybe in
# other databases) and would be created before those exist in the destination; a
# materialized view would also insert into its target while the copy runs, duplicating rows.
# Dictionaries are skipped: they read from an external source of their own. Each skip is
# listed in the plan with its reason, so nothing is dropped silently.
SKIPPED_ENGINES = {
    "View": "view: its definition refers to other tables; recreate views after the sync",
    "MaterializedView": "materialized view: would insert into its target while tables copy",
    "LiveView": "live view: not copied",
    "WindowView": "window view: not copied",
    "Dictionary": "dictionary: reads from its own external source; not copied",
}


@dataclass(frozen=True)
class Table:
    name: str
    engine: str
    rows: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "engine": self.engine, "rows": self.rows, "bytes": self.bytes}


def list_tables(client: Any, database: str) -> list[Table]:
    """Every table-like object of ``database`` in name order (dictionaries included)."""
    result = client.query(
        "SELECT name, engine, toUInt64(ifNull(total_rows, 0)), toUInt64(ifNull(total_bytes, 0)) "
        "FROM system.tables WHERE database = {db:String} AND NOT is_temporary ORDER BY name",
        parameters={"db": database},
    )
    return [
        Table(name, engine, int(rows), int(size)) for name, engine, rows, size in result.result_rows
    ]


def database_exists(client: Any, database: str) -> bool:
    result = client.query(
        "SELECT count() FROM system.databases WHERE name = {db:String}", parameters={"db": database}
    )
    return bool(result.result_rows[0][0])
