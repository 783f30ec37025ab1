"""Airflow's own faults on the kind cluster, through the deployed Airflow: what survives a
lost worker, a drained one, a restarted scheduler or triggerer, and Airflow down altogether
(the README's "what survives what" table states what these prove).

* a worker force-deleted mid-task (node loss) or deleted gracefully (a drained node) leaves
  the task's pod running; the next try reattaches to it — the pod is never started twice —
  and collects its result; a user marking the task failed, by contrast, stops the task's
  pod at once;
* a scheduler restarted mid-run: the run completes, no task container runs twice;
* a Job outlives Airflow: every component scaled to zero and the worker force-deleted while
  it runs; it finishes on its own, and Airflow, back, records its outcome (success with its
  result; the contract's mapping for a failing one) without a second Job;
* deferrable tasks (the worker pod gone while the task pod runs, the triggerer watching):
  success, skip (99) and fail-fast (65) arrive as without deferral, with a triggerer
  restart in the middle;
* after each: no task pod, Job or worker pod of a finished try is left.

A pod watch started before each fault records every pod (finished pods are deleted), so
"started twice" is judged from what the API server saw. Every wait is bounded.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value
from kubernetes import client as k8s_client

from platform_driver.airflow import Airflow, DagRun
from platform_driver.cluster import Cluster as Platform
from platform_driver.cluster import hack
from platform_driver.pods import Pod, PodRecorder, core_api
from tests.e2e.conftest import DEPLOY_ENV, Cluster

pytestmark = pytest.mark.kind

T = TypeVar("T")
DRILL = "platform_drill"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class Drill:
    """The deployed platform, a pod watch of this module, a Batch API client."""

    platform: Platform
    recorder: PodRecorder
    batch: k8s_client.BatchV1Api

    @property
    def core(self) -> k8s_client.CoreV1Api:
        return self.recorder.api


@pytest.fixture(scope="module")
def drill(cluster: Cluster) -> Iterator[Drill]:
    platform = Platform(name=cluster.name)
    api = core_api(hack("kind.sh", "kubeconfig"))
    recorder = PodRecorder(api, platform.namespace)
    recorder.start()
    hack("deploy.sh", "apply", env=DEPLOY_ENV)  # nothing to do when the pipelines' tests ran
    try:
        yield Drill(platform, recorder, k8s_client.BatchV1Api(api.api_client))
    finally:
        recorder.stop()


# ------------------------------------------------------------------------- helpers


def until(what: str, probe: Callable[[], T | None], timeout_s: float = 180) -> T:
    """Poll `probe` every second until it returns something; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout_s:.0f} s")


def labels(pod: Pod) -> dict[str, str]:
    return pod["metadata"].get("labels") or {}


def base_running(pod: Pod) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(s["name"] == "base" and "running" in (s.get("state") or {}) for s in statuses)


def of_task(pods: list[Pod], run_id: str, task_id: str) -> list[Pod]:
    run = make_safe_label_value(run_id)
    return [
        p for p in pods if labels(p).get("run_id") == run and labels(p).get("task_id") == task_id
    ]


def task_pods(drill: Drill, run_id: str, task_id: str) -> list[Pod]:
    """The task's own pods (bare or a Job's) the watch saw, every try."""
    return of_task(drill.recorder.task_pods(), run_id, task_id)


def worker_pods(drill: Drill, run_id: str, task_id: str) -> list[Pod]:
    return of_task(drill.recorder.worker_pods(), run_id, task_id)


def trigger(drill: Drill, dag_id: str, conf: dict[str, Any]) -> str:
    with Airflow.connect(drill.platform) as airflow:
        return airflow.trigger(dag_id, conf)


def finish(drill: Drill, dag_id: str, run_id: str, timeout_s: float = 600) -> DagRun:
    with Airflow.connect(drill.platform) as airflow:
        t0 = time.monotonic()
        state = airflow.wait(dag_id, run_id, timeout_s)
        return airflow.read(dag_id, run_id, state, time.monotonic() - t0)


def drill_conf(language: str, kind: str, hold: int, **more: Any) -> dict[str, Any]:
    return {"language": language, "kind": kind, "hold": hold, **more}


def running_task_pod(drill: Drill, run_id: str, task_id: str, timeout_s: float = 180) -> Pod:
    return until(
        f"{task_id}'s task container running",
        lambda: next((p for p in task_pods(drill, run_id, task_id) if base_running(p)), None),
        timeout_s,
    )


