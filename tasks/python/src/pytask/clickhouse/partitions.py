"""Copying and verifying a table (or a materialized view's data) one partition at a time.

A partitioned MergeTree table is copied as one unit of work per partition
(``system.parts``): the partition's rows move (``WHERE _partition_id = …``), then the copy is
checked by row count and checksum against the source partition and recorded in the staging
database's ``__polyetl_partitions``. A copy that fails or is killed resumes from the
partitions not yet recorded; ``verify`` compares every partition again and names those that
differ (and forgets them, so the next copy redoes exactly those). Unpartitioned tables are
copied in one piece, as before.

Checksums cover every stored column — ``MATERIALIZED`` ones included, which ``SELECT *``
leaves out — as the wrapping sum of each row's ``cityHash64``: independent of row order and
of how rows are split into parts, sensitive to any changed, missing or extra row.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pytask.clickhouse.names import literal, q, qualified
from pytask.config import quote

LEDGER = "__polyetl_verified"  # per table: the fingerprint verify proved (swap trusts it)
PARTS_LEDGER = "__polyetl_partitions"  # per (object, partition): the fingerprint copy proved
RESERVED = frozenset({LEDGER, PARTS_LEDGER})
# A copy inserts rows exactly as stored: MATERIALIZED columns' stored values (not recomputed),
# and no merging on insert (a Replacing/Summing/Aggregating/Collapsing table would otherwise
# fold the copied rows of one block together, and the copy would count fewer rows).
COPY_SETTINGS = {"insert_allow_materialized_columns": 1, "optimize_on_insert": 0}


@dataclass(frozen=True)
class Fingerprint:
    """Row count and an order-independent checksum of some rows."""

    rows: int
    checksum: int

    def __add__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(self.rows + other.rows, (self.checksum + other.checksum) % 2**64)


EMPTY = Fingerprint(0, 0)


@dataclass(frozen=True)
class Data:
    """Where rows live: ``name`` is read from and written to; ``storage`` holds the parts (the
    same table, or the inner table of a materialized view)."""

    database: str
    name: str
    storage: str

    @classmethod
    def table(cls, database: str, name: str) -> Data:
        return cls(database, name, name)

    @property
    def sql(self) -> str:
        return qualified(self.database, self.name)

    @property
    def storage_sql(self) -> str:
        return qualified(self.database, self.storage)

    def label(self) -> str:
        return f"{self.database}.{self.name}"


class Column(NamedTuple):
    name: str
    type: str

    @property
    def hashed(self) -> str:
        """What the checksum hashes of this column: its value — or, for an aggregate function
        state, the value it finalizes to (a state's bytes may differ between two copies that
        hold the same aggregate: a uniq state's hash table, for one)."""
        if self.type.startswith("AggregateFunction("):
            return f"finalizeAggregation({q(self.name)})"
        return q(self.name)


def stored_columns(client: Any, data: Data) -> list[Column]:
    """The columns that hold data, in table order (ALIAS and EPHEMERAL ones hold none)."""
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = {d:String} "
        "AND table = {t:String} AND default_kind NOT IN ('ALIAS', 'EPHEMERAL') ORDER BY position",
        parameters={"d": data.database, "t": data.name},
    ).result_rows
    return [Column(str(name), str(type_)) for name, type_ in rows]


def column_list(columns: Iterable[Column]) -> str:
    """``a, `b c`, …`` — every column quoted.

    >>> column_list([Column("id", "UInt64"), Column("a b", "String")])
    '`id`, `a b`'
    """
    return ", ".join(q(c.name) for c in columns)


def _print_sql(columns: list[Column]) -> str:
    hashed = ", ".join(c.hashed for c in columns)
    return f"count(), sumWithOverflow(cityHash64({hashed}))"


def where(partition: str | None) -> str:
    return "" if partition is None else f" WHERE _partition_id = {literal(partition)}"


def fingerprint(
    client: Any, data: Data, columns: list[Column], partition: str | None = None
) -> Fingerprint:
    """The fingerprint of ``data`` (or of one of its partitions)."""
    rows, checksum = client.query(
        f"SELECT {_print_sql(columns)} FROM {data.sql}{where(partition)}"
    ).result_rows[0]
    return Fingerprint(int(rows), int(checksum or 0))  # an empty table sums to NULL


def row_count(client: Any, data: Data) -> int:
    """``count()``: no scan for a MergeTree table."""
    return int(client.query(f"SELECT count() FROM {data.sql}").result_rows[0][0])


