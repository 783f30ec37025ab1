"""Prove each staging table equals its source table: row count and an order-independent
checksum (``sumWithOverflow(cityHash64(*))``). Any mismatch is a permanent failure naming the
tables; matches are recorded on the destination for ``swap``, which swaps nothing else."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pytask.clickhouse import sync
from pytask.clickhouse.args import (
    add_database_arguments,
    add_server_arguments,
    add_tables_argument,
    databases,
    tables,
)
from pytask.clickhouse.args import server as args_server
from pytask.errors import PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare verify's flags."""
    add_server_arguments(parser, "SOURCE", "DEST")
    add_database_arguments(parser)
    add_tables_argument(parser)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Compare source and staging, table by table."""
    database, staging = databases(args, ctx)
    names = tables(args, ctx)
    source = args_server(args, ctx, "SOURCE").connect()
    dest = args_server(args, ctx, "DEST").connect()
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
