"""What a pod task costs on the kind cluster, against `kubectl run` of the same image.

The same image and command (`rstask selfcheck`: starts, checks its config, writes a result,
exits — a few milliseconds of its own work), in the same cluster and namespace, one pod at a
time, `--tasks` of each:

* **kubectl run** (the references): `kubectl run --rm --attach --restart=Never` with the same
  restricted security context, wall time from the command's start to its exit (pod create,
  schedule, start, attach, delete) — of the task image, and of the Airflow image running
  `airflow version` (what a worker pod's own start is compared with);
* **deployed Airflow**: the DAG `platform_selfcheck` triggered through the REST API with
  `rounds = --tasks`, so the scheduler's KubernetesExecutor starts a worker pod per round and
  the worker's RustTask starts the task pod. A pod watch times each round's phases: worker
  pod seen → task started in the worker (Airflow's start_date) → task pod seen → its container
  running → terminated → task done (end_date);
* **deployed Airflow, deferrable**: the same rounds as `rounds_deferred`, the worker pod
  leaving while the task pod runs and a second one resuming the task: per task, first
  worker pod seen → task done;
* **operator alone** (`airflow dags test` on the host, no executor): a DAG of `--tasks`
  RustTasks in a chain; per task the task instance's wall time.

Overhead per task = wall time minus the container's own runtime (first to last JSON log line
of rstask). The ratios against `kubectl run` are in the same run.

Needs the cluster and the platform: `make demo` (or `make kind-up deploy`) first.

    python -m bench.pod_overhead [--tasks 6]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from platform_driver.airflow import Airflow
from platform_driver.cluster import Cluster, hack
from platform_driver.dags_test import DagsTest
from platform_driver.pods import PodRecorder, core_api

DAG = """
from datetime import datetime

from airflow.sdk import DAG, chain
from taskpods import RustTask

with DAG("pod_overhead", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    chain(*[RustTask(task_id=f"t{{i}}", command=["selfcheck"]) for i in range({n})])
"""
TS = re.compile(r'"ts":"([^"]+)"[^\n]*"tool":"rstask"')
PARSE_MS = re.compile(r'"dag_file_parse_ms": (\d+)')  # Airflow's "Worker startup parse complete"
PHASES = (
    ("worker pod start", "worker", "started"),
    ("operator: pod request", "started", "task_pod"),
    ("task pod start", "task_pod", "running"),
    ("task container", "running", "terminated"),
    ("result, logs, delete", "terminated", "ended"),
)

OVERRIDES: dict[str, Any] = {
    "spec": {
        "serviceAccountName": "polyetl-task",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "containers": [
            {
                "name": "bench",
                "image": "",  # set per run: the overrides replace the container list whole
                "imagePullPolicy": "IfNotPresent",
                "args": [],
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - in the pod
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
}


def rstask_runtime(log: str) -> float | None:
    """Seconds from rstask's first JSON line to its last in one task log."""
    stamps = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in TS.findall(log)]
    return (max(stamps) - min(stamps)).total_seconds() if stamps else None


def parse_seconds(log: str) -> float:
    """The worker's parse of the DAG file before the task ran, from the task's log."""
    found = PARSE_MS.search(log)
    if found is None:
        raise SystemExit("no 'Worker startup parse complete' line in a task log")
    return int(found.group(1)) / 1000


def operator_walls(cluster: Cluster, tag: str, n: int) -> tuple[list[float], list[float]]:
    """`airflow dags test` of a chain of n RustTasks: task walls, container runtimes."""
    with tempfile.TemporaryDirectory(prefix="pod-overhead-") as tmp:
        dags = Path(tmp) / "dags"
        dags.mkdir()
        (dags / "pod_overhead.py").write_text(DAG.format(n=n))
        airflow = DagsTest(Path(tmp) / "airflow", cluster, tag, dags_folder=dags)
        airflow.reset()
        run = airflow.test("pod_overhead", timeout=1800)
        if run.state != "success":
            raise SystemExit(f"the benchmark DAG failed:\n{run.logs[-4000:]}")
        walls = [ti.seconds for ti in run.tasks.values() if ti.seconds is not None]
        logs = (Path(tmp) / "airflow" / "logs").rglob("*.log")
        runtimes = [r for p in logs if (r := rstask_runtime(p.read_text())) is not None]
    return walls, runtimes


