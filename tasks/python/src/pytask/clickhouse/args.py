"""Flags shared by the sync commands: the databases, the table list, the copy options."""

from __future__ import annotations

import argparse
import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytask import ENV_PREFIX
from pytask.clickhouse.connection import Server
from pytask.clickhouse.names import identifier, unique
from pytask.config import choice_setting, flag_or_env, quote, required_setting, source_of
from pytask.errors import UsageError

if TYPE_CHECKING:
    from pytask.commands import Context


class TransferMode(enum.StrEnum):
    """Who moves the data: a server by itself (`remote()`, `s3()`), or the task (client)."""

    AUTO = "auto"
    SERVER = "server"
    CLIENT = "client"


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database`` and ``--staging-database``, shared by every sync command."""
    parser.add_argument(
        "--database", metavar="NAME", help=f"the database to sync (env {ENV_PREFIX}DATABASE)"
    )
    parser.add_argument(
        "--staging-database",
        metavar="NAME",
        help="staging database on the destination "
        f"(env {ENV_PREFIX}STAGING_DATABASE; default <database>__polyetl_staging)",
    )


def databases(args: argparse.Namespace, ctx: Context) -> tuple[str, str]:
    """The validated database and staging database names."""
    raw = required_setting(args, "database", "--database", ctx.env, to="name a database")
    database = identifier(raw, source_of(args, "database", "--database"))
    staging_raw = flag_or_env(args, "staging_database", "--staging-database", ctx.env)
    staging = (
        identifier(staging_raw, source_of(args, "staging_database", "--staging-database"))
        if staging_raw
        else f"{database}__polyetl_staging"
    )
    if staging == database:
        raise UsageError(
            f"expected --staging-database to differ from --database, got: {quote(staging)} twice"
        )
    return database, staging


def add_list_argument(parser: argparse.ArgumentParser, flag: str, env_var: str, what: str) -> None:
    """A repeatable flag whose env fallback is a JSON array (names may hold commas, quotes,
    newlines: a JSON array is the one list format every value survives)."""
    parser.add_argument(
        flag,
        dest=env_var.removeprefix(ENV_PREFIX).lower(),
        action="append",
        metavar="NAME",
        help=f"{what}; repeatable (env {env_var}: a JSON array)",
    )


def string_list(args: argparse.Namespace, ctx: Context, env_var: str) -> list[str]:
    """The values of a repeatable flag, else its env fallback's JSON array, else []."""
    given = getattr(args, env_var.removeprefix(ENV_PREFIX).lower(), None)
    if given:
        return [str(v) for v in given]
    raw = ctx.env.get(env_var)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"expected {env_var} to be a JSON array of strings, got: {quote(raw)}")
    return value


def name_list(args: argparse.Namespace, ctx: Context, flag: str, env_var: str) -> list[str]:
    """:func:`string_list` of object names: each validated, each once, in the given order."""
    source = flag if getattr(args, env_var.removeprefix(ENV_PREFIX).lower(), None) else env_var
    return unique(identifier(n, source) for n in string_list(args, ctx, env_var))


def add_tables_argument(parser: argparse.ArgumentParser) -> None:
    add_list_argument(parser, "--table", f"{ENV_PREFIX}TABLES", "a table, as planned")


def tables(args: argparse.Namespace, ctx: Context) -> list[str]:
    """The validated, de-duplicated table list, in the given order."""
    names = name_list(args, ctx, "--table", f"{ENV_PREFIX}TABLES")
    if not names:
        raise UsageError(
            f"expected --table (or {ENV_PREFIX}TABLES, a JSON array) to list tables, got none"
        )
    return names


ROLES = {"SOURCE": "source", "DEST": "dest"}


def add_server_arguments(parser: argparse.ArgumentParser, *roles: str) -> None:
    """TLS switches per server (``--source-secure``, ``--dest-no-verify``, ``--source-ca-file``).

    Host, port and credentials come from env only (``PYTASK_<ROLE>_HOST`` …): credentials
    must never be flags, and the rest belongs with them.
    """
    for role in roles:
        flag = ROLES[role]
        parser.add_argument(
            f"--{flag}-secure",
            action="store_const",
            const="true",
            help=f"HTTPS to the {flag} server (env {ENV_PREFIX}{role}_SECURE)",
        )
        parser.add_argument(
            f"--{flag}-no-verify",
            dest=f"{flag}_verify",
            action="store_const",
            const="false",
            help=f"skip certificate verification (env {ENV_PREFIX}{role}_VERIFY=false)",
        )
        parser.add_argument(
            f"--{flag}-ca-file",
            metavar="PATH",
            help=f"CA bundle to verify the {flag} server with (env {ENV_PREFIX}{role}_CA_FILE)",
        )


def server(args: argparse.Namespace, ctx: Context, role: str) -> Server:
    """The server settings for ``role``: flags over ``PYTASK_<ROLE>_*`` env."""
    flag = ROLES[role]
    overlay = {
        f"{ENV_PREFIX}{role}_{name}": value
        for name, value in (
            ("SECURE", getattr(args, f"{flag}_secure", None)),
            ("VERIFY", getattr(args, f"{flag}_verify", None)),
            ("CA_FILE", getattr(args, f"{flag}_ca_file", None)),
        )
        if value is not None
    }
    return Server.from_env({**ctx.env, **overlay}, role)


def add_sync_arguments(parser: argparse.ArgumentParser, *roles: str, with_tables: bool) -> None:
    """What every sync step takes: TLS switches per server, the databases, maybe the tables."""
    add_server_arguments(parser, *roles)
    add_database_arguments(parser)
    if with_tables:
        add_tables_argument(parser)


@dataclass(frozen=True)
class SyncStep:
    """The validated inputs of one sync step: every flag and env value it reads, the servers'
    included, checked before the first connection."""

    database: str
    staging: str
    tables: list[str]
    servers: dict[str, Server]

    @classmethod
    def resolve(
        cls, args: argparse.Namespace, ctx: Context, roles: tuple[str, ...], *, with_tables: bool
    ) -> SyncStep:
        """Resolve the step declared by ``add_sync_arguments(parser, *roles, with_tables=…)``."""
        database, staging = databases(args, ctx)
        names = tables(args, ctx) if with_tables else []
        return cls(database, staging, names, {role: server(args, ctx, role) for role in roles})

    def connect(self, role: str) -> Any:
        """A client for the SOURCE or DEST server."""
        return self.servers[role].connect()


def transfer_mode(args: argparse.Namespace, ctx: Context, env_var: str) -> TransferMode:
    """``--mode`` (auto, server or client; default auto), falling back to ``env_var`` — the
    name the DAG sets for this command (``PYTASK_COPY_MODE``, ``PYTASK_LOAD_MODE``)."""
    return choice_setting(
        args, "mode", "--mode", ctx.env, TransferMode, default=TransferMode.AUTO, env_var=env_var
    )
