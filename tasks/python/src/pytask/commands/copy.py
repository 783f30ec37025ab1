"""Copy one table from the source into its staging table on the destination.

A partitioned MergeTree table is copied partition by partition (``system.parts``), up to
``--parallel`` at a time (default 2, for a 2-core node): each partition is checked by row count
and checksum against the source and recorded, so a re-run after a failure or a kill copies only
the partitions not yet recorded (pytask.clickhouse.partitions). Any other table is copied in
one piece after truncating its staging table, as before.

``--mode server`` moves the rows on a server: on the destination pulling with
``remote()``/``remoteSecure()`` from the source (``--execute-on destination``, default), or on
the source pushing with ``INSERT INTO FUNCTION remote(…)`` (``--execute-on source``). The
credentials travel inside that query to the server only; nothing logs it. ``--mode client``
streams the rows through this task in the Native format without decoding them: the source's
answer is sent on as the destination's request body as it comes, a MiB at a time (memory stays
bounded whatever the table's size). ``--mode auto`` probes whether the executing
server can reach the other one over the native protocol and picks server, else client.
Every stored column is copied as stored (``MATERIALIZED`` ones too, not recomputed).
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
from pytask.clickhouse.connection import Server, boolean
from pytask.clickhouse.names import identifier, literal, q
from pytask.clickhouse.partitions import (
    COPY_SETTINGS,
    Data,
    Mover,
    PartitionCopy,
    PartsLedger,
    Transfer,
    column_list,
    partition_key,
    row_count,
    stored_columns,
    where,
)
from pytask.config import (
    choice_setting,
    flag_or_env,
    quote,
    required_setting,
    source_of,
    whole_number,
)
from pytask.errors import PermanentError, TransientError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


DEFAULT_PARALLEL = 2  # a 2-core node; the chDB endpoint runs one query at a time anyway
PIECE = 1 << 20  # bytes of the source's answer read, and sent on to the destination, at a time
CRASH_AFTER = f"{ENV_PREFIX}COPY_CRASH_AFTER"


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
    parser.add_argument(
        "--one-piece",
        action="store_const",
        const="true",
        help="copy a partitioned table in one piece, as an unpartitioned one (no resume; "
        f"env {ENV_PREFIX}ONE_PIECE)",
    )
    parser.add_argument(
        "--parallel",
        metavar="N",
        help=f"partitions copied at a time (env {ENV_PREFIX}PARALLEL; default {DEFAULT_PARALLEL})",
    )


def remote_call(server: Server, database: str, table: str) -> str:
    """``remote('host:port', db, table, user, password)`` over the native protocol (9000/9440)."""
    return _remote(server, f"{literal(database)}, {literal(table)}")


def remote_view(server: Server, select: str) -> str:
    """``remote('host:port', view(<select>), user, password)``: ``select`` runs over there."""
    return _remote(server, f"view({select})")


def _remote(server: Server, what: str) -> str:
    function = "remoteSecure" if server.secure else "remote"
    address = literal(f"{server.native_host}:{server.native_port}")
    return f"{function}({address}, {what}, {literal(server.user)}, {literal(server.password)})"


def stream_mover(move: Transfer, partition: str | None) -> None:
    """Stream the rows through this task in Native format, without decoding them: the source's
    response body is sent on as the destination's request body, piece by piece, as it comes."""
    select = f"SELECT {column_list(move.columns)} FROM {move.src.sql}{where(partition)}"

    def blocks() -> Iterator[bytes]:
        with move.source.raw_stream(select, fmt="Native") as stream:
            # read(n), not iteration: iterating a response yields *lines*, and Native data
            # split at every 0x0A byte is thousands of tiny pieces, each one HTTP chunk
            yield from iter(lambda: stream.read(PIECE), b"")

    move.dest.raw_insert(
        move.dst.sql,
        column_names=[q(c.name) for c in move.columns],
        insert_block=blocks(),
        fmt="Native",
        settings=COPY_SETTINGS,
    )