def kubectl_walls(cluster: Cluster, image: str, args: list[str], n: int) -> list[float]:
    """n times `kubectl run --rm --attach` of the image with these args: wall seconds each."""
    walls = []
    overrides = json.loads(json.dumps(OVERRIDES))
    overrides["spec"]["containers"][0].update(image=image, args=args)
    for i in range(n):
        name = f"bench-{int(time.time())}-{i}"
        t0 = time.monotonic()
        proc = cluster.kubectl(
            "-n",
            cluster.namespace,
            "run",
            name,
            f"--image={image}",
            "--image-pull-policy=IfNotPresent",
            "--restart=Never",
            "--rm",
            "--attach",
            "--quiet",
            f"--overrides={json.dumps(overrides)}",
            check=False,
        )
        walls.append(time.monotonic() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"kubectl run {image} failed: {proc.stderr}")
    return walls


@dataclass
class Round:
    """One `rounds` task of platform_selfcheck: when each phase began (epoch seconds)."""

    worker: float  # worker pod first seen by the watch
    started: float  # the task started in the worker (Airflow's start_date)
    task_pod: float  # task pod first seen
    running: float  # its container started (whole seconds)
    terminated: float  # … and finished (whole seconds)
    ended: float  # the task instance's end_date
    runtime: float  # rstask's own runtime, from its log lines
    parse: float  # the worker's parse of the DAG file (part of started → task_pod)

    def phase(self, start: str, end: str) -> float:
        seconds: float = getattr(self, end) - getattr(self, start)
        return seconds


def container_time(pod: dict[str, Any], which: str) -> float:
    """When the task container started or finished (its terminated state; the kubelet keeps
    whole seconds): a selfcheck runs too briefly for a watch to see it running."""
    for status in pod["status"]["containerStatuses"]:
        if status["name"] == "base":
            stamp: str = status["state"]["terminated"][which]
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    raise SystemExit(f"no base container in {pod['metadata']['name']}")


def deployed_rounds(cluster: Cluster, n: int, *, deferrable: bool = False) -> list[Round]:
    """platform_selfcheck with `rounds = n` through the deployed Airflow, timed by a watch;
    `deferrable`: its `rounds_deferred` (two worker pods per round: start, resume)."""
    task_id = "rounds_deferred" if deferrable else "rounds"
    recorder = PodRecorder(core_api(hack("kind.sh", "kubeconfig")), cluster.namespace)
    recorder.start()
    try:
        with Airflow.connect(cluster) as airflow:
            run = airflow.run("platform_selfcheck", {"rounds": n, "deferrable": deferrable})
            if run.state != "success":
                raise SystemExit(f"platform_selfcheck failed:\n{run.logs[-4000:]}")
            time.sleep(2)  # the last pods' final events
            logs = {
                index: airflow.log(run.dag_id, run.run_id, task_id, index, 1) for index in range(n)
            }
    finally:
        recorder.stop()
    rounds = []
    for index in range(n):
        ti = run.tasks[(task_id, index)]

        def mine(pod: dict[str, Any], index: int = index) -> bool:
            # Worker pods carry the exact run id as an annotation, task pods only a sanitized
            # label: both are matched by task and map index (this recorder saw only this run).
            labels = pod["metadata"].get("labels") or {}
            annotations = pod["metadata"].get("annotations") or {}
            return (
                labels.get("task_id") == task_id
                and labels.get("map_index") == str(index)
                and annotations.get("run_id", run.run_id) == run.run_id
            )

        worker = min(
            (p for p in recorder.worker_pods() if mine(p)),
            key=lambda p: recorder.seen[p["metadata"]["uid"]],
        )
        task = next(p for p in recorder.task_pods("platform_selfcheck") if mine(p))
        uid = task["metadata"]["uid"]
        if ti.start is None or ti.end is None:
            raise SystemExit(f"round {index} has no start or end: {ti}")
        rounds.append(
            Round(
                worker=recorder.seen[worker["metadata"]["uid"]],
                started=ti.start,
                task_pod=recorder.seen[uid],
                running=container_time(task, "startedAt"),
                terminated=container_time(task, "finishedAt"),
                ended=ti.end,
                runtime=rstask_runtime(logs[index]) or 0.0,
                parse=parse_seconds(logs[index]),
            )
        )
    return rounds


