"""One visible row per ``(provider, event_id)``, the latest delivery winning — in plain
MergeTree, with no ``FINAL`` and no view a reader must know about.

The events table is partitioned by ``(provider, cityHash64(event_id) % ID_BUCKETS)``
(:mod:`pytask.clickhouse.events`), so every row of an id lives in one partition, whatever its
values. A batch is merged in three steps:

1. **work** (no lock; batches run this concurrently): the batch's rows go into a private
   table ``<table>__work_<batch>`` of the same layout; ids the batch repeats are noted;
2. **conflicts** (under the table's load lock): the batch's ids the table already holds. With
   none (the common case: new events), each touched partition of the work table is attached
   to the table as it is (``ATTACH PARTITION … FROM work``: hard links, atomic per partition);
3. otherwise **next**: the live partitions the batch touches are attached by hard link to
   ``<table>__next_<batch>``; there, for each conflicting id, only the winner stays — the row
   with the greatest ``(arrived_at, source_key, source_line)`` among the live row and the
   batch's rows (losing live rows deleted, winning batch rows inserted, a batch row equal to
   the live one — a re-run — changes nothing); then ``ALTER TABLE … REPLACE PARTITION … FROM
   next`` per partition.

Each attach or replace is atomic: a reader sees the partition before or after, never both rows
of an id, never none. A crash between partitions leaves each partition whole, and the retry
merges the same rows again, which changes nothing where the swap already happened. Ids and
rows are compared as 128-bit SipHash values, so the sets and joins stay fixed-width whatever
the ids look like.

The lock keeps two batches from merging into the same partitions from stale copies: it is a
table ``<table>__load_lock`` (``CREATE TABLE`` is atomic: one creator wins), whose comment
names its owner and when it was taken. A lock left by a crashed try of the *same* batch, or
older than the lease, is broken by an atomic ``RENAME`` (one breaker wins).

Cost per batch: the work insert and the winners are proportional to the batch; the live side
is hard links (metadata per part) plus a lightweight delete that reads the touched
partitions' ``event_id`` through the bloom-filter index: no rewrite of the table's data.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pytask.clickhouse.names import derived, literal, qualified
from pytask.config import quote
from pytask.errors import PermanentError, TransientError

# Which of two rows of an id is the later delivery.
ORDER = "(arrived_at, source_key, source_line)"
# An id, and a row of the batch, as 128-bit hashes: the sets and joins of the merge stay
# fixed-width whatever the ids look like.
IDH = "sipHash128(provider, event_id)"
ROWH = f"sipHash128({IDH}, arrived_at, source_key, source_line)"
# A batch may span every partition of several providers: more than the default 100 per block.
MANY_PARTITIONS = {"max_partitions_per_insert_block": 10_000}
LEASE_SECONDS = 900
LOCK_WAIT_SECONDS = 1800


def batch_digest(manifest_key: str) -> str:
    """A short, stable name for a batch: the same manifest, the same work tables.

    >>> batch_digest("manifests/run-1/batch-0001.json")
    'dc5b65cbfffcbd48'
    """
    return hashlib.sha256(manifest_key.encode()).hexdigest()[:16]


@dataclass
class ObjectCounts:
    """What the merge made of one source object's rows."""

    new: int = 0  # an id the table did not have
    replaced: int = 0  # replaced an earlier delivery's row
    unchanged: int = 0  # the table already held this very row (a re-run)
    superseded: int = 0  # a later delivery of the id is already in the table (or the batch)

    @property
    def rows(self) -> int:
        return self.new + self.replaced + self.unchanged + self.superseded


@dataclass
class MergeReport:
    partitions: int = 0
    objects: dict[str, ObjectCounts] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.objects.values())