def nothing_left(drill: Drill) -> None:
    """No task pod, Job or worker pod remains once every run has ended (a deleted Job's pod
    goes with the garbage collector: give it a little time)."""
    ns = drill.platform.namespace

    def leftovers() -> list[str]:
        pods = drill.core.list_namespaced_pod(ns).items
        jobs = drill.batch.list_namespaced_job(ns, label_selector="polyetl.io/task").items
        return [
            *(
                f"pod/{p.metadata.name}"
                for p in pods
                if {"polyetl.io/task", "kubernetes_executor"} & set(p.metadata.labels or {})
            ),
            *(f"job/{j.metadata.name}" for j in jobs),
        ]

    deadline = time.monotonic() + 60
    while (left := leftovers()) and time.monotonic() < deadline:
        time.sleep(2)
    assert left == [], "left behind by finished tries"


def delete_pod(drill: Drill, pod: Pod, grace_s: int | None) -> None:
    drill.core.delete_namespaced_pod(
        pod["metadata"]["name"], drill.platform.namespace, grace_period_seconds=grace_s
    )


def worker_of(drill: Drill, task_pod: Pod) -> Pod:
    """The worker pod of the try that made this task pod."""
    names = ("dag_id", "task_id", "run_id", "try_number", "map_index")  # map_index: if mapped
    want = {k: labels(task_pod).get(k) for k in names}
    return until(
        f"worker of {task_pod['metadata']['name']}",
        lambda: next(
            (
                p
                for p in drill.recorder.worker_pods()
                if all(labels(p).get(k) == v for k, v in want.items())
            ),
            None,
        ),
        30,
    )


def scale(drill: Drill, replicas: int) -> None:
    names = [f"deployment/airflow-{c}" for c in COMPONENTS]
    drill.platform.kubectl(
        "-n", drill.platform.namespace, "scale", f"--replicas={replicas}", *names
    )
    for name in names:
        if replicas:
            drill.platform.kubectl(
                "-n",
                drill.platform.namespace,
                "rollout",
                "status",
                name,
                "--timeout=300s",
                timeout=330,
            )


# -------------------------------------------------------------------------- tests


def test_a_lost_or_drained_worker_leaves_its_pod_but_a_user_kill_stops_it(drill: Drill) -> None:
    # Two runs at once, each task holding 20 s: one worker force-deleted (node loss), the
    # other deleted gracefully (a drained node), both while their task's container runs.
    lost = trigger(drill, DRILL, drill_conf("elixir", "pod", 20))
    drained = trigger(drill, DRILL, drill_conf("rust", "pod", 20))
    lost_pod = running_task_pod(drill, lost, "elixir_pod")
    drained_pod = running_task_pod(drill, drained, "rust_pod")
    delete_pod(drill, worker_of(drill, lost_pod), 0)
    delete_pod(drill, worker_of(drill, drained_pod), None)

    for run_id, task_id in ((lost, "elixir_pod"), (drained, "rust_pod")):
        run = finish(drill, DRILL, run_id)
        assert run.state == "success", run.logs[-5000:]
        assert run.tasks[(task_id, 0)].try_number == 2  # the worker's try was lost
        assert len(task_pods(drill, run_id, task_id)) == 1  # the second try reattached
        assert run.results_of(task_id)[0]["outputs"]["held_s"] == 20
        assert "Reusing existing pod" in run.logs
    # the drained worker, told to stop, saw its own pod being deleted and left the task's pod be
    uid = drained_pod["metadata"]["uid"]
    annotations = drill.recorder.snapshot()[uid]["metadata"]["annotations"]
    assert annotations["polyetl.io/worker-left"].startswith("platform-drill-rust-pod-")

    # A user marks the task failed: its pod is stopped, no retry runs it again.
    killed = trigger(drill, DRILL, drill_conf("python", "pod", 120))
    pod = running_task_pod(drill, killed, "python_pod")
    marked = time.monotonic()
    with Airflow.connect(drill.platform) as airflow:
        airflow.call(
            "PATCH",
            f"{airflow.run_path(DRILL, killed, 'python_pod')}/0",
            {"new_state": "failed"},
        )
    uid = pod["metadata"]["uid"]
    until(
        "the task pod stopped after the user's kill",
        lambda: drill.recorder.snapshot()[uid]["metadata"].get("deletionTimestamp"),
        60,
    )
    assert time.monotonic() - marked < 60
    run = finish(drill, DRILL, killed)
    assert run.state == "failed"
    assert run.tasks[("python_pod", 0)].try_number == 1
    assert len(task_pods(drill, killed, "python_pod")) == 1
    nothing_left(drill)


