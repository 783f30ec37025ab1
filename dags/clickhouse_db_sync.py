"""
### ClickHouse database sync, with no downtime on the destination

Copies database `database` from the **source** server to the **destination** server. The
classic recipe drops the destination database and refills it — downtime, and a half-empty
database if anything fails. This one never exposes a partial destination:

1. **plan** — list the source tables to copy and the views to recreate (include/skip
   patterns; what is left out is listed with its reason), row counts and sizes;
2. **prepare** — a staging database on the destination with the source schemas;
3. **copy** — one task per table; a partitioned table partition by partition, each verified
   and recorded, so a failed copy resumes where it stopped (server-side `INSERT … SELECT FROM
   remote()` when the destination can reach the source, else client-side streaming);
4. **verify** — row counts and order-independent checksums, source vs staging, naming the
   partitions that differ;
5. **swap** — `EXCHANGE TABLES` per table (atomic), old copies dropped; a re-run finishes a
   partial swap;
6. **views** — views, materialized views (with their data) and dictionaries recreated in
   dependency order, each replaced atomically;
7. **cleanup** — staging leftovers dropped.

Any database or table name works: names travel as JSON arrays and are quoted in every query.

Connections are Kubernetes Secrets named by the Params `source` and `destination`, with keys
`host`, `port`, `user`, `password` — never values in this file. Every step is `pytask`
(tasks/python) in its own pod; exit codes follow docs/task-contract.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from taskpods import ClickHouse, PythonTask, Size, clickhouse_name, image_params

# Connections are Secrets named by the Params; TLS per side from the Params too.
CONNECTIONS = [
    ClickHouse(
        "{{ params.source }}",
        role="SOURCE",
        secure="{{ params.source_secure | lower }}",
        verify="{{ params.source_verify | lower }}",
    ),
    ClickHouse(
        "{{ params.destination }}",
        secure="{{ params.destination_secure | lower }}",
        verify="{{ params.destination_verify | lower }}",
    ),
]

# Run options: pytask's settings (the contract's flag fallbacks), rendered from the Params.
OPTIONS = {
    "DATABASE": "{{ params.database }}",
    "STAGING_DATABASE": "{{ params.database }}__polyetl_staging",
    "INCLUDE": "{{ params.include | tojson }}",
    "SKIP": "{{ params.skip | tojson }}",
    "PATTERN_SYNTAX": "{{ params.pattern_syntax }}",
    "COPY_MODE": "{{ params.copy_mode }}",
    "EXECUTE_ON": "{{ params.execute_on }}",
    "PARALLEL": "{{ params.parallel }}",
}

# The plan's lists, as JSON arrays: a name may hold a comma, a quote or a newline.
PLANNED_TABLES = "{{ ti.xcom_pull(task_ids='plan')['outputs']['tables'] | tojson }}"
PLANNED_VIEWS = "{{ ti.xcom_pull(task_ids='plan')['outputs']['views'] | tojson }}"

with DAG(
    dag_id="clickhouse_db_sync",
    description="Zero-downtime ClickHouse sync: plan, prepare, copy, verify, swap, cleanup",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["polyetl", "clickhouse"],
    # Retried twice, after the platform's delay (airflow.cfg default_task_retry_delay).
    default_args={"retries": 2},
    params={
        "source": Param(
            "clickhouse-source", type="string", minLength=1, title="Source connection (Secret name)"
        ),
        "destination": Param(
            "clickhouse-destination",
            type="string",
            minLength=1,
            title="Destination connection (Secret name)",
        ),
        "database": clickhouse_name("analytics", "Database to sync (any name)"),
        "include": Param(
            [], type="array", items={"type": "string"}, title="Only tables matching these"
        ),
        "skip": Param(
            [], type="array", items={"type": "string"}, title="Never tables matching these"
        ),
        "pattern_syntax": Param("glob", enum=["glob", "regex"]),
        "copy_mode": Param("auto", enum=["auto", "server", "client"]),
        "execute_on": Param(
            "destination",
            enum=["destination", "source"],
            title="Server running server-side copies",
        ),
        "parallel": Param(
            2,
            type="integer",
            minimum=1,
            maximum=64,
            title="Partitions of one table copied at a time",
        ),
        "source_secure": Param(False, type="boolean"),
        "source_verify": Param(True, type="boolean"),
        "destination_secure": Param(False, type="boolean"),
        "destination_verify": Param(True, type="boolean"),
        **image_params(),
    },
) as dag:
    common: dict[str, Any] = {"connections": CONNECTIONS, "options": OPTIONS}
    # After plan, every step works on exactly the tables it planned.
    planned: dict[str, Any] = {**common, "options": {**OPTIONS, "TABLES": PLANNED_TABLES}}

    plan = PythonTask(task_id="plan", command=["plan"], **common)
    prepare = PythonTask(task_id="prepare", command=["prepare"], **planned)

    @task
    def copy_commands(plan_result: dict[str, Any]) -> list[list[str]]:
        """One `copy --table T` per planned table (the plan's `outputs.tables`)."""
        return [["copy", "--table", table] for table in plan_result["outputs"]["tables"]]

    copy = PythonTask.partial(task_id="copy", size=Size.MEDIUM, **common).expand(
        command=copy_commands(plan.output)  # type: ignore[arg-type]  # resolved at run time
    )
    verify = PythonTask(task_id="verify", command=["verify"], **planned)
    swap = PythonTask(task_id="swap", command=["swap"], **planned)
    views = PythonTask(
        task_id="views",
        command=["views"],
        connections=CONNECTIONS,
        options={**OPTIONS, "VIEWS": PLANNED_VIEWS},
    )
    cleanup = PythonTask(task_id="cleanup", command=["cleanup"], **common)

    plan >> prepare >> copy >> verify >> swap >> views >> cleanup
