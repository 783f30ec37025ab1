"""The zero-downtime sync, step by step. Every step is idempotent and never touches a live
destination table except through one atomic ``EXCHANGE TABLES`` (or ``RENAME``) per table.

State lives on the destination, in the staging database: its tables (copies in progress or
verified), and ``__polyetl_verified`` — per table, the row count and checksum ``verify``
proved equal to the source. ``swap`` trusts nothing else, which is what makes re-running it
after a crash safe: a staging table is swapped in only if it still holds the verified data,
and a live table that already holds it is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pytask.clickhouse import partitions
from pytask.clickhouse.names import parse_head, q, qualified
from pytask.clickhouse.partitions import LEDGER, Data, Fingerprint
from pytask.config import quote
from pytask.errors import PermanentError, TransientError

# Engines whose DDL can be replayed under another database name without side effects.
COPYABLE_ENGINES = re.compile(
    r"^(?:(?:Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite|Coalescing)?"
    r"MergeTree|Log|TinyLog|StripeLog|Memory|Set|Join)$"
)
REFUSED_REASON = {
    "Replicated": "replicated engines share a ZooKeeper path: a copy of the DDL would join the "
    "original's replica set",
    "Distributed": "a Distributed table holds no data of its own; sync its local tables",
    "Merge": "a Merge table reads other tables by pattern; recreate it after the sync",
    "Buffer": "a Buffer table flushes into another table; sync that table",
}


def refusal(engine: str) -> str | None:
    """Why ``engine`` can't be copied as-is, or None when it can.

    >>> refusal("ReplacingMergeTree") is None, refusal("Kafka")
    (True, 'engine Kafka reads from or writes to an external system; not copied')
    """
    if COPYABLE_ENGINES.match(engine):
        return None
    for prefix, reason in REFUSED_REASON.items():
        if engine.startswith(prefix):
            return reason
    return f"engine {engine} reads from or writes to an external system; not copied"


def staging_ddl(create: str, database: str, staging: str, table: str) -> str:
    """Rewrite ``SHOW CREATE TABLE`` output to create the same table in the staging database.
    The name is parsed out of the statement (any name, quoted or not), never pattern-matched.

    >>> staging_ddl("CREATE TABLE shop.orders (`id` UInt64) ENGINE = Memory",
    ...             "shop", "shop__s", "orders")
    'CREATE TABLE `shop__s`.`orders` (`id` UInt64) ENGINE = Memory'
    """
    try:
        head = parse_head(create)
    except ValueError as exc:
        raise PermanentError(
            f"cannot rewrite the DDL of {quote(database)}.{quote(table)}: {exc}"
        ) from exc
    if (head.kind, head.database, head.name) != ("TABLE", database, table):
        raise PermanentError(
            f"expected the DDL of table {quote(database)}.{quote(table)}, got one of {head.kind} "
            f"{head.database}.{head.name}"
        )
    return head.render(staging, table)


def table_data(client: Any, database: str, table: str) -> Data:
    """Where a table's rows are: its own storage, or a materialized view's inner table."""
    rows = client.query(
        "SELECT engine, toString(uuid) FROM system.tables "
        "WHERE database = {d:String} AND name = {t:String}",
        parameters={"d": database, "t": table},
    ).result_rows
    if rows and rows[0][0] == "MaterializedView":
        inner = inner_table(client, database, table, str(rows[0][1]))
        if inner is not None:
            return Data(database, table, inner)
    return Data.table(database, table)


def inner_table(client: Any, database: str, view: str, view_uuid: str) -> str | None:
    """The inner table of a materialized view without ``TO`` (Atomic: ``.inner_id.<uuid>``,
    Ordinary: ``.inner.<name>``), or None."""
    for name in (f".inner_id.{view_uuid}", f".inner.{view}"):
        if table_exists(client, database, name):
            return name
    return None


def fingerprint(client: Any, database: str, table: str) -> Fingerprint:
    """Row count and checksum over every stored column of a table (or a view's data)."""
    data = table_data(client, database, table)
    return partitions.fingerprint(client, data, partitions.stored_columns(client, data))


def show_create(client: Any, database: str, table: str) -> str:
    """The table's DDL (through query(), which unescapes it; command() returns TSV-escaped text)."""
    return str(client.query(f"SHOW CREATE TABLE {qualified(database, table)}").result_rows[0][0])


def table_exists(client: Any, database: str, table: str) -> bool:
    return bool(
        client.query(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}",
            parameters={"d": database, "t": table},
        ).result_rows[0][0]
    )


def database_engine(client: Any, database: str) -> str | None:
    rows = client.query(
        "SELECT engine FROM system.databases WHERE name = {d:String}", parameters={"d": database}
    ).result_rows
    return str(rows[0][0]) if rows else None


def ensure_atomic_database(client: Any, database: str, role: str) -> None:
    engine = database_engine(client, database)
    if engine is None:
        client.command(f"CREATE DATABASE IF NOT EXISTS {q(database)} ENGINE = Atomic")
    elif engine not in ("Atomic", "Replicated"):
        raise PermanentError(
            f"expected the {role} database {database!r} to use the Atomic engine (EXCHANGE TABLES "
            f"needs it), got: {engine}"
        )


def record_verified(dest: Any, staging: str, prints: Iterable[tuple[str, Fingerprint]]) -> None:
    dest.command(
        f"CREATE TABLE IF NOT EXISTS {qualified(staging, LEDGER)} "
        "(table String, rows UInt64, checksum UInt64) ENGINE = ReplacingMergeTree ORDER BY table"
    )
    data = [(t, p.rows, p.checksum) for t, p in prints]
    if data:
        dest.insert(f"{q(staging)}.{q(LEDGER)}", data, column_names=["table", "rows", "checksum"])


def verified(dest: Any, staging: str) -> dict[str, Fingerprint]:
    if not table_exists(dest, staging, LEDGER):
        return {}
    rows = dest.query(
        f"SELECT table, rows, checksum FROM {qualified(staging, LEDGER)} FINAL"
    ).result_rows
    return {str(t): Fingerprint(int(r), int(c)) for t, r, c in rows}


def classify(exc: Exception, what: str) -> Exception:
    """A clickhouse-connect failure as the contract's kind: network trouble is transient."""
    from clickhouse_connect.driver.exceptions import OperationalError  # noqa: PLC0415

    if isinstance(exc, OperationalError):
        return TransientError(f"{what}: the server did not answer")
    return PermanentError(f"{what}: {exc}")
