"""Copy one table from the source into its staging table on the destination.

``--mode server`` runs one ``INSERT … SELECT`` on a server: on the destination pulling with
``remote()``/``remoteSecure()`` from the source (``--execute-on destination``, default), or on
the source pushing with ``INSERT INTO FUNCTION remote(…)`` (``--execute-on source``). The
credentials travel inside that query to the server only; nothing logs it. ``--mode client``
streams the table through this task in the Native format, block after block, without decoding
(memory stays bounded whatever the table's size). ``--mode auto`` probes whether the executing
server can reach the other one over the native protocol and picks server, else client.
The staging table is truncated first, so a re-run after a failure starts clean.
"""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytask import ENV_PREFIX
from pytask.clickhouse import sync
from pytask.clickhouse.args import (
    TransferMode,
    add_database_arguments,
    add_server_arguments,
    databases,
    transfer_mode,
)
from pytask.clickhouse.args import server as args_server
from pytask.clickhouse.connection import Server
from pytask.clickhouse.names import identifier, qualified
from pytask.config import choice_setting, required_setting, source_of
from pytask.errors import PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


class ExecuteOn(enum.StrEnum):
    DESTINATION = "destination"
    SOURCE = "source"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare copy's flags."""
    add_server_arguments(parser, "SOURCE", "DEST")
    add_database_arguments(parser)
    parser.add_argument(
        "--table", metavar="NAME", help=f"the table to copy (env {ENV_PREFIX}TABLE)"
    )
    parser.add_argument(
        "--mode", metavar="MODE", help=f"auto, server or client (env {ENV_PREFIX}COPY_MODE)"
    )
    parser.add_argument(
        "--execute-on", metavar="SIDE", help=f"destination or source (env {ENV_PREFIX}EXECUTE_ON)"
    )


def remote_call(server: Server, database: str, table: str) -> str:
    """``remote('host:port', db, table, user, password)`` over the native protocol (9000/9440)."""
    function = "remoteSecure" if server.secure else "remote"
    port = server.native_port
    return (
        f"{function}('{server.host}:{port}', {sync.literal(database)}, {sync.literal(table)}, "
        f"{sync.literal(server.user)}, {sync.literal(server.password)})"
    )


def _server_copy(runner: Any, sql: str, what: str) -> None:
    try:
        runner.command(sql)
    except Exception as exc:
        raise sync.classify(exc, what) from exc


@dataclass(frozen=True)
class CopySettings:
    """Everything copy needs, from its flags and env, validated before any connection."""

    database: str
    staging: str
    table: str
    mode: TransferMode
    execute_on: ExecuteOn
    source: Server
    dest: Server

    @classmethod
    def from_args(cls, args: argparse.Namespace, ctx: Context) -> CopySettings:
        database, staging = databases(args, ctx)
        raw = required_setting(args, "table", "--table", ctx.env, to="name a table")
        return cls(
            database=database,
            staging=staging,
            table=identifier(raw, source_of(args, "table", "--table")),
            mode=transfer_mode(args, ctx, f"{ENV_PREFIX}COPY_MODE"),
            execute_on=choice_setting(
                args,
                "execute_on",
                "--execute-on",
                ctx.env,
                ExecuteOn,
                default=ExecuteOn.DESTINATION,
            ),
            source=args_server(args, ctx, "SOURCE"),
            dest=args_server(args, ctx, "DEST"),
        )


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Copy the table into staging and count what arrived."""
    settings = CopySettings.from_args(args, ctx)
    database, staging, table = settings.database, settings.staging, settings.table
    mode, execute_on = settings.mode, settings.execute_on
    source_cfg, dest_cfg = settings.source, settings.dest
    source, dest = source_cfg.connect(), dest_cfg.connect()
    if not sync.table_exists(dest, staging, table):
        raise PermanentError(
            f"expected staging table {staging}.{table} (run prepare first), got none"
        )

    if execute_on is ExecuteOn.DESTINATION:
        runner = dest
        pull = f"SELECT * FROM {remote_call(source_cfg, database, table)}"
        probe = f"SELECT 1 FROM {remote_call(source_cfg, database, table)} LIMIT 1"
        server_sql = f"INSERT INTO {qualified(staging, table)} {pull}"
    else:
        runner = source
        probe = f"SELECT 1 FROM {remote_call(dest_cfg, staging, table)} LIMIT 1"
        server_sql = (
            f"INSERT INTO FUNCTION {remote_call(dest_cfg, staging, table)} "
            f"SELECT * FROM {qualified(database, table)}"
        )
    if mode is TransferMode.AUTO:
        try:
            runner.query(probe)
            mode = TransferMode.SERVER
        except Exception as exc:  # any failure of the probe means: stream instead
            ctx.log.info(
                "server-side copy unavailable; streaming through the task",
                extra={"table": table, "execute_on": execute_on, "reason": type(exc).__name__},
            )
            mode = TransferMode.CLIENT

    dest.command(f"TRUNCATE TABLE {qualified(staging, table)}")
    ctx.log.info("copy started", extra={"table": table, "mode": mode, "execute_on": execute_on})
    if mode is TransferMode.SERVER:
        _server_copy(
            runner, server_sql, f"server-side copy of {database}.{table} on the {execute_on}"
        )
    else:
        try:
            dest.raw_insert(
                f"{qualified(staging, table)}",
                insert_block=sync.stream_native(source, database, table),
                fmt="Native",
            )
        except Exception as exc:
            raise sync.classify(exc, f"streaming copy of {database}.{table}") from exc
    rows = sync.row_count(dest, staging, table)
    ctx.log.info("copy done", extra={"table": table, "rows": rows, "mode": mode})
    return TaskResult(
        command="copy",
        counts={"rows": rows},
        outputs={"table": table, "mode": mode.value, "execute_on": execute_on.value},
    )
