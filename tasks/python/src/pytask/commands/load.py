"""Load the staged events of one batch into ClickHouse, idempotently.

For each raw object of ``--manifest`` (written by ``extask discover``), the transform wrote
``staged/<…>.parquet`` (docs/staged-format.md). Each row is loaded with its ``source_key`` and
``source_etag``. **Per-object replace**: when rows of that source are already in the table (a
re-run, or a crash mid-insert), they are deleted first (lightweight ``DELETE … WHERE
source_key = …``), then the object is inserted — so loading the same object twice never
duplicates rows. While an object is re-loaded its rows are briefly absent; a first load
adds rows only.

``--mode server``: ClickHouse reads the object itself with ``s3()``; ``--mode client``: the task
downloads it (one staged object in memory at a time) and sends it; ``--mode auto`` probes
whether ClickHouse can read the bucket and picks server, else client.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytask import ENV_PREFIX
from pytask.clickhouse import events
from pytask.clickhouse.args import TransferMode, add_server_arguments, transfer_mode
from pytask.clickhouse.args import server as args_server
from pytask.clickhouse.connection import Server
from pytask.clickhouse.names import identifier, qualified
from pytask.clickhouse.sync import classify as classify_clickhouse
from pytask.clickhouse.sync import literal
from pytask.config import required_setting, source_of
from pytask.errors import PermanentError, TransientError, UsageError
from pytask.result import TaskResult
from pytask.s3 import S3Settings
from pytask.s3 import classify as classify_s3

if TYPE_CHECKING:
    from pytask.commands import Context

# A staged object must carry every event column: by default ClickHouse fills a missing Parquet
# column with defaults, which would load a wrong-schema object as rows of empty values.
STRICT_INPUT = {"input_format_parquet_allow_missing_columns": 0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare load's flags."""
    add_server_arguments(parser, "DEST")
    parser.add_argument(
        "--manifest", metavar="KEY", help=f"batch manifest key (env {ENV_PREFIX}MANIFEST)"
    )
    parser.add_argument("--bucket", metavar="NAME", help=f"the bucket (env {ENV_PREFIX}BUCKET)")
    parser.add_argument(
        "--database", metavar="NAME", help=f"target database (env {ENV_PREFIX}DATABASE)"
    )
    parser.add_argument("--table", metavar="NAME", help=f"target table (env {ENV_PREFIX}TABLE)")
    parser.add_argument(
        "--mode", metavar="MODE", help=f"auto, server or client (env {ENV_PREFIX}LOAD_MODE)"
    )


