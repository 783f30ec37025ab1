"""
### S3 ingest: provider feeds into one ClickHouse events table

Sports data lands as raw objects under `raw/<provider>/…` (CSV or NDJSON, maybe gzip).

1. **discover** (`extask`) — objects not yet ingested, according to the ingest ledger in S3
   (one lookup per raw key found: the cost follows the backlog, not the history), each with
   its arrival (recorded the first time discover sees it); written as batch manifests
   (`manifests/<run>/batch-NNNN.json`: keys, sizes, ETags, arrivals), so the xcom stays small
   whatever the backlog. Nothing new → the run is skipped.
2. per batch, a mapped task group:
   - **transform** (`rstask`) — each raw object into normalised events under `staged/…`,
     bad rows to `quarantine/…` with a reason; rows in = rows out + rows quarantined. An
     object that can't be read as a whole is quarantined whole (its reason in
     `quarantine/_reasons/…`) and the rest of the batch goes on;
   - **load** (`pytask`) — staged objects into ClickHouse, one row per event id, the latest
     delivery winning, swapped in atomically per partition (a reader never sees two rows of
     an id, nor none); a re-run changes nothing; emits the Asset of the events table;
   - **archive** (`extask`) — raw objects copied to cold storage (objects quarantined whole:
     to `quarantine/_objects/…`), verified, recorded in the ledger, then deleted; refuses
     objects that changed since discover. `s3_requeue` puts a quarantined object back.

Credentials come from the Kubernetes Secrets `s3-credentials` and `clickhouse-destination`
(`S3Bucket`, `ClickHouse`: the operators turn them into each tool's env), never from this
file. Every run is idempotent: the same inputs give the same end state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, Param, task, task_group

from taskpods import (
    ClickHouse,
    ElixirTask,
    PythonTask,
    RustTask,
    S3Bucket,
    Size,
    clickhouse_name,
    image_params,
)

EVENTS_ASSET = Asset("clickhouse://clickhouse-destination/polyetl/events")
BUCKET = S3Bucket(
    "{{ params.bucket }}", endpoint="{{ params.s3_endpoint }}", region="{{ params.s3_region }}"
)
EVENTS_DB = ClickHouse("clickhouse-destination")

with DAG(
    dag_id="s3_ingest",
    description="Provider feeds from S3 into ClickHouse: discover, transform, load, archive",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["polyetl", "s3", "clickhouse"],
    # Retried twice, after the platform's delay (airflow.cfg default_task_retry_delay).
    default_args={"retries": 2},
    params={
        "bucket": Param("polyetl", type="string", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
        "providers": Param(
            [],
            type="array",
            items={"type": "string", "pattern": r"^[a-z0-9_-]+$"},
            title="Providers (all if empty)",
        ),
        "limit": Param(
            1000, type="integer", minimum=1, title="At most this many new objects per run"
        ),
        "batch_size": Param(
            50, type="integer", minimum=1, maximum=1000, title="Objects per mapped batch"
        ),
        "table": clickhouse_name("events", "ClickHouse table to load into"),
        "database": clickhouse_name("polyetl", "ClickHouse database of the table"),
        "archive_prefix": Param("archive/", type="string", pattern=r"^[a-z0-9/_-]*$"),
        "storage_class": Param("GLACIER", type="string", pattern=r"^[A-Z_]+$"),
        "s3_endpoint": Param("http://s3.polyetl.svc.cluster.local:7070", type="string"),
        "s3_region": Param("us-east-1", type="string"),
        **image_params(),
    },
) as dag:
    discover = ElixirTask(
        task_id="discover",
        command=["discover", "--run-id", "{{ run_id }}"],
        connections=[BUCKET],
        options={
            "PROVIDERS": "{{ params.providers | join(',') }}",
            "LIMIT": "{{ params.limit }}",
            "BATCH_SIZE": "{{ params.batch_size }}",
        },
    )

    @task
    def batches(discover_result: dict[str, Any]) -> list[str]:
        """The batch manifests discover wrote (`outputs.manifests`), one mapped group each."""
        manifests: list[str] = discover_result["outputs"]["manifests"]
        return manifests

    @task_group
    def ingest(manifest: str) -> None:
        transform = RustTask(
            task_id="transform",
            command=["transform", "--manifest", manifest],
            connections=[BUCKET],
            size=Size.MEDIUM,
        )
        load = PythonTask(
            task_id="load",
            command=["load", "--manifest", manifest],
            connections=[BUCKET, EVENTS_DB],
            options={"DATABASE": "{{ params.database }}", "TABLE": "{{ params.table }}"},
            outlets=[EVENTS_ASSET],
        )
        archive = ElixirTask(
            task_id="archive",
            command=["archive", "--manifest", manifest],
            connections=[BUCKET],
            options={
                "ARCHIVE_PREFIX": "{{ params.archive_prefix }}",
                "STORAGE_CLASS": "{{ params.storage_class }}",
            },
        )
        transform >> load >> archive

    ingest.expand(manifest=batches(discover.output))  # type: ignore[arg-type]  # run time
