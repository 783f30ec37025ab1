"""What the pipelines left behind, read from the services themselves: rows and checksums in
ClickHouse, objects in S3. The demo prints it; the e2e tests compare it between runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
import clickhouse_connect
from pytask.clickhouse import sync
from pytask.clickhouse.names import q
from pytask.clickhouse.partitions import Fingerprint

from platform_driver.cluster import Cluster

S3_REGION = "us-east-1"


@dataclass
class Services:
    """Clients for the platform's services, through port-forwards that live as long as this."""

    source: Any  # clickhouse_connect Client
    destination: Any
    s3: Any  # boto3 S3 client
    secrets: dict[str, dict[str, str]]


@contextmanager
def services(cluster: Cluster) -> Iterator[Services]:
    secrets = {
        name: cluster.secret(name)
        for name in ("clickhouse-source", "clickhouse-destination", "s3-credentials")
    }
    with (
        cluster.port_forward("clickhouse-source", 8123) as source_port,
        cluster.port_forward("clickhouse-destination", 8123) as dest_port,
        cluster.port_forward("s3", 7070) as s3_port,
    ):

        def clickhouse(secret: dict[str, str], port: int) -> Any:
            return clickhouse_connect.get_client(
                host="127.0.0.1",
                port=port,
                username=secret["user"],
                password=secret["password"],
                connect_timeout=30,
                send_receive_timeout=300,
            )

        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            region_name=S3_REGION,
            aws_access_key_id=secrets["s3-credentials"]["access_key_id"],
            aws_secret_access_key=secrets["s3-credentials"]["secret_access_key"],
        )
        yield Services(
            clickhouse(secrets["clickhouse-source"], source_port),
            clickhouse(secrets["clickhouse-destination"], dest_port),
            s3,
            secrets,
        )


def keys(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Key → ETag of every object under the prefix (missing bucket: none)."""
    found: dict[str, str] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    except s3.exceptions.NoSuchBucket:
        return {}
    return found


QUARANTINED_OBJECTS = "quarantine/_objects/"


def visible_from(
    svc: Services, folder: str, table: str = "polyetl.events"
) -> dict[tuple[str, str], str]:
    """(provider, event id) → source object of every visible row loaded from a raw key under
    `folder` (a delivery's own day folder): what a reader sees of that delivery."""
    rows = svc.destination.query(
        f"SELECT provider, event_id, source_key FROM {table} "
        "WHERE position(source_key, {folder:String}) > 0",
        parameters={"folder": f"/{folder}/"},
    ).result_rows
    return {(str(p), str(i)): str(k) for p, i, k in rows}


@dataclass(frozen=True)
class IngestState:
    rows_by_provider: dict[str, int]
    rows: int
    duplicates: int  # event ids with more than one visible row (must be 0)
    checksum: int
    raw: int
    staged: int
    quarantine: int
    archived: int
    quarantined_objects: list[str]  # raw keys quarantined whole (copies under quarantine/_objects/)


def ingest_state(svc: Services, bucket: str, table: str = "polyetl.events") -> IngestState:
    dest = svc.destination
    exists = int(dest.command(f"EXISTS TABLE {table}"))
    by_provider: dict[str, int] = {}
    rows = duplicates = checksum = 0
    if exists:
        by_provider = {
            str(p): int(n)
            for p, n in dest.query(
                f"SELECT provider, count() FROM {table} GROUP BY provider ORDER BY provider"
            ).result_rows
        }
        rows, duplicates, checksum = (
            int(v or 0)
            for v in dest.query(
                "SELECT count(), count() - uniqExact(provider, event_id), "
                "sumWithOverflow(cityHash64(event_id, provider, match_id, event_type, "
                f"occurred_at, team, player, odds_home, odds_draw, odds_away, score_home, "
                f"score_away, source_line, source_key)) FROM {table}"
            ).result_rows[0]
        )
    return IngestState(
        by_provider,
        rows,
        duplicates,
        checksum,
        raw=len(keys(svc.s3, bucket, "raw/")),
        staged=len(keys(svc.s3, bucket, "staged/")),
        quarantine=len(keys(svc.s3, bucket, "quarantine/")),
        quarantined_objects=sorted(
            "raw/" + k.removeprefix(QUARANTINED_OBJECTS)
            for k in keys(svc.s3, bucket, QUARANTINED_OBJECTS)
        ),
        archived=len(keys(svc.s3, bucket, "archive/")),
    )


@dataclass(frozen=True)
class TableState:
    source: Fingerprint
    destination: Fingerprint | None

    @property
    def same(self) -> bool:
        return self.source == self.destination


def sync_state(svc: Services, database: str) -> dict[str, TableState]:
    """Per source table and view (a materialized view's inner table goes with its view): its
    fingerprint on both sides (destination None: no such object)."""
    tables = [
        str(name)
        for (name,) in svc.source.query(
            "SELECT name FROM system.tables WHERE database = {db:String} "
            "AND NOT startsWith(name, '.inner') ORDER BY name",
            parameters={"db": database},
        ).result_rows
    ]
    state = {}
    for table in tables:
        dest = (
            sync.fingerprint(svc.destination, database, table)
            if sync.table_exists(svc.destination, database, table)
            else None
        )
        state[table] = TableState(sync.fingerprint(svc.source, database, table), dest)
    return state


def staging_left(svc: Services, database: str) -> bool:
    """Whether the sync left its staging database behind on the destination."""
    return bool(
        int(svc.destination.command(f"EXISTS DATABASE {q(database + '__polyetl_staging')}"))
    )
