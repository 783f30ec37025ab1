"""What a database holds, read from ``system.tables``, and what the sync does with each kind.

* **Tables** are copied (``prepare`` … ``swap``).
* **Views, materialized views and dictionaries** are recreated on the destination by the
  ``views`` step, after the tables are in place, in dependency order (a view over a view after
  it, a ``TO`` materialized view after its target); a materialized view without ``TO`` brings
  its data (its inner table) with it. See :mod:`pytask.commands.views`.
* Listed, not recreated, each with its reason: a dictionary whose source is not a table of the
  same database, or whose DDL shows ``[HIDDEN]`` credentials (the server never reveals them,
  so the DDL can't be replayed); live and window views (experimental features).
* The inner tables of materialized views go with their view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytask.clickhouse.names import mentions

RECREATED_ENGINES = ("View", "MaterializedView", "Dictionary")
NOT_RECREATED = {
    "LiveView": "live view (experimental): not recreated",
    "WindowView": "window view (experimental): not recreated",
}
INNER_PREFIXES = (".inner.", ".inner_id.")


@dataclass(frozen=True)
class DbObject:
    """One row of ``system.tables``: a table, a view, a materialized view or a dictionary."""

    name: str
    engine: str
    rows: int
    bytes: int
    uuid: str
    ddl: str  # create_table_query: one line, every table reference qualified
    loads_from: tuple[tuple[str, str], ...] = ()  # a dictionary's source tables (database, name)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "engine": self.engine, "rows": self.rows, "bytes": self.bytes}

    @property
    def is_inner(self) -> bool:
        return self.name.startswith(INNER_PREFIXES)

    @property
    def recreated(self) -> bool:
        return self.engine in RECREATED_ENGINES

    def kind(self, inner_tables: Iterable[str] = ()) -> str:
        """``table``, ``view``, ``dictionary``, ``materialized view (TO)`` or
        ``materialized view (inner)``."""
        if self.engine == "MaterializedView":
            inner = {f".inner_id.{self.uuid}", f".inner.{self.name}"} & set(inner_tables)
            return "materialized view (inner)" if inner else "materialized view (TO)"
        return {"View": "view", "Dictionary": "dictionary"}.get(self.engine, "table")

    def not_recreated(self, database: str) -> str | None:
        """Why this view-like object is listed but not recreated, or None."""
        if self.engine in NOT_RECREATED:
            return NOT_RECREATED[self.engine]
        if self.engine != "Dictionary":
            return None
        if "[HIDDEN]" in self.ddl:
            return "dictionary: its DDL shows [HIDDEN] credentials; recreate it by hand"
        if not self.loads_from or any(db != database for db, _ in self.loads_from):
            return "dictionary: its source is not a table of this database; recreate it by hand"
        return None


def list_objects(client: Any, database: str) -> list[DbObject]:
    """Every table-like object of ``database`` in name order."""
    result = client.query(
        "SELECT name, engine, toUInt64(ifNull(total_rows, 0)), toUInt64(ifNull(total_bytes, 0)), "
        "toString(uuid), create_table_query, "
        "arrayZip(loading_dependencies_database, loading_dependencies_table) "
        "FROM system.tables WHERE database = {db:String} AND NOT is_temporary ORDER BY name",
        parameters={"db": database},
    )
    return [
        DbObject(
            str(name),
            str(engine),
            int(rows),
            int(size),
            str(uuid),
            str(ddl),
            tuple((str(d), str(t)) for d, t in loads),
        )
        for name, engine, rows, size, uuid, ddl, loads in result.result_rows
    ]


def database_exists(client: Any, database: str) -> bool:
    result = client.query(
        "SELECT count() FROM system.databases WHERE name = {db:String}", parameters={"db": database}
    )
    return bool(result.result_rows[0][0])


def dependency_order(objects: list[DbObject], database: str) -> list[DbObject]:
    """``objects`` ordered so each comes after the others of the list it reads from (a view
    over a view after it; a dictionary after its source; a ``TO`` view after its target when
    that is in the list). Ties keep name order; a cycle (only possible through a name
    mentioned in a string literal) keeps name order for its members.

    >>> a = DbObject("a", "View", 0, 0, "", "CREATE VIEW d.a AS SELECT * FROM d.b")
    >>> b = DbObject("b", "View", 0, 0, "", "CREATE VIEW d.b AS SELECT 1")
    >>> [o.name for o in dependency_order([a, b], "d")]
    ['b', 'a']
    """
    by_name = {o.name: o for o in objects}
    needs = {
        o.name: {
            other
            for other in by_name
            if other != o.name
            and (mentions(o.ddl, database, other) or (database, other) in o.loads_from)
        }
        for o in objects
    }
    ordered: list[DbObject] = []
    placed: set[str] = set()
    pending = sorted(by_name)
    while pending:
        ready = [n for n in pending if needs[n] <= placed] or pending[:1]
        for name in ready:
            ordered.append(by_name[name])
            placed.add(name)
        pending = [n for n in pending if n not in placed]
    return ordered
