"""Prove each staging table equals its source table: row count and an order-independent
checksum (``sumWithOverflow(cityHash64(*))``). Any mismatch is a permanent failure naming the
tables; matches are recorded on the destination for ``swap``, which swaps nothing else."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pytask.clickhouse import sync
from pytask.clickhouse.args import SyncStep, add_sync_arguments
from pytask.errors import PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


ROLES = ("SOURCE", "DEST")  # the servers this step talks to


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare verify's flags."""
    add_sync_arguments(parser, *ROLES, with_tables=True)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Compare source and staging, table by table."""
    step = SyncStep.resolve(args, ctx, ROLES, with_tables=True)
    database, staging, names = step.database, step.staging, step.tables
    source = step.connect("SOURCE")
    dest = step.connect("DEST")
    good: list[tuple[str, sync.Fingerprint]] = []
    bad: list[str] = []
    for name in names:
        if not sync.table_exists(dest, staging, name):
            bad.append(f"{name} (no staging table)")
            continue
        want = sync.fingerprint(source, database, name)
        got = sync.fingerprint(dest, staging, name)
        if want == got:
            good.append((name, got))
            ctx.log.info("table verified", extra={"table": name, "rows": got.rows})
        else:
            bad.append(
                f"{name} (source {want.rows} rows, staging {got.rows} rows, checksums "
                f"{'equal' if want.checksum == got.checksum else 'differ'})"
            )
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
