"""Create the staging database on the destination with the source's table schemas.

For each planned table: ``SHOW CREATE TABLE`` on the source, rewritten to the staging
database, created on the destination (an existing staging table with another schema is
replaced — staging is ours — and the partitions an earlier copy recorded for it are
forgotten; a staging table with the same schema is kept, with its verified partitions, so a
re-run copy resumes). Engines that can't be copied as-is (replicated, Distributed,
Merge, Buffer, external integrations) are refused, all of them named, before anything is
created. The live destination database is created empty if missing; never altered.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pytask.clickhouse import sync
from pytask.clickhouse.args import SyncStep, add_sync_arguments
from pytask.clickhouse.names import qualified, shown
from pytask.clickhouse.partitions import PartsLedger
from pytask.config import quote
from pytask.errors import PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


ROLES = ("SOURCE", "DEST")  # the servers this step talks to


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare prepare's flags."""
    add_sync_arguments(parser, *ROLES, with_tables=True)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Create (or align) the staging tables."""
    step = SyncStep.resolve(args, ctx, ROLES, with_tables=True)
    database, staging, names = step.database, step.staging, step.tables
    source = step.connect("SOURCE")
    dest = step.connect("DEST")
    engines = {
        str(n): str(e)
        for n, e in source.query(
            "SELECT name, engine FROM system.tables WHERE database = {d:String}",
            parameters={"d": database},
        ).result_rows
    }
    missing = [n for n in names if n not in engines]
    if missing:
        raise PermanentError(f"tables missing on the source {quote(database)}: {shown(missing)}")
    refused = {n: r for n in names if (r := sync.refusal(engines[n])) is not None}
    if refused:
        detail = "; ".join(f"{quote(n)} ({engines[n]}): {r}" for n, r in refused.items())
        raise PermanentError(f"cannot copy {len(refused)} table(s) as-is: {detail}")

    sync.ensure_atomic_database(dest, database, "destination")
    sync.ensure_atomic_database(dest, staging, "staging")
    ledger = PartsLedger(dest, staging)
    created = kept = 0
    for name in names:
        ddl = sync.staging_ddl(sync.show_create(source, database, name), database, staging, name)
        if sync.table_exists(dest, staging, name):
            current = sync.staging_ddl(
                sync.show_create(dest, staging, name), staging, staging, name
            )
            if current == ddl:
                kept += 1
                continue
            dest.command(f"DROP TABLE {qualified(staging, name)} SYNC")
        dest.command(ddl)
        ledger.forget_object(name)
        created += 1
        ctx.log.info("staging table created", extra={"table": name, "engine": engines[name]})
    return TaskResult(
        command="prepare",
        counts={"tables": len(names), "created": created, "kept": kept},
        outputs={"database": database, "staging_database": staging},
    )
