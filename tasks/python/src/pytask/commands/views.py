"""Recreate the planned views, materialized views and dictionaries on the destination.

Runs after ``swap``, when the tables they read are in place, in dependency order (a view over
a view after it, a ``TO`` materialized view after its target, a dictionary after its source).
Readers of the destination never see one missing: nothing live is dropped and then created.

* same DDL on the destination (and, for a materialized view with an inner table, the same
  data) → kept: a second sync changes nothing;
* a view, a dictionary, a ``TO`` materialized view → ``CREATE OR REPLACE`` (one atomic step
  in an Atomic database);
* a materialized view with an inner table → a new one beside it, ``<name>__polyetl_new``, with
  the same definition; its data copied from the source view's, partition by partition when
  partitioned (resumable, each partition verified: pytask.clickhouse.partitions), then checked
  whole; then ``EXCHANGE TABLES`` with the live one (``RENAME`` the first time) and the old one
  dropped. A new view inserts only what is inserted into its source tables on the destination
  while it exists — never the copy, which writes its inner table directly.

An object that fails doesn't stop the others; those that read it are not attempted; the step
then fails naming each with its reason.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytask import ENV_PREFIX
from pytask.clickhouse import partitions, sync
from pytask.clickhouse.args import SyncStep, add_list_argument, add_sync_arguments, name_list
from pytask.clickhouse.catalog import DbObject, dependency_order, list_objects
from pytask.clickhouse.names import derived, mentions, parse_head, qualified, shown
from pytask.clickhouse.partitions import PartitionCopy, PartsLedger, Transfer
from pytask.commands.copy import stream_mover
from pytask.config import quote
from pytask.errors import PermanentError, TransientError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


ROLES = ("SOURCE", "DEST")  # the servers this step talks to
NEW_SUFFIX = "polyetl_new"  # <view>__polyetl_new: a materialized view being refilled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare views' flags."""
    add_sync_arguments(parser, *ROLES, with_tables=False)
    add_list_argument(parser, "--view", f"{ENV_PREFIX}VIEWS", "a view to recreate, as planned")


def new_name(view: str) -> str:
    """Where a materialized view's replacement is filled.

    >>> new_name("daily")
    'daily__polyetl_new'
    """
    return derived(view, NEW_SUFFIX)


@dataclass
class Recreator:
    """Recreates one object after another on the destination."""

    step: SyncStep
    source: Any
    dest: Any
    live: dict[str, DbObject]
    inner_tables: list[str]

    @property
    def database(self) -> str:
        return self.step.database

    def recreate(self, obj: DbObject) -> str:
        """Bring ``obj`` to the destination; what was done (kept, created, replaced, refilled)."""
        if obj.kind(self.inner_tables) == "materialized view (inner)":
            return self._refill(obj)
        live = self.live.get(obj.name)
        if live is not None and live.ddl == obj.ddl:
            return "kept"
        self.dest.command(parse_head(obj.ddl).render(self.database, obj.name, replace=True))
        return "created" if live is None else "replaced"

    def _refill(self, obj: DbObject) -> str:
        name, temp = obj.name, new_name(obj.name)
        src = sync.table_data(self.source, self.database, name)
        columns = partitions.stored_columns(self.source, src)
        live = self.live.get(name)
        if live is not None and live.ddl == obj.ddl:
            here = sync.table_data(self.dest, self.database, name)
            if partitions.compare(self.source, self.dest, src, here).problems == []:
                self._drop_if_present(temp)  # an exchange done, the old view not yet dropped
                return "kept"
        ledger = PartsLedger(self.dest, self.step.staging)
        head = parse_head(obj.ddl)
        existing = self.live.get(temp)  # left by an earlier run of this step
        if existing is not None and parse_head(existing.ddl).rest != head.rest:
            self.dest.command(f"DROP TABLE {qualified(self.database, temp)} SYNC")
            existing = None
        if existing is None:
            self.dest.command(head.render(self.database, temp))
            ledger.forget_object(name)
        dst = sync.table_data(self.dest, self.database, temp)
        transfer = Transfer(self.source, self.dest, src, dst, columns)
        if partitions.partition_key(self.source, src):
            report = PartitionCopy(
                connect_source=self.step.servers["SOURCE"].connect,
                connect_dest=self.step.servers["DEST"].connect,
                move=stream_mover,
                ledger=ledger,
                key=name,
            ).run(src, dst, columns)
            if report.failed:
                raise PermanentError(
                    f"{len(report.failed)} partition(s) of its data failed: "
                    + "; ".join(f"{quote(p)}: {w}" for p, w in sorted(report.failed.items())[:5])
                )
        else:
            self.dest.command(f"TRUNCATE TABLE {dst.storage_sql}")
            stream_mover(transfer, None)
        check = partitions.compare(self.source, self.dest, src, dst)
        if check.problems:
            ledger.forget(name, check.partitions)
            raise PermanentError(f"its copied data differs: {'; '.join(check.problems[:5])}")
        if live is None:
            self.dest.command(
                f"RENAME TABLE {qualified(self.database, temp)} TO {qualified(self.database, name)}"
            )
            return "created"
        self.dest.command(
            f"EXCHANGE TABLES {qualified(self.database, temp)} AND {qualified(self.database, name)}"
        )
        self.dest.command(f"DROP TABLE {qualified(self.database, temp)} SYNC")
        return "refilled"

    def _drop_if_present(self, name: str) -> None:
        self.dest.command(f"DROP TABLE IF EXISTS {qualified(self.database, name)} SYNC")


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Recreate every planned view-like object, in dependency order."""
    step = SyncStep.resolve(args, ctx, ROLES, with_tables=False)
    database = step.database
    names = name_list(args, ctx, "--view", f"{ENV_PREFIX}VIEWS")
    outputs: dict[str, object] = {"database": database, "views": names}
    if not names:
        ctx.log.info("no views planned")
        return TaskResult(command="views", counts={"views": 0}, outputs=outputs)
    source, dest = step.connect("SOURCE"), step.connect("DEST")
    on_source = {o.name: o for o in list_objects(source, database)}
    failed = {n: "not on the source any more" for n in names if n not in on_source}
    wanted = dependency_order([on_source[n] for n in names if n in on_source], database)
    recreator = Recreator(
        step,
        source,
        dest,
        {o.name: o for o in list_objects(dest, database)},
        [o.name for o in on_source.values() if o.is_inner],
    )
    done: Counter[str] = Counter()
    for obj in wanted:
        blocked = [n for n in failed if mentions(obj.ddl, database, n)]
        if blocked:
            failed[obj.name] = f"reads {shown(blocked)}, which failed"
            continue
        try:
            action = recreator.recreate(obj)
        except TransientError:
            raise  # the server went away: the whole step is retried (it is re-runnable)
        except Exception as exc:  # one object's failure never blocks the others
            error = exc if isinstance(exc, PermanentError) else sync.classify(exc, "recreate")
            if isinstance(error, TransientError):
                raise error from exc
            failed[obj.name] = str(error)
            continue
        done[action] += 1
        ctx.log.info("view in place", extra={"view": obj.name, "action": action})
    counts = {"views": len(names), **{k: done[k] for k in sorted(done)}, "failed": len(failed)}
    if failed:
        detail = "; ".join(f"{quote(n)}: {why}" for n, why in failed.items())
        raise PermanentError(f"{len(failed)} of {len(names)} view(s) not recreated: {detail}")
    return TaskResult(command="views", counts=counts, outputs=outputs)
