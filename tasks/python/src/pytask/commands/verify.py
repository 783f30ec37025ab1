"""Prove each staging table equals its source table: row count and an order-independent
checksum over every stored column, per partition for a partitioned table (one scan per side).
Any mismatch is a permanent failure naming the tables — and the partitions that differ, which
are forgotten so the next ``copy`` redoes exactly those. Matches are recorded on the
destination for ``swap``, which swaps nothing else."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pytask.clickhouse import partitions, sync
from pytask.clickhouse.args import SyncStep, add_sync_arguments
from pytask.clickhouse.partitions import Data, Fingerprint, PartsLedger
from pytask.config import quote
from pytask.errors import PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


ROLES = ("SOURCE", "DEST")  # the servers this step talks to
SHOWN_PARTITIONS = 20  # a message names at most this many differing partitions per table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare verify's flags."""
    add_sync_arguments(parser, *ROLES, with_tables=True)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Compare source and staging, table by table."""
    step = SyncStep.resolve(args, ctx, ROLES, with_tables=True)
    database, staging, names = step.database, step.staging, step.tables
    source = step.connect("SOURCE")
    dest = step.connect("DEST")
    ledger = PartsLedger(dest, staging)
    good: list[tuple[str, Fingerprint]] = []
    bad: list[str] = []
    for name in names:
        if not sync.table_exists(dest, staging, name):
            bad.append(f"{quote(name)} (no staging table)")
            continue
        result = partitions.compare(
            source, dest, sync.table_data(source, database, name), Data.table(staging, name)
        )
        if not result.problems:
            good.append((name, result.got))
            ctx.log.info("table verified", extra={"table": name, "rows": result.got.rows})
            continue
        ledger.forget(name, result.partitions)  # the next copy redoes exactly these
        shown = "; ".join(result.problems[:SHOWN_PARTITIONS])
        more = len(result.problems) - SHOWN_PARTITIONS
        bad.append(f"{quote(name)} ({shown}{f'; and {more} more' if more > 0 else ''})")
        ctx.log.warning("table differs", extra={"table": name, "differences": result.problems})
    if bad:
        raise PermanentError(
            f"staging differs from source for {len(bad)} table(s): {'; '.join(bad)}"
        )
    sync.record_verified(dest, staging, good)
    return TaskResult(
        command="verify",
        counts={"tables": len(good), "rows": sum(p.rows for _, p in good)},
        outputs={"database": database, "staging_database": staging},
    )
