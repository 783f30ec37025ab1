"""List what to sync: the tables to copy, the views to recreate, what is left out and why.

Reads ``system.tables`` on the source server for ``--database``; keeps the objects the
include/skip patterns select (globs by default, ``--pattern-syntax regex`` for full-match
regular expressions); lists every object left out with its reason (docs/clickhouse-sync.md);
counts rows and bytes. ``outputs.tables`` is what the DAG fans ``copy`` out over;
``outputs.views`` (in dependency order) is what the ``views`` step recreates.
"""

from __future__ import annotations

import argparse
import enum
from typing import TYPE_CHECKING

from pytask import ENV_PREFIX
from pytask.clickhouse.args import (
    add_database_arguments,
    add_list_argument,
    add_server_arguments,
    databases,
    string_list,
)
from pytask.clickhouse.args import server as args_server
from pytask.clickhouse.catalog import DbObject, database_exists, dependency_order, list_objects
from pytask.clickhouse.names import Patterns
from pytask.clickhouse.partitions import RESERVED
from pytask.commands.views import NEW_SUFFIX
from pytask.config import choice_setting, quote
from pytask.errors import NothingToDo, PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


class PatternSyntax(enum.StrEnum):
    GLOB = "glob"
    REGEX = "regex"


INNER_TABLE = "inner table of a materialized view: goes with its view"
RESERVED_NAME = "name reserved for the sync's own bookkeeping (docs/clickhouse-sync.md)"
UNSELECTED = "not selected by the patterns"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare plan's flags (each with its PYTASK_ env fallback)."""
    add_server_arguments(parser, "SOURCE")
    add_database_arguments(parser)
    add_list_argument(parser, "--include", f"{ENV_PREFIX}INCLUDE", "a name pattern to keep")
    add_list_argument(parser, "--skip", f"{ENV_PREFIX}SKIP", "a name pattern to leave out")
    parser.add_argument(
        "--pattern-syntax",
        metavar="SYNTAX",
        help=f"glob (default) or regex (env {ENV_PREFIX}PATTERN_SYNTAX)",
    )


def _patterns(args: argparse.Namespace, ctx: Context) -> Patterns:
    syntax = choice_setting(
        args,
        "pattern_syntax",
        "--pattern-syntax",
        ctx.env,
        PatternSyntax,
        default=PatternSyntax.GLOB,
    )
    return Patterns.parse(
        string_list(args, ctx, f"{ENV_PREFIX}INCLUDE"),
        string_list(args, ctx, f"{ENV_PREFIX}SKIP"),
        syntax,
    )


def _left_out(obj: DbObject, database: str, patterns: Patterns) -> str | None:
    if obj.is_inner:
        return INNER_TABLE
    if obj.name in RESERVED or obj.name.endswith(f"__{NEW_SUFFIX}"):
        return RESERVED_NAME
    if not patterns.selects(obj.name):
        return UNSELECTED
    return obj.not_recreated(database)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Read the source catalog and build the plan."""
    database, staging = databases(args, ctx)
    patterns = _patterns(args, ctx)
    source = args_server(args, ctx, "SOURCE")
    client = source.connect()
    if not database_exists(client, database):
        raise PermanentError(
            f"expected database {quote(database)} on the source {source.address}, got none"
        )
    objects = list_objects(client, database)
    inner = [o.name for o in objects if o.is_inner]
    tables: list[DbObject] = []
    views: list[DbObject] = []
    skipped: list[dict[str, str]] = []
    for obj in objects:
        reason = _left_out(obj, database, patterns)
        if reason is not None:
            skipped.append({"name": obj.name, "engine": obj.engine, "reason": reason})
        elif obj.recreated:
            views.append(obj)
        else:
            tables.append(obj)
    views = dependency_order(views, database)
    for item in skipped:
        ctx.log.info("left out", extra={"table": item["name"], "reason": item["reason"]})
    outputs: dict[str, object] = {
        "database": database,
        "staging_database": staging,
        "tables": [t.name for t in tables],
        "details": [t.to_json() for t in tables],
        "views": [v.name for v in views],
        "view_details": [{**v.to_json(), "kind": v.kind(inner)} for v in views],
        "skipped": skipped,
    }
    counts = {
        "tables": len(tables),
        "rows": sum(t.rows for t in tables),
        "bytes": sum(t.bytes for t in tables),
        "views": len(views),
        "skipped": len(skipped),
    }
    ctx.log.info("plan ready", extra={"database": database, **counts})
    if not tables and not views:
        raise NothingToDo(f"nothing of {quote(database)} to sync", outputs)
    return TaskResult(command="plan", counts=counts, outputs=outputs)
