"""
### Platform fire drill: a task that runs as long as you need, to rehearse outages

Trigger it with the conf below, then break something while the task runs — delete its
worker pod, restart the scheduler or the triggerer, scale Airflow to zero — and watch what
survives (the README's table says what should). The fault tests (`tests/e2e`) drive it the
same way.

* `language` — `python`, `rust` or `elixir`: which task image runs;
* `kind` — `pod` (a bare task pod) or `job` (a Kubernetes Job that outlives Airflow);
* `deferrable` — wait in the triggerer instead of in a worker pod;
* `hold` — seconds the task's `selfcheck --hold` keeps running;
* `fail_with` — end as the contract's `permanent` (65: failed, not retried), `transient`
  (75: retried) or `nothing-to-do` (99: skipped); empty for success.

Exactly one task runs: `choose` picks `<language>_<kind>[_deferred]`, the others are
skipped. One retry, 5 s apart, so a lost try shows its successor.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from taskpods import (
    ElixirJob,
    ElixirTask,
    PythonJob,
    PythonTask,
    RustJob,
    RustTask,
    image_params,
)

OPERATORS: dict[tuple[str, str], Any] = {
    ("python", "pod"): PythonTask,
    ("python", "job"): PythonJob,
    ("rust", "pod"): RustTask,
    ("rust", "job"): RustJob,
    ("elixir", "pod"): ElixirTask,
    ("elixir", "job"): ElixirJob,
}
FAILURES = ["", "permanent", "transient", "nothing-to-do"]


def drill_task_id(language: str, kind: str, deferrable: bool) -> str:
    """``rust_job_deferred``."""
    return f"{language}_{kind}{'_deferred' if deferrable else ''}"


with DAG(
    dag_id="platform_drill",
    description="A selfcheck held for as long as a fault drill needs, as a pod or a Job",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["polyetl", "platform"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
    params={
        "language": Param("rust", enum=["python", "rust", "elixir"]),
        "kind": Param("pod", enum=["pod", "job"]),
        "deferrable": Param(False, type="boolean"),
        "hold": Param(30, type="integer", minimum=0, maximum=3600, title="Seconds to hold"),
        "fail_with": Param("", enum=FAILURES),
        **image_params(),
    },
) as dag:

    @task
    def command(params: dict[str, Any] | None = None) -> list[list[str]]:
        """The drilled task's command line (one mapped instance)."""
        p = params or {}
        line = ["selfcheck", "--hold", str(int(p["hold"]))]
        if p["fail_with"]:
            line += ["--fail-with", str(p["fail_with"])]
        return [line]

    @task.branch
    def choose(params: dict[str, Any] | None = None) -> str:
        """Run the one task the conf names; the others are skipped."""
        p = params or {}
        return drill_task_id(str(p["language"]), str(p["kind"]), bool(p["deferrable"]))

    commands, chosen = command(), choose()
    for (language, kind), operator in OPERATORS.items():
        for deferrable in (False, True):
            drill = operator.partial(
                task_id=drill_task_id(language, kind, deferrable), deferrable=deferrable
            ).expand(command=commands)
            chosen >> drill