def test_a_scheduler_restarted_mid_run_runs_no_container_twice(drill: Drill) -> None:
    run_id = trigger(drill, "platform_selfcheck", {"rounds": 4})
    until("a selfcheck round running", lambda: task_pods(drill, run_id, "rounds"), 300)
    drill.platform.kubectl(
        "-n", drill.platform.namespace, "rollout", "restart", "deployment/airflow-scheduler"
    )
    drill.platform.kubectl(
        "-n",
        drill.platform.namespace,
        "rollout",
        "status",
        "deployment/airflow-scheduler",
        "--timeout=300s",
        timeout=330,
    )
    run = finish(drill, "platform_selfcheck", run_id)

    assert run.state == "success", run.logs[-5000:]
    started: dict[tuple[str, str, str], int] = {}
    for pod in drill.recorder.task_pods("platform_selfcheck"):
        if labels(pod)["run_id"] == make_safe_label_value(run_id):
            key = (
                labels(pod)["task_id"],
                labels(pod).get("map_index", "-1"),
                labels(pod)["try_number"],
            )
            started[key] = started.get(key, 0) + 1
    assert len(started) == 7  # python, rust, elixir, 4 rounds
    assert set(started.values()) == {1}, started  # no container of a try ran twice
    nothing_left(drill)


def test_a_job_outlives_airflow_and_is_collected_when_airflow_is_back(drill: Drill) -> None:
    ok = trigger(drill, DRILL, drill_conf("rust", "job", 25))
    bad = trigger(drill, DRILL, drill_conf("python", "job", 25, fail_with="permanent"))
    jobs = {ok: "rust_job", bad: "python_job"}
    pods = {run_id: running_task_pod(drill, run_id, task) for run_id, task in jobs.items()}
    workers = [worker_of(drill, pod) for pod in pods.values()]

    scale(drill, 0)  # Airflow down: api-server, scheduler, dag-processor, triggerer
    for worker in workers:  # and the workers lost with their node
        delete_pod(drill, worker, 0)
    ns = drill.platform.namespace

    def finished(name: str) -> bool:
        status = drill.batch.read_namespaced_job(name, ns).status
        return bool(status.succeeded or status.failed)

    for pod in pods.values():
        name = labels(pod)["job-name"]
        until(f"Job {name} finished with Airflow down", functools.partial(finished, name), 180)
    scale(drill, 1)
    good, failed = finish(drill, DRILL, ok), finish(drill, DRILL, bad)

    assert good.state == "success", good.logs[-5000:]
    assert good.results_of("rust_job")[0]["outputs"]["held_s"] == 25
    assert good.tasks[("rust_job", 0)].try_number >= 2  # collected by a later try
    assert failed.state == "failed"
    assert "exited 65 (permanent): retrying cannot help" in failed.logs
    for run_id, task in jobs.items():
        made = {labels(p)["job-name"] for p in task_pods(drill, run_id, task)}
        assert len(made) == 1, f"{task}: Jobs {made}"  # waited for, never made twice
    nothing_left(drill)


def test_deferred_tasks_report_success_skip_and_failure_across_a_triggerer_restart(
    drill: Drill,
) -> None:
    cases = {
        "rust_job_deferred": drill_conf("rust", "job", 25, deferrable=True),
        "python_pod_deferred": drill_conf(
            "python", "pod", 25, deferrable=True, fail_with="nothing-to-do"
        ),
        "elixir_pod_deferred": drill_conf(
            "elixir", "pod", 25, deferrable=True, fail_with="permanent"
        ),
    }
    runs = {task: trigger(drill, DRILL, conf) for task, conf in cases.items()}
    for task, run_id in runs.items():
        running_task_pod(drill, run_id, task)
    with Airflow.connect(drill.platform) as airflow:
        until(
            "every drilled task deferred",
            lambda: all(
                ti["state"] == "deferred"
                for task, run_id in runs.items()
                for ti in airflow.task_instances(DRILL, run_id)
                if ti["task_id"] == task
            ),
            60,
        )
    drill.platform.kubectl(
        "-n", drill.platform.namespace, "rollout", "restart", "deployment/airflow-triggerer"
    )
    done = {task: finish(drill, DRILL, run_id) for task, run_id in runs.items()}

    success = done["rust_job_deferred"]
    assert success.state == "success", success.logs[-5000:]
    assert success.results_of("rust_job_deferred")[0]["outputs"]["held_s"] == 25
    with Airflow.connect(drill.platform) as airflow:  # the resumed part is uploaded last
        until(
            "the task's own log lines, fetched on resuming, in the try's log",
            lambda: (
                '"msg":"selfcheck done"'
                in airflow.log(DRILL, success.run_id, "rust_job_deferred", 0, 1)
            ),
            60,
        )
    assert done["python_pod_deferred"].states_of("python_pod_deferred") == ["skipped"]
    failed = done["elixir_pod_deferred"]
    assert failed.states_of("elixir_pod_deferred") == ["failed"]
    assert failed.tasks[("elixir_pod_deferred", 0)].try_number == 1  # 65: not retried
    for task, run_id in runs.items():
        assert len(task_pods(drill, run_id, task)) == 1
        # deferred: one worker pod to start the task, another to resume it — none in between
        assert len(worker_pods(drill, run_id, task)) == 2, task
    nothing_left(drill)