class LoadLock:
    """The table's load lock (see the module doc)."""

    def __init__(self, client: Any, database: str, table: str, owner: str, log: Any) -> None:
        self.client = client
        self.database = database
        self.name = derived(table, "load_lock")
        self.target = qualified(database, self.name)
        self.owner = owner
        self.token = uuid.uuid4().hex
        self.log = log

    def _comment(self) -> str:
        since = datetime.now(UTC).isoformat(timespec="milliseconds")
        return json.dumps({"owner": self.owner, "token": self.token, "since": since})

    def _holder(self) -> dict[str, Any] | None:
        rows = self.client.query(
            "SELECT comment, toUnixTimestamp(now()) - toUnixTimestamp(metadata_modification_time)"
            " FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            parameters={"db": self.database, "name": self.name},
        ).result_rows
        if not rows:
            return None
        try:
            holder: dict[str, Any] = json.loads(rows[0][0])
        except ValueError:
            holder = {}
        holder["age"] = int(rows[0][1])
        return holder

    def acquire(self, wait_seconds: float = LOCK_WAIT_SECONDS) -> None:
        deadline = time.monotonic() + wait_seconds
        delay = 0.2
        while True:
            if self._create():
                return
            holder = self._holder()
            if holder is not None and self._stale(holder):
                self._break(holder)
                continue
            if time.monotonic() > deadline:
                raise TransientError(
                    f"expected the load lock {self.target} within {wait_seconds:.0f} s, "
                    f"held by {holder!r}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _create(self) -> bool:
        """Take the lock if it is free: True when this call created it."""
        try:
            self.client.command(
                f"CREATE TABLE {self.target} (owner String) ENGINE = Memory "
                f"COMMENT {literal(self._comment())}"
            )
        except Exception as exc:
            if "TABLE_ALREADY_EXISTS" not in str(exc) and "Code: 57" not in str(exc):
                raise
            return False
        return True

    def _stale(self, holder: dict[str, Any]) -> bool:
        # Our own batch's earlier try died holding it; or the holder outlived any merge.
        return holder.get("owner") == self.owner or holder["age"] > LEASE_SECONDS

    def _break(self, holder: dict[str, Any]) -> None:
        broken = qualified(self.database, derived(self.name, "broken", uuid.uuid4().hex[:8]))
        try:
            self.client.command(f"RENAME TABLE {self.target} TO {broken}")
        except Exception:  # another waiter broke it first, or its holder released it
            return
        self.client.command(f"DROP TABLE IF EXISTS {broken}")
        self.log.warning("stale load lock broken", extra={"lock": self.name, "holder": holder})

    def release(self) -> None:
        holder = self._holder()
        if holder is not None and holder.get("token") == self.token:
            self.client.command(f"DROP TABLE IF EXISTS {self.target}")


@contextmanager
def locked(lock: LoadLock) -> Iterator[None]:
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


@dataclass
class LatestMerge:
    """Merges one batch into the events table (module doc). ``crash`` is the test hook: called
    with a step name after that step, it may end the process as a crash would."""

    client: Any
    database: str
    table: str
    manifest_key: str
    log: Any
    crash: Callable[[str], None] = lambda _step: None

    def __post_init__(self) -> None:
        digest = batch_digest(self.manifest_key)
        self.target = qualified(self.database, self.table)
        self.work = qualified(self.database, derived(self.table, "work", digest))
        self.next = qualified(self.database, derived(self.table, "next", digest))
        self.winners = qualified(self.database, derived(self.table, "winners", digest))
        self.live = qualified(self.database, derived(self.table, "live", digest))
        self.conflicts = qualified(self.database, derived(self.table, "conflicts", digest))
        self.losers = qualified(self.database, derived(self.table, "losers", digest))
        self.take = qualified(self.database, derived(self.table, "take", digest))
        self.helpers = (
            self.work,
            self.next,
            self.winners,
            self.live,
            self.conflicts,
            self.losers,
            self.take,
        )

    def start(self) -> str:
        """An empty work table (a crashed try's is dropped); its quoted name."""
        self._drop(*self.helpers)
        self.client.command(f"CREATE TABLE {self.work} AS {self.target}")
        return self.work

    def finish(self) -> MergeReport:
        """Merge the work table into the live table; the per-object counts."""
        self.crash("work")
        c = self.client
        # Ids the batch itself delivers twice (a re-delivery in the same batch): private, so
        # found before the lock.
        c.command(
            f"CREATE TABLE {self.conflicts} ENGINE = Memory AS SELECT {IDH} AS idh "
            f"FROM {self.work} GROUP BY idh HAVING count() > 1"
        )
        lock = LoadLock(c, self.database, self.table, self.manifest_key, self.log)
        with locked(lock):
            report = self._merge()
        self._drop(*self.helpers)
        return report

    def _merge(self) -> MergeReport:
        c = self.client
        partitions = [
            str(r[0])
            for r in c.query(
                f"SELECT DISTINCT _partition_id FROM {self.work} ORDER BY 1"
            ).result_rows
        ]
        report = MergeReport(partitions=len(partitions))
        if not partitions:
            return report
        touched = f"_partition_id IN ({', '.join(literal(p) for p in partitions)})"
        # The live rows of the batch's ids: with the batch's own repeats, the only ids whose
        # winner must be chosen. Every other batch row is new.
        c.command(
            f"CREATE TABLE {self.live} ENGINE = Memory AS SELECT {IDH} AS idh, {ORDER} AS o "
            f"FROM {self.target} WHERE {touched} AND {IDH} IN (SELECT {IDH} FROM {self.work})"
        )
        c.command(f"INSERT INTO {self.conflicts} SELECT idh FROM {self.live}")
        c.command(
            f"CREATE TABLE {self.winners} ENGINE = Memory AS SELECT idh, max(o) AS o FROM "
            f"(SELECT idh, o FROM {self.live} UNION ALL SELECT {IDH}, {ORDER} FROM {self.work} "
            f"WHERE {IDH} IN (SELECT idh FROM {self.conflicts})) GROUP BY idh"
        )
        conflicting = int(c.command(f"SELECT count() FROM {self.winners}"))
        report.objects = self._counts() if conflicting else self._all_new()
        if not conflicting:
            # Only new ids: each partition's parts are added as they are (hard links), each
            # ATTACH atomic, so a reader never sees part of a partition's new rows.
            for n, partition in enumerate(partitions, 1):
                attach = f"ATTACH PARTITION ID {literal(partition)} FROM {self.work}"
                c.command(f"ALTER TABLE {self.target} {attach}")
                self.crash(f"replace:{n}")
            return report
        self._drop(self.next)
        c.command(f"CREATE TABLE {self.next} AS {self.target}")
        attach = ", ".join(
            f"ATTACH PARTITION ID {literal(p)} FROM {self.target}" for p in partitions
        )
        c.command(f"ALTER TABLE {self.next} {attach}")
        # Live rows that lose to a later delivery (one live row per id), and the batch rows
        # that win and are not already live.
        c.command(
            f"CREATE TABLE {self.losers} ENGINE = Memory AS SELECT idh FROM {self.live} AS l "
            f"INNER JOIN {self.winners} AS w USING (idh) WHERE l.o != w.o"
        )
        c.command(
            f"DELETE FROM {self.next} WHERE {touched} AND {IDH} IN (SELECT idh FROM {self.losers})"
        )
        c.command(
            f"CREATE TABLE {self.take} ENGINE = Memory AS "
            "SELECT sipHash128(w.idh, w.o.1, w.o.2, w.o.3) AS rowh "
            f"FROM {self.winners} AS w LEFT JOIN (SELECT idh, o, 1 AS has FROM {self.live}) AS l "
            "USING (idh) WHERE l.has = 0 OR l.o != w.o",
            settings={"join_use_nulls": 0},
        )
        c.command(
            f"INSERT INTO {self.next} SELECT * FROM {self.work} "
            f"WHERE {IDH} NOT IN (SELECT idh FROM {self.conflicts}) "
            f"OR {ROWH} IN (SELECT rowh FROM {self.take})",
            settings=MANY_PARTITIONS,
        )
        self.crash("next")
        for n, partition in enumerate(partitions, 1):
            replace = f"REPLACE PARTITION ID {literal(partition)} FROM {self.next}"
            c.command(f"ALTER TABLE {self.target} {replace}")
            self.crash(f"replace:{n}")
        return report

    def _all_new(self) -> dict[str, ObjectCounts]:
        """Per source object, when no id conflicts: every row is new."""
        rows = self.client.query(
            f"SELECT source_key, count() FROM {self.work} GROUP BY source_key"
        ).result_rows
        return {str(key): ObjectCounts(new=int(n)) for key, n in rows}

    def _counts(self) -> dict[str, ObjectCounts]:
        """Per source object: rows of ids without a conflict are new; the others are judged
        against their id's winner and live row."""
        rows = self.client.query(
            f"SELECT source_key, countIf(win.has = 0), "
            f"countIf(win.has = 1 AND w.o = win.o AND l.has = 0), "
            f"countIf(win.has = 1 AND w.o = win.o AND l.has = 1 AND l.o != w.o), "
            f"countIf(win.has = 1 AND w.o = win.o AND l.has = 1 AND l.o = w.o), "
            f"countIf(win.has = 1 AND w.o != win.o) "
            f"FROM (SELECT source_key, {IDH} AS idh, {ORDER} AS o FROM {self.work}) AS w "
            f"LEFT JOIN (SELECT idh, o, 1 AS has FROM {self.winners}) AS win USING (idh) "
            f"LEFT JOIN (SELECT idh, o, 1 AS has FROM {self.live}) AS l USING (idh) "
            f"GROUP BY source_key",
            settings={"join_use_nulls": 0},
        ).result_rows
        return {
            str(key): ObjectCounts(int(free) + int(new), int(rep), int(same), int(sup))
            for key, free, new, rep, same, sup in rows
        }

    def _drop(self, *tables: str) -> None:
        for table in tables:
            self.client.command(f"DROP TABLE IF EXISTS {table}")


def check_layout(client: Any, database: str, table: str, partition_key: str) -> None:
    """Refuse an events table without the one-row-per-id layout, naming what is expected."""
    rows = client.query(
        "SELECT partition_key FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows
    got = str(rows[0][0]) if rows else ""
    columns = {
        str(r[0])
        for r in client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            parameters={"db": database, "t": table},
        ).result_rows
    }
    if _normal(got) != _normal(partition_key) or "arrived_at" not in columns:
        raise PermanentError(
            f"expected {quote(database)}.{quote(table)} to be partitioned by {partition_key} "
            "with an arrived_at "
            f"column (the layout that keeps one row per event id; docs/staged-format.md), got: "
            f"partition key {got or 'none'!r}"
            + ("" if "arrived_at" in columns else ", no arrived_at column")
            + "; load into a new table, or move the rows into one (docs/staged-format.md)"
        )


def _normal(expr: str) -> str:
    return "".join(expr.split())