def fingerprints(client: Any, data: Data, columns: list[Column]) -> dict[str, Fingerprint]:
    """Per partition id, in one scan."""
    rows = client.query(
        f"SELECT _partition_id, {_print_sql(columns)} FROM {data.sql} GROUP BY _partition_id"
    ).result_rows
    return {str(p): Fingerprint(int(n), int(c or 0)) for p, n, c in rows}


def total(prints: dict[str, Fingerprint]) -> Fingerprint:
    out = EMPTY
    for each in prints.values():
        out = out + each
    return out


def partition_key(client: Any, data: Data) -> str:
    """The storage's ``PARTITION BY`` expression; empty when it has none (or isn't a
    MergeTree)."""
    rows = client.query(
        "SELECT partition_key FROM system.tables WHERE database = {d:String} AND name = {t:String}",
        parameters={"d": data.database, "t": data.storage},
    ).result_rows
    return str(rows[0][0]) if rows else ""


def partitions(client: Any, data: Data) -> list[str]:
    """The ids of the storage's partitions that hold active parts."""
    rows = client.query(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = {d:String} "
        "AND table = {t:String} AND active ORDER BY partition_id",
        parameters={"d": data.database, "t": data.storage},
    ).result_rows
    return [str(r[0]) for r in rows]


class PartsLedger:
    """``__polyetl_partitions`` in the staging database: which partitions of which object a
    copy proved equal to the source, with the run that copied them. Shared by a copy's
    workers: one query at a time through its client."""

    def __init__(self, client: Any, staging: str) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.table = qualified(staging, PARTS_LEDGER)
        self.client.command(
            f"CREATE TABLE IF NOT EXISTS {self.table} (object String, partition_id String, "
            "rows UInt64, checksum UInt64, run_id String, valid UInt8, "
            "at DateTime64(6) DEFAULT now64(6)) "
            "ENGINE = ReplacingMergeTree(at) ORDER BY (object, partition_id)"
        )

    def verified(self, obj: str) -> dict[str, tuple[Fingerprint, str]]:
        """Per partition id: the recorded fingerprint and the run that copied it."""
        with self.lock:
            rows = self.client.query(
                f"SELECT partition_id, rows, checksum, run_id FROM {self.table} FINAL "
                "WHERE object = {o:String} AND valid",
                parameters={"o": obj},
            ).result_rows
        return {str(p): (Fingerprint(int(n), int(c)), str(r)) for p, n, c, r in rows}

    def record(self, obj: str, partition: str, got: Fingerprint, run_id: str) -> None:
        self._write([(obj, partition, got.rows, got.checksum, run_id, 1)])

    def forget(self, obj: str, partition_ids: Iterable[str]) -> None:
        self._write([(obj, p, 0, 0, "", 0) for p in partition_ids])

    def forget_object(self, obj: str) -> None:
        self.forget(obj, self.verified(obj))

    def _write(self, rows: list[tuple[str, str, int, int, str, int]]) -> None:
        if not rows:
            return
        with self.lock:
            self.client.insert(
                self.table,
                rows,
                column_names=["object", "partition_id", "rows", "checksum", "run_id", "valid"],
            )


@dataclass(frozen=True)
class Transfer:
    """One move of rows: from ``src`` through the ``source`` client to ``dst`` through the
    ``dest`` client, these columns."""

    source: Any
    dest: Any
    src: Data
    dst: Data
    columns: list[Column]


# Moves the rows of one partition (None: all rows).
Mover = Callable[[Transfer, str | None], None]


@dataclass
class CopyReport:
    """What a partition-wise copy did."""

    run_id: str
    copied: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)  # verified by an earlier run: kept
    failed: dict[str, str] = field(default_factory=dict)  # partition id -> why
    unreachable: bool = False  # a failure was the network's: retrying can help
    rows: int = 0


