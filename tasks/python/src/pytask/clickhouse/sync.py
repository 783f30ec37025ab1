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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pytask.clickhouse.names import q, qualified
from pytask.errors import PermanentError, TransientError

LEDGER = "__polyetl_verified"
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


def literal(value: str) -> str:
    """A ClickHouse string literal.

    >>> print(literal("it's"))
    'it\\'s'
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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

    >>> staging_ddl("CREATE TABLE shop.orders\\n(`id` UInt64)\\nENGINE = MergeTree ORDER BY id",
    ...             "shop", "shop__s", "orders").splitlines()[0]
    'CREATE TABLE `shop__s`.`orders`'
    """
    head = re.compile(
        rf"^CREATE\s+TABLE\s+`?{re.escape(database)}`?\.`?{re.escape(table)}`?(?=[\s(])",
        re.IGNORECASE,
    )
    rewritten, n = head.subn(f"CREATE TABLE {qualified(staging, table)}", create.strip(), count=1)
    if n != 1:
        raise PermanentError(
            f"cannot rewrite the DDL of {database}.{table} for staging: {create[:120]!r}"
        )
    return rewritten


@dataclass(frozen=True)
class Fingerprint:
    """Row count and an order-independent checksum of a table's contents."""

    rows: int
    checksum: int


def row_count(client: Any, database: str, table: str) -> int:
    """``count()`` of a table (cheap: no scan for MergeTree)."""
    return int(client.query(f"SELECT count() FROM {qualified(database, table)}").result_rows[0][0])


def fingerprint(client: Any, database: str, table: str) -> Fingerprint:
    """``count()`` and the wrapping sum of each row's ``cityHash64`` — independent of order and
    of how rows are split into parts, sensitive to any changed, missing or extra row."""
    rows, checksum = client.query(
        f"SELECT count(), sumWithOverflow(cityHash64(*)) FROM {qualified(database, table)}"
    ).result_rows[0]
    return Fingerprint(int(rows), int(checksum or 0))  # an empty table sums to NULL here


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


def stream_native(source: Any, database: str, table: str) -> Iterator[bytes]:
    """The table as a stream of Native-format bytes, as the source sends them (bounded memory)."""
    with source.raw_stream(f"SELECT * FROM {qualified(database, table)}", fmt="Native") as stream:
        yield from stream


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