@dataclass(frozen=True)
class ServerMover:
    """Move the rows with one ``INSERT … SELECT`` on the source or the destination server."""

    execute_on: ExecuteOn
    source_server: Server
    dest_server: Server

    def __call__(self, move: Transfer, partition: str | None) -> None:
        cols = column_list(move.columns)
        select = f"SELECT {cols} FROM {move.src.sql}{where(partition)}"
        if self.execute_on is ExecuteOn.DESTINATION:
            runner = move.dest
            pull = remote_view(self.source_server, select)
            sql = f"INSERT INTO {move.dst.sql} ({cols}) SELECT * FROM {pull}"
        else:
            runner = move.source
            push = remote_call(self.dest_server, move.dst.database, move.dst.name)
            sql = f"INSERT INTO FUNCTION {push} ({cols}) {select}"
        runner.command(sql, settings=COPY_SETTINGS)

    def probe(self, move: Transfer) -> None:
        """Fails unless the executing server reaches the other one over the native protocol."""
        if self.execute_on is ExecuteOn.DESTINATION:
            pull = remote_view(self.source_server, f"SELECT 1 FROM {move.src.sql}")
            move.dest.query(f"SELECT 1 FROM {pull} LIMIT 1")
        else:
            push = remote_call(self.dest_server, move.dst.database, move.dst.name)
            move.source.query(f"SELECT 1 FROM {push} LIMIT 1")


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
    parallel: int
    one_piece: bool
    crash_after: int | None  # test hook PYTASK_COPY_CRASH_AFTER=N: killed after N partitions

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
            parallel=max(
                1,
                whole_number(
                    flag_or_env(args, "parallel", "--parallel", ctx.env) or str(DEFAULT_PARALLEL),
                    source_of(args, "parallel", "--parallel"),
                    maximum=64,
                    unit="partitions at a time",
                ),
            ),
            one_piece=bool(args.one_piece) or boolean(ctx.env, f"{ENV_PREFIX}ONE_PIECE", False),
            crash_after=(
                whole_number(crash, CRASH_AFTER, maximum=1_000_000, unit="partitions")
                if (crash := ctx.env.get(CRASH_AFTER))
                else None
            ),
        )


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Copy the table into staging (partition by partition when it has partitions)."""
    settings = CopySettings.from_args(args, ctx)
    database, staging, table = settings.database, settings.staging, settings.table
    source, dest = settings.source.connect(), settings.dest.connect()
    if not sync.table_exists(dest, staging, table):
        raise PermanentError(
            f"expected staging table {quote(staging)}.{quote(table)} (run prepare first), got none"
        )
    src = sync.table_data(source, database, table)
    dst = Data.table(staging, table)
    columns = stored_columns(source, src)
    transfer = Transfer(source, dest, src, dst, columns)
    mover = _choose_mover(settings, ctx, transfer)
    keyed = not settings.one_piece and bool(partition_key(source, src))
    ctx.log.info(
        "copy started",
        extra={
            "table": table,
            "mode": mover.mode,
            "partitioned": keyed,
            "parallel": settings.parallel,
        },
    )
    what = f"copy of {quote(database)}.{quote(table)}"
    try:
        if keyed:
            return _copy_partitions(settings, ctx, mover, transfer)
        dest.command(f"TRUNCATE TABLE {dst.sql}")
        mover.move(transfer, None)
        rows = row_count(dest, dst)
    except (PermanentError, TransientError):
        raise
    except Exception as exc:
        raise sync.classify(exc, what) from exc
    ctx.log.info("copy done", extra={"table": table, "rows": rows, "mode": mover.mode})
    return TaskResult(
        command="copy",
        counts={"rows": rows},
        outputs={"table": table, "mode": mover.mode.value, "execute_on": settings.execute_on.value},
    )


@dataclass(frozen=True)
class ChosenMover:
    mode: TransferMode
    move: Mover


def _choose_mover(settings: CopySettings, ctx: Context, transfer: Transfer) -> ChosenMover:
    server = ServerMover(settings.execute_on, settings.source, settings.dest)
    if settings.mode is TransferMode.CLIENT:
        return ChosenMover(TransferMode.CLIENT, stream_mover)
    if settings.mode is TransferMode.SERVER:
        return ChosenMover(TransferMode.SERVER, server)
    try:
        server.probe(transfer)
    except Exception as exc:  # any failure of the probe means: stream instead
        ctx.log.info(
            "server-side copy unavailable; streaming through the task",
            extra={
                "table": transfer.src.name,
                "execute_on": settings.execute_on,
                "reason": type(exc).__name__,
            },
        )
        return ChosenMover(TransferMode.CLIENT, stream_mover)
    return ChosenMover(TransferMode.SERVER, server)


def _copy_partitions(
    settings: CopySettings, ctx: Context, mover: ChosenMover, transfer: Transfer
) -> TaskResult:
    ledger = PartsLedger(settings.dest.connect(), settings.staging)
    copier = PartitionCopy(
        connect_source=settings.source.connect,
        connect_dest=settings.dest.connect,
        move=mover.move,
        ledger=ledger,
        key=settings.table,
        parallel=settings.parallel,
        crash_after=settings.crash_after,
    )
    report = copier.run(transfer.src, transfer.dst, transfer.columns)
    counts = {
        "rows": report.rows,
        "partitions": len(report.copied) + len(report.resumed) + len(report.failed),
        "partitions_copied": len(report.copied),
        "partitions_resumed": len(report.resumed),
        "partitions_failed": len(report.failed),
    }
    ctx.log.info("copy done", extra={"table": settings.table, "mode": mover.mode, **counts})
    if report.failed:
        detail = "; ".join(f"{quote(p)}: {why}" for p, why in sorted(report.failed.items())[:20])
        error = TransientError if report.unreachable else PermanentError
        raise error(
            f"copy of {quote(settings.database)}.{quote(settings.table)}: "
            f"{len(report.failed)} partition(s) failed ({detail}); the "
            f"{len(report.copied) + len(report.resumed)} verified ones are kept, a re-run copies "
            "the rest"
        )
    return TaskResult(
        command="copy",
        counts=counts,
        outputs={
            "table": settings.table,
            "mode": mover.mode.value,
            "execute_on": settings.execute_on.value,
            "run_id": report.run_id,
        },
    )