def s3_url(settings: S3Settings, bucket: str, key: str) -> str:
    """Path-style URL of an object, as ClickHouse's s3() wants it."""
    base = (settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com").rstrip("/")
    return f"{base}/{bucket}/{key}"


def s3_function(settings: S3Settings, url: str) -> str:
    return (
        f"s3({literal(url)}, {literal(settings.access_key_id)}, "
        f"{literal(settings.secret_access_key)}, 'Parquet', {literal(events.structure())})"
    )


def _manifest(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        objects: list[dict[str, Any]] = manifest["objects"]
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentError(f"manifest s3://{bucket}/{key} is not a batch manifest") from exc
    except Exception as exc:
        raise classify_s3(exc, f"reading manifest s3://{bucket}/{key}") from exc
    return objects


EVENT_NAMES = ", ".join(f"`{n}`" for n, _ in events.EVENT_COLUMNS)


@dataclass(frozen=True)
class Loader:
    """Loads staged objects into one table, by server-side s3() or through the task."""

    ctx: Context
    dest: Any
    s3_settings: S3Settings
    s3: Any  # the boto3 client of s3_settings, made once per run
    bucket: str
    target: str

    def server_can_read(self, staged: str) -> bool:
        url = s3_url(self.s3_settings, self.bucket, staged)
        try:
            self.dest.query(f"SELECT count() FROM {s3_function(self.s3_settings, url)}")
        except Exception as exc:  # any failure of the probe means: load through the task
            self.ctx.log.info(
                "ClickHouse cannot read the bucket; loading through the task",
                extra={"reason": type(exc).__name__},
            )
            return False
        return True

    def rows_of(self, where: str) -> int:
        return int(
            self.dest.query(f"SELECT count() FROM {self.target} WHERE {where}").result_rows[0][0]
        )

    def load(self, obj: dict[str, Any], mode: TransferMode) -> tuple[int, bool]:
        """Insert one object's events (after removing an earlier load's); rows and replaced."""
        staged = events.staged_key(obj["key"])
        where = f"source_key = {literal(obj['key'])}"
        replaced = self.rows_of(where) > 0
        if replaced:
            self.dest.command(f"DELETE FROM {self.target} WHERE {where}")
        provenance = f"{literal(obj['key'])}, {literal(str(obj.get('etag', '')))}"
        insert = (
            f"INSERT INTO {self.target} ({EVENT_NAMES}, `source_key`, `source_etag`) "
            f"SELECT {EVENT_NAMES}, {provenance}"
        )
        try:
            if mode is TransferMode.SERVER:
                url = s3_url(self.s3_settings, self.bucket, staged)
                self.dest.command(
                    f"{insert} FROM {s3_function(self.s3_settings, url)}", settings=STRICT_INPUT
                )
            else:
                body = self._download(staged)
                source = f"input({literal(events.structure())}) FORMAT Parquet"
                self.dest.command(f"{insert} FROM {source}", data=body, settings=STRICT_INPUT)
        except (PermanentError, UsageError, TransientError):
            raise
        except Exception as exc:
            raise classify_clickhouse(exc, f"loading s3://{self.bucket}/{staged}") from exc
        rows = self.rows_of(where)
        self.ctx.log.info("object loaded", extra={"key": staged, "rows": rows, "mode": mode})
        return rows, replaced

    def _download(self, key: str) -> bytes:
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise classify_s3(exc, f"reading s3://{self.bucket}/{key}") from exc
        return body


@dataclass(frozen=True)
class LoadSettings:
    """Everything load needs, from its flags and env, validated before any connection."""

    manifest: str
    bucket: str
    database: str
    table: str
    mode: TransferMode
    s3: S3Settings
    dest: Server

    @classmethod
    def from_args(cls, args: argparse.Namespace, ctx: Context) -> LoadSettings:
        def name(dest: str, flag: str) -> str:
            raw = required_setting(args, dest, flag, ctx.env, to="be set")
            return identifier(raw, source_of(args, dest, flag))

        return cls(
            manifest=required_setting(args, "manifest", "--manifest", ctx.env, to="be set"),
            bucket=required_setting(args, "bucket", "--bucket", ctx.env, to="be set"),
            database=name("database", "--database"),
            table=name("table", "--table"),
            mode=transfer_mode(args, ctx, f"{ENV_PREFIX}LOAD_MODE"),
            s3=S3Settings.from_env(ctx.env),
            dest=args_server(args, ctx, "DEST"),
        )


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Load every staged object of the manifest."""
    settings = LoadSettings.from_args(args, ctx)
    database, table, mode = settings.database, settings.table, settings.mode
    s3 = settings.s3.client()
    objects = _manifest(s3, settings.bucket, settings.manifest)

    dest = settings.dest.connect()
    target = qualified(database, table)
    dest.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    dest.command(events.create_table_sql(target))
    loader = Loader(ctx, dest, settings.s3, s3, settings.bucket, target)
    if mode is TransferMode.AUTO and objects:
        readable = loader.server_can_read(events.staged_key(objects[0]["key"]))
        mode = TransferMode.SERVER if readable else TransferMode.CLIENT
    rows_total = replaced = 0
    for obj in objects:
        rows, was_replaced = loader.load(obj, mode)
        rows_total += rows
        replaced += int(was_replaced)
    return TaskResult(
        command="load",
        counts={"objects": len(objects), "rows": rows_total, "replaced": replaced},
        outputs={"table": f"{database}.{table}", "mode": mode.value, "manifest": settings.manifest},
    )
