"""
### Platform self-check: every task image, run the way the pipelines run them

"Does this deployment work?" in one run, before any data is touched:

1. **python**, **rust**, **elixir** — one `selfcheck` pod per language (`pytask`, `rstask`,
   `extask`): image resolution and the registry allowlist, the restricted pod, the task's
   JSON log lines streamed into this task's log, its result as xcom, its exit code;
2. **rounds** — `rounds` more `rstask selfcheck` pods, one after another. A selfcheck does a
   few milliseconds of work, so each round's time is what a pod task costs on this platform
   (worker pod, task pod, log streaming, result, clean-up): `make bench-pods` triggers this
   DAG and times those rounds against `kubectl run` of the same image. With `deferrable`,
   they run as `rounds_deferred`: each worker pod leaves while its task pod runs, the
   triggerer watches it, and a second worker pod resumes the task — what deferral costs.

No credentials, no services: it needs only the images and the cluster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, chain, task

from taskpods import ElixirTask, PythonTask, RustTask, image_params

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
        "deferrable": Param(
            False, type="boolean", title="Rounds deferred (rounds_deferred instead of rounds)"
        ),
        **image_params(),
    },
) as dag:
    checks = [
        PythonTask(task_id="python", command=["selfcheck"]),
        RustTask(task_id="rust", command=["selfcheck"]),
        ElixirTask(task_id="elixir", command=["selfcheck"]),
    ]

    def commands(params: dict[str, Any] | None, deferred: bool) -> list[list[str]]:
        p = params or {}
        return [["selfcheck"]] * int(p["rounds"]) if bool(p["deferrable"]) is deferred else []

    @task
    def round_commands(params: dict[str, Any] | None = None) -> list[list[str]]:
        """One `selfcheck` command line per round (none when the rounds are deferred)."""
        return commands(params, deferred=False)

    @task
    def deferred_round_commands(params: dict[str, Any] | None = None) -> list[list[str]]:
        """The same, for deferred rounds."""
        return commands(params, deferred=True)

    rounds = RustTask.partial(task_id="rounds", max_active_tis_per_dagrun=1).expand(
        command=round_commands()
    )
    deferred_rounds = RustTask.partial(
        task_id="rounds_deferred", deferrable=True, max_active_tis_per_dagrun=1
    ).expand(command=deferred_round_commands())
    chain(checks, rounds)
    chain(checks, deferred_rounds)
