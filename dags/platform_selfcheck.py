"""
### Platform self-check: every task image, run the way the pipelines run them

"Does this deployment work?" in one run, before any data is touched:

1. **python**, **rust**, **elixir** — one `selfcheck` pod per language (`pytask`, `rstask`,
   `extask`): image resolution and the registry allowlist, the restricted pod, the task's
   JSON log lines streamed into this task's log, its result as xcom, its exit code;
2. **rounds** — `rounds` more `rstask selfcheck` pods, one after another. A selfcheck does a
   few milliseconds of work, so each round's time is what a pod task costs on this platform
   (worker pod, task pod, log streaming, result, clean-up): `make bench-pods` triggers this
   DAG and times those rounds against `kubectl run` of the same image.

No credentials, no services: it needs only the images and the cluster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, chain, task

from taskpods import ElixirTask, PythonTask, RustTask, image_params, task_args

with DAG(
    dag_id="platform_selfcheck",
    description="Every task image runs as a pod, logs, returns a result; per-task timing rounds",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["polyetl", "platform"],
    params={
        "rounds": Param(
            1, type="integer", minimum=1, maximum=50, title="Timed rstask selfchecks, in series"
        ),
        **image_params(),
    },
) as dag:
    checks = [
        PythonTask(task_id="python", command=["selfcheck"]),
        RustTask(task_id="rust", command=["selfcheck"]),
        ElixirTask(task_id="elixir", command=["selfcheck"]),
    ]

    @task
    def round_commands(params: dict[str, Any] | None = None) -> list[list[str]]:
        """One `selfcheck` command line per round."""
        return [task_args(["selfcheck"])] * int((params or {})["rounds"])

    rounds = RustTask.partial(task_id="rounds", max_active_tis_per_dagrun=1).expand(
        arguments=round_commands()
    )
    chain(checks, rounds)