@dataclass
class PartitionCopy:
    """Copy ``source`` into ``dest`` partition by partition, ``parallel`` at a time, resuming
    from the ledger. ``connect_source``/``connect_dest`` give each worker its own clients."""

    connect_source: Callable[[], Any]
    connect_dest: Callable[[], Any]
    move: Mover
    ledger: PartsLedger
    key: str  # the ledger's name for the object
    parallel: int = 2
    # Test hook: end the process as a kill would once this many partitions are recorded.
    crash_after: int | None = None
    _local: threading.local = field(default_factory=threading.local)
    _recorded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _clients(self) -> tuple[Any, Any]:
        if not hasattr(self._local, "clients"):
            self._local.clients = (self.connect_source(), self.connect_dest())
        clients: tuple[Any, Any] = self._local.clients
        return clients

    def run(self, source: Data, dest: Data, columns: list[Column]) -> CopyReport:
        src_client, dst_client = self._clients()
        report = CopyReport(run_id=uuid.uuid4().hex)
        wanted = partitions(src_client, source)
        done = self.ledger.verified(self.key)
        gone = [p for p in done if p not in wanted]
        self.ledger.forget(self.key, gone)
        # Staging partitions no verified copy accounts for: leftovers of a killed run, or of
        # partitions the source no longer has.
        for stray in sorted(set(partitions(dst_client, dest)) - set(done).difference(gone)):
            drop_partition(dst_client, dest, stray)
        todo = [p for p in wanted if p not in done]
        report.resumed = [p for p in wanted if p in done]

        def one(partition: str) -> tuple[str, Fingerprint | None, str]:
            src, dst = self._clients()
            drop_partition(dst, dest, partition)
            try:
                self.move(Transfer(src, dst, source, dest, columns), partition)
            except Exception as exc:  # recorded per partition, reported after all of them
                if _network_failure(exc):
                    report.unreachable = True
                return partition, None, f"{type(exc).__name__}: {exc}"[:500]
            want = fingerprint(src, source, columns, partition)
            got = fingerprint(dst, dest, columns, partition)
            if want != got:
                return (
                    partition,
                    None,
                    (
                        f"source {want.rows} rows, copy {got.rows} rows, checksums "
                        f"{'equal' if want.checksum == got.checksum else 'differ'}"
                    ),
                )
            self.ledger.record(self.key, partition, got, report.run_id)
            self._count_recorded()
            return partition, got, ""

        for partition, got, why in _pool_map(one, todo, self.parallel):
            if got is None:
                report.failed[partition] = why
            else:
                report.copied.append(partition)
                report.rows += got.rows
        report.rows += sum(done[p][0].rows for p in report.resumed)
        return report

    def _count_recorded(self) -> None:
        with self._lock:
            self._recorded += 1
            if self.crash_after is not None and self._recorded >= self.crash_after:
                os._exit(137)


def _network_failure(exc: Exception) -> bool:
    from clickhouse_connect.driver.exceptions import OperationalError  # noqa: PLC0415

    return isinstance(exc, OperationalError)


def _pool_map(
    work: Callable[[str], tuple[str, Fingerprint | None, str]], items: list[str], parallel: int
) -> Iterator[tuple[str, Fingerprint | None, str]]:
    if parallel <= 1 or len(items) <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="copy") as pool:
        yield from pool.map(work, items)


def drop_partition(client: Any, data: Data, partition: str) -> None:
    client.command(f"ALTER TABLE {data.storage_sql} DROP PARTITION ID {literal(partition)}")


def compare_partitions(
    want: dict[str, Fingerprint], got: dict[str, Fingerprint]
) -> list[tuple[str, str]]:
    """The partitions that differ, each with how.

    >>> compare_partitions({"1": Fingerprint(2, 5)}, {"1": Fingerprint(2, 6), "9": EMPTY})
    [('1', 'checksums differ (2 rows each)'), ('9', 'not in the source')]
    """
    out = []
    for partition in sorted(set(want) | set(got)):
        a, b = want.get(partition), got.get(partition)
        if a == b:
            continue
        if b is None:
            out.append((partition, "missing from the copy"))
        elif a is None:
            out.append((partition, "not in the source"))
        elif a.rows != b.rows:
            out.append((partition, f"source {a.rows} rows, copy {b.rows}"))
        else:
            out.append((partition, f"checksums differ ({a.rows} rows each)"))
    return out


@dataclass(frozen=True)
class Comparison:
    """The copy's fingerprint; how it differs from the source (empty when equal) and which
    partitions differ."""

    got: Fingerprint
    problems: list[str]
    partitions: list[str]


def compare(source: Any, dest: Any, src: Data, dst: Data) -> Comparison:
    """Compare a source table with its copy: whole, or partition by partition."""
    columns = stored_columns(source, src)
    if not partition_key(source, src):
        want = fingerprint(source, src, columns)
        got = fingerprint(dest, dst, columns)
        if want == got:
            return Comparison(got, [], [])
        how = "checksums equal" if want.checksum == got.checksum else "checksums differ"
        return Comparison(got, [f"source {want.rows} rows, staging {got.rows} rows, {how}"], [])
    want_parts = fingerprints(source, src, columns)
    got_parts = fingerprints(dest, dst, columns)
    differing = compare_partitions(want_parts, got_parts)
    return Comparison(
        total(got_parts),
        [f"partition {quote(p)}: {how}" for p, how in differing],
        [p for p, _ in differing],
    )