def row(label: str, walls: list[float], runtime: float) -> str:
    med = statistics.median(walls)
    return f"  {label:<36} {med:>8.2f} {min(walls):>6.2f} {max(walls):>6.2f} {med - runtime:>10.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=6)
    args = parser.parse_args(argv)
    cluster = Cluster()
    tag = hack("images.sh", "tag")
    hack("kind.sh", "load")  # this build's images (a no-op when loaded already)
    n = args.tasks
    task_ref = kubectl_walls(cluster, f"polyetl/rstask:{tag}", ["selfcheck"], n)
    worker_ref = kubectl_walls(cluster, f"polyetl/airflow:{tag}", ["airflow", "version"], n)
    rounds = deployed_rounds(cluster, n)
    deferred = deployed_rounds(cluster, n, deferrable=True)
    operator, runtimes = operator_walls(cluster, tag, n)
    runtime = statistics.median([r.runtime for r in rounds] + runtimes)

    print(f"\npod task overhead on kind ({cluster.name}), {n} of each, rstask selfcheck")
    print(f"  container's own runtime (median, from its log): {runtime * 1000:.0f} ms")
    print(f"  {'path (wall s per task)':<36} {'median':>8} {'min':>6} {'max':>6} {'overhead':>10}")
    print(row("kubectl run rstask (reference)", task_ref, runtime))
    print(row("kubectl run airflow version", worker_ref, 0.0))
    per_task = [r.ended - r.worker for r in rounds]
    print(row("deployed Airflow: worker pod → done", per_task, runtime))
    per_deferred = [r.ended - r.worker for r in deferred]
    print(row("  … deferrable (triggerer watches)", per_deferred, runtime))
    print(
        row("  of which in the worker (task run)", [r.ended - r.started for r in rounds], runtime)
    )
    print(row("operator alone (dags test on host)", operator, runtime))
    print("  deployed Airflow, phases of a task (median s):")
    for label, start, end in PHASES:
        print(f"    {label:<34} {statistics.median(r.phase(start, end) for r in rounds):>8.2f}")
        if start == "started":
            parse = statistics.median(r.parse for r in rounds)
            print(f"      {'of which the DAG file parse':<32} {parse:>8.2f}")
    task_med = statistics.median(task_ref) - runtime

    def ratio(walls: list[float]) -> float:
        return (statistics.median(walls) - runtime) / task_med

    in_worker = [r.ended - r.started for r in rounds]
    worker_start = [r.started - r.worker for r in rounds]
    print(
        f"  per task from the worker's task start: {ratio(in_worker):.2f}x kubectl run rstask"
        f" (target <= 1.3x); the worker pod's own start {statistics.median(worker_start):.2f} s"
        f" vs kubectl run of the Airflow image {statistics.median(worker_ref):.2f} s"
        f" ({statistics.median(worker_start) / statistics.median(worker_ref):.2f}x)"
    )
    print(
        f"  whole path, worker pod seen -> task done: {ratio(per_task):.2f}x (deferrable"
        f" {ratio(per_deferred):.2f}x); the operator alone under dags test {ratio(operator):.2f}x"
    )


if __name__ == "__main__":
    main()
