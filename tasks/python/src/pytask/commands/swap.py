"""Put the verified staging tables in place, each with one atomic ``EXCHANGE TABLES`` (or a
``RENAME`` when the live table doesn't exist yet), then drop the old copies with ``SYNC``.

Readers see the old table or the new one, never a mix or a gap. Re-running after a crash at
any point completes the swap: a table whose live copy already holds the verified data only
has its leftover dropped; a staging table that no longer holds the verified data (and a live
one that doesn't either) is refused rather than guessed at.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pytask.clickhouse import sync
from pytask.clickhouse.args import SyncStep, add_sync_arguments
from pytask.clickhouse.names import qualified, shown
from pytask.config import quote
from pytask.errors import PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


ROLES = ("DEST",)  # the servers this step talks to


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare swap's flags."""
    add_sync_arguments(parser, *ROLES, with_tables=True)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Swap every verified table into the live database."""
    step = SyncStep.resolve(args, ctx, ROLES, with_tables=True)
    database, staging, names = step.database, step.staging, step.tables
    dest = step.connect("DEST")
    sync.ensure_atomic_database(dest, database, "destination")
    proven = sync.verified(dest, staging)
    unverified = [n for n in names if n not in proven]
    if unverified:
        raise PermanentError(
            f"refusing to swap tables that verify did not prove: {shown(unverified)}"
        )
    swapped = already = 0
    for name in names:
        want = proven[name]
        live, stage = qualified(database, name), qualified(staging, name)
        has_stage = sync.table_exists(dest, staging, name)
        has_live = sync.table_exists(dest, database, name)
        if has_stage and sync.fingerprint(dest, staging, name) == want:
            if has_live:
                dest.command(f"EXCHANGE TABLES {stage} AND {live}")
                dest.command(f"DROP TABLE {stage} SYNC")
            else:
                dest.command(f"RENAME TABLE {stage} TO {live}")
            swapped += 1
            ctx.log.info("table swapped", extra={"table": name, "rows": want.rows})
        elif has_live and sync.fingerprint(dest, database, name) == want:
            if has_stage:  # the exchange happened, the drop of the old copy did not
                dest.command(f"DROP TABLE {stage} SYNC")
            already += 1
            ctx.log.info("table already swapped", extra={"table": name})
        else:
            raise PermanentError(
                f"neither {quote(staging)}.{quote(name)} nor {quote(database)}.{quote(name)} "
                "holds the verified data "
                f"({want.rows} rows); re-run copy and verify"
            )
    return TaskResult(
        command="swap",
        counts={"tables": len(names), "swapped": swapped, "already_swapped": already},
        outputs={"database": database},
    )
