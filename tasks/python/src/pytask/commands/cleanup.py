"""Drop the staging database (leftovers of this or earlier runs) with ``SYNC``, and any
materialized view the ``views`` step left half-filled beside a live one (``<name>__polyetl_new``).

Safe at any point: staging holds either copies that were never swapped in (the live tables
are untouched; a re-run copies again) or old copies already swapped out; a half-filled view
was never exchanged with the live one.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pytask.clickhouse import sync
from pytask.clickhouse.args import SyncStep, add_sync_arguments
from pytask.clickhouse.catalog import list_objects
from pytask.clickhouse.names import q, qualified
from pytask.commands import views
from pytask.config import quote
from pytask.errors import NothingToDo
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


ROLES = ("DEST",)  # the servers this step talks to


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare cleanup's flags."""
    add_sync_arguments(parser, *ROLES, with_tables=False)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Drop the staging database if it exists."""
    step = SyncStep.resolve(args, ctx, ROLES, with_tables=False)
    database, staging = step.database, step.staging
    dest = step.connect("DEST")
    unfinished = [
        o.name
        for o in list_objects(dest, database)
        if o.engine == "MaterializedView" and o.name.endswith(f"__{views.NEW_SUFFIX}")
    ]
    for name in unfinished:
        dest.command(f"DROP TABLE IF EXISTS {qualified(database, name)} SYNC")
        ctx.log.info("unfinished view dropped", extra={"view": name})
    if sync.database_engine(dest, staging) is None:
        raise NothingToDo(
            f"no staging database {quote(staging)}",
            {"staging_database": staging, "views_dropped": len(unfinished)},
        )
    leftovers = dest.query(
        "SELECT count() FROM system.tables WHERE database = {d:String}", parameters={"d": staging}
    ).result_rows[0][0]
    dest.command(f"DROP DATABASE {q(staging)} SYNC")
    ctx.log.info("staging dropped", extra={"staging_database": staging, "tables": int(leftovers)})
    return TaskResult(
        command="cleanup",
        counts={"tables_dropped": int(leftovers), "views_dropped": len(unfinished)},
        outputs={"database": database, "staging_database": staging},
    )
