"""List the source tables to sync: patterns applied, views and dictionaries set aside.

Reads ``system.tables`` on the source server for ``--database``; keeps the tables the
include/skip patterns select (globs by default, ``--pattern-syntax regex`` for full-match
regular expressions); lists every skipped object with its reason; counts rows and bytes.
The result (``outputs.tables``) is what the DAG fans ``copy`` out over.
"""

from __future__ import annotations

import argparse
import enum
from typing import TYPE_CHECKING

from pytask import ENV_PREFIX
from pytask.clickhouse.args import add_database_arguments, add_server_arguments, databases
from pytask.clickhouse.args import server as args_server
from pytask.clickhouse.catalog import SKIPPED_ENGINES, database_exists, list_tables
from pytask.clickhouse.names import IDENTIFIER, Patterns
from pytask.config import choice_setting, flag_or_env
from pytask.errors import NothingToDo, PermanentError
from pytask.result import TaskResult

if TYPE_CHECKING:
    from pytask.commands import Context


class PatternSyntax(enum.StrEnum):
    GLOB = "glob"
    REGEX = "regex"


INNER_TABLE = "inner table of a materialized view: goes with its view"
ODD_NAME = "name is not a plain identifier (letters, digits, _): refused for safety"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare plan's flags (each with its PYTASK_ env fallback)."""
    add_server_arguments(parser, "SOURCE")
    add_database_arguments(parser)
    parser.add_argument(
        "--include",
        metavar="PATTERNS",
        help=f"comma-separated table patterns to keep (env {ENV_PREFIX}INCLUDE)",
    )
    parser.add_argument(
        "--skip",
        metavar="PATTERNS",
        help=f"comma-separated table patterns to leave out (env {ENV_PREFIX}SKIP)",
    )
    parser.add_argument(
        "--pattern-syntax",
        metavar="SYNTAX",
        help=f"glob (default) or regex (env {ENV_PREFIX}PATTERN_SYNTAX)",
    )


def _patterns(args: argparse.Namespace, ctx: Context) -> Patterns:
    def split(dest: str, flag: str) -> list[str]:
        raw = flag_or_env(args, dest, flag, ctx.env) or ""
        return [p.strip() for p in raw.split(",") if p.strip()]

    syntax = choice_setting(
        args,
        "pattern_syntax",
        "--pattern-syntax",
        ctx.env,
        PatternSyntax,
        default=PatternSyntax.GLOB,
    )
    return Patterns.parse(split("include", "--include"), split("skip", "--skip"), syntax)


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Read the source catalog and build the plan."""
    database, staging = databases(args, ctx)
    patterns = _patterns(args, ctx)
    source = args_server(args, ctx, "SOURCE")
    client = source.connect()
    if not database_exists(client, database):
        raise PermanentError(
            f"expected database {database!r} on the source {source.address}, got none"
        )
    tables, skipped = [], []
    for table in list_tables(client, database):
        if table.name.startswith((".inner.", ".inner_id.")):
            skipped.append({"name": table.name, "engine": table.engine, "reason": INNER_TABLE})
        elif not IDENTIFIER.fullmatch(table.name):
            skipped.append({"name": table.name, "engine": table.engine, "reason": ODD_NAME})
        elif table.engine in SKIPPED_ENGINES:
            skipped.append(
                {
                    "name": table.name,
                    "engine": table.engine,
                    "reason": SKIPPED_ENGINES[table.engine],
                }
            )
        elif patterns.selects(table.name):
            tables.append(table)
        else:
            skipped.append(
                {
                    "name": table.name,
                    "engine": table.engine,
                    "reason": "not selected by the patterns",
                }
            )
    for item in skipped:
        ctx.log.info("table skipped", extra={"table": item["name"], "reason": item["reason"]})
    outputs: dict[str, object] = {
        "database": database,
        "staging_database": staging,
        "tables": [t.name for t in tables],
        "details": [t.to_json() for t in tables],
        "skipped": skipped,
    }
    counts = {
        "tables": len(tables),
        "rows": sum(t.rows for t in tables),
        "bytes": sum(t.bytes for t in tables),
        "skipped": len(skipped),
    }
    ctx.log.info("plan ready", extra={"database": database, **counts})
    if not tables:
        raise NothingToDo(f"no table of {database!r} to sync", outputs)
    return TaskResult(command="plan", counts=counts, outputs=outputs)
