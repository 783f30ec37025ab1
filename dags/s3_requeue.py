"""
### S3 requeue: put objects the ingest quarantined whole back under raw/

`s3_ingest` quarantines an object it can't read as a whole (corrupt gzip, bad header, unknown
provider, …): its bytes go to `quarantine/_objects/<provider>/<path>`, the reason to
`quarantine/_reasons/<provider>/<path>.json`, and the ledger records it so discover never
offers it again. Once the cause is fixed (the provider's mapping added or corrected, say),
trigger this DAG with the raw keys to retry:

    {"objects": ["raw/acme/2026/11/23/feed-0005.csv.gz"]}

**requeue** (`extask`) copies each object back to its raw key, verifies the copy, forgets it in
the ledger and removes the quarantine copy and reason — crash-safe: a re-run finishes an
interrupted one. The object keeps its original arrival, so it never beats a correction that
arrived after it. The next `s3_ingest` run transforms it again. A key that is not
quarantined fails the task (nothing changed for it) after the others are put back.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from taskpods import ElixirTask, S3Bucket, image_params

BUCKET = S3Bucket(
    "{{ params.bucket }}", endpoint="{{ params.s3_endpoint }}", region="{{ params.s3_region }}"
)

with DAG(
    dag_id="s3_requeue",
    description="Put objects s3_ingest quarantined whole back under raw/ for a retry",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["polyetl", "s3"],
    # Retried twice, after the platform's delay (airflow.cfg default_task_retry_delay).
    default_args={"retries": 2},
    params={
        "objects": Param(
            [],
            type="array",
            minItems=1,
            items={"type": "string", "pattern": r"^raw/[^/\n]+/[^\n]+$"},
            title="Raw keys of quarantined objects",
        ),
        "bucket": Param("polyetl", type="string", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
        "s3_endpoint": Param("http://s3.polyetl.svc.cluster.local:7070", type="string"),
        "s3_region": Param("us-east-1", type="string"),
        **image_params(),
    },
) as dag:
    ElixirTask(
        task_id="requeue",
        command=["requeue"],
        connections=[BUCKET],
        # one key per line: S3 keys may hold commas
        options={"OBJECT": "{{ params.objects | join('\\n') }}"},
    )
