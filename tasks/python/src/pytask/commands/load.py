"""Load the staged events of one batch into ClickHouse: one row per event id, the latest
delivery winning.

For each raw object of ``--manifest`` (written by ``extask discover``, with each object's
``arrived_at``), the transform wrote ``staged/<…>.parquet`` (docs/staged-format.md) — or, for an
object it quarantined whole, the sidecar ``quarantine/_reasons/<…>.json``: such objects are
skipped (counted in ``objects_quarantined``). Each row is loaded with ``source_key``,
``source_etag`` and ``arrived_at`` into a private work table, then merged into the events table
partition by partition (:mod:`pytask.clickhouse.latest`): a plain ``SELECT`` never sees two rows
of an id, nor none of an id it saw before. Per object, the rows are counted as ``new``,
``replaced`` (an earlier delivery's row), ``unchanged`` (already there: a re-run) or
``superseded`` (a later delivery is already there).

``--mode server``: ClickHouse reads the object itself with ``s3()``; ``--mode client``: the task
downloads it (one staged object in memory at a time) and sends it; ``--mode auto`` probes
whether ClickHouse can read the bucket and picks server, else client.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pytask import ENV_PREFIX
from pytask.clickhouse import events
from pytask.clickhouse.args import TransferMode, add_server_arguments, transfer_mode
from pytask.clickhouse.args import server as args_server
from pytask.clickhouse.connection import Server
from pytask.clickhouse.latest import LatestMerge, MergeReport, check_layout
from pytask.clickhouse.names import identifier, literal, q, qualified
from pytask.clickhouse.sync import classify as classify_clickhouse
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


@dataclass(frozen=True)
class ManifestObject:
    key: str
    etag: str
    arrived_at: str  # RFC 3339 UTC, milliseconds: '2026-12-06T14:00:00.123Z'


def _utc_time(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 time in UTC.

    >>> _utc_time("2026-12-06T14:00:00.123Z"), _utc_time("yesterday"), _utc_time("2026-12-06")
    (True, False, False)
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return False
    return parsed.utcoffset() is not None and parsed.utcoffset() == timedelta(0)


def _object(raw: Any, index: int, where: str) -> ManifestObject:
    key, etag, arrived = (
        raw.get(k) if isinstance(raw, dict) else None for k in ("key", "etag", "arrived_at")
    )
    if not (isinstance(key, str) and key.startswith("raw/") and isinstance(etag, str)):
        raise PermanentError(
            f"expected objects[{index}] of {where} to have a raw/ key and an etag, got: {raw!r}"
        )
    if not (isinstance(arrived, str) and _utc_time(arrived)):
        raise PermanentError(
            f"expected objects[{index}].arrived_at of {where} to be a UTC time like "
            f"2026-12-06T14:00:00.123Z (written by extask discover), got: {arrived!r}"
        )
    return ManifestObject(key, etag.strip('"'), arrived)


def _manifest(s3: Any, bucket: str, key: str) -> list[ManifestObject]:
    where = f"manifest s3://{bucket}/{key}"
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        objects: list[Any] = list(manifest["objects"])
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentError(f"{where} is not a batch manifest") from exc
    except Exception as exc:
        raise classify_s3(exc, f"reading {where}") from exc
    return [_object(raw, n, where) for n, raw in enumerate(objects)]


def _quarantined(s3: Any, bucket: str, obj: ManifestObject) -> str | None:
    """The reason the transform quarantined this version of the object whole, else None."""
    key = events.sidecar_key(obj.key)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise classify_s3(exc, f"reading s3://{bucket}/{key}") from exc
    try:
        sidecar = json.loads(body)
        etag, reason = str(sidecar["etag"]).strip('"'), str(sidecar["reason"])
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentError(f"expected s3://{bucket}/{key} to be a quarantine sidecar") from exc
    return reason if etag == obj.etag else None


EVENT_NAMES = ", ".join(q(n) for n, _ in events.EVENT_COLUMNS)
# The probe of server-side reading gives up fast: an S3 endpoint the server can't reach
# would otherwise cost its retries (s3_retry_attempts is 100 by default) before the fallback.
PROBE_SETTINGS = {
    "s3_retry_attempts": 1,
    "s3_connect_timeout_ms": 3000,
    "s3_request_timeout_ms": 10000,
    "max_execution_time": 30,
}


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
            self.dest.query(
                f"SELECT count() FROM {s3_function(self.s3_settings, url)}", settings=PROBE_SETTINGS
            )
        except Exception as exc:  # any failure of the probe means: load through the task
            self.ctx.log.info(
                "ClickHouse cannot read the bucket; loading through the task",
                extra={"reason": type(exc).__name__},
            )
            return False
        return True

    def load(self, obj: ManifestObject, into: str, mode: TransferMode) -> None:
        """Insert one object's events into the work table ``into``."""
        staged = events.staged_key(obj.key)
        provenance = (
            f"{literal(obj.key)}, {literal(obj.etag)}, "
            f"parseDateTime64BestEffort({literal(obj.arrived_at)}, 3, 'UTC')"
        )
        insert = (
            f"INSERT INTO {into} ({EVENT_NAMES}, `source_key`, `source_etag`, `arrived_at`) "
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
        self.ctx.log.info("object staged for the merge", extra={"key": staged, "mode": mode})

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


def _crash_hook(ctx: Context) -> Any:
    """Test hook (PYTASK_LOAD_CRASH_AFTER=work|next|replace:N): end the process at that step
    as a kill would — no cleanup, no lock release — so tests can prove a retry heals it."""
    step = ctx.env.get(f"{ENV_PREFIX}LOAD_CRASH_AFTER", "")

    def crash(at: str) -> None:
        if step and at == step:
            os._exit(137)

    return crash


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Load every staged object of the manifest, one row per event id."""
    settings = LoadSettings.from_args(args, ctx)
    database, table, mode = settings.database, settings.table, settings.mode
    s3 = settings.s3.client()
    objects = _manifest(s3, settings.bucket, settings.manifest)
    quarantined = {o.key: r for o in objects if (r := _quarantined(s3, settings.bucket, o))}
    to_load = [o for o in objects if o.key not in quarantined]
    for key, reason in quarantined.items():
        ctx.log.info(
            "object quarantined by the transform: skipped", extra={"key": key, "reason": reason}
        )

    dest = settings.dest.connect()
    target = qualified(database, table)
    dest.command(f"CREATE DATABASE IF NOT EXISTS {q(database)}")
    dest.command(events.create_table_sql(target))
    check_layout(dest, database, table, events.PARTITION_KEY)
    loader = Loader(ctx, dest, settings.s3, s3, settings.bucket, target)
    if mode is TransferMode.AUTO and to_load:
        readable = loader.server_can_read(events.staged_key(to_load[0].key))
        mode = TransferMode.SERVER if readable else TransferMode.CLIENT
    merge = LatestMerge(dest, database, table, settings.manifest, ctx.log, _crash_hook(ctx))
    report = MergeReport()
    if to_load:
        work = merge.start()
        for obj in to_load:
            loader.load(obj, work, mode)
        report = merge.finish()
    for key, counts in sorted(report.objects.items()):
        ctx.log.info("object merged", extra={"key": key, **vars(counts), "rows": counts.rows})
    names = ("new", "replaced", "unchanged", "superseded")
    return TaskResult(
        command="load",
        counts={
            "objects": len(objects),
            "objects_quarantined": len(quarantined),
            "rows": sum(c.rows for c in report.objects.values()),
            **{name: report.total(name) for name in names},
            "partitions": report.partitions,
        },
        outputs={
            "table": f"{database}.{table}",
            "mode": mode.value,
            "manifest": settings.manifest,
            "quarantined_objects": sorted(quarantined),
        },
    )
