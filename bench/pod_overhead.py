"""What Airflow's pod operators add per task, on the kind cluster, against `kubectl run`.

The same image and command (`rstask selfcheck`: starts, checks its config, writes a result,
exits — a few milliseconds of its own work), in the same cluster and namespace, one pod at a
time:

* **Airflow**: a DAG of `--tasks` RustTasks in a chain, run by `airflow dags test` as the
  operators' service account (the same path as `make demo`). Per task: the task instance's
  wall time (Airflow's start → end: render, pod create, schedule, pull-free start, log
  streaming, the xcom sidecar read, pod delete);
* **kubectl run**: `kubectl run --rm --attach --restart=Never` of the same image with the same
  restricted security context, wall time from the command's start to its exit (pod create,
  schedule, start, attach, delete).

Overhead per task = wall time minus the container's own runtime (first to last JSON log line of
rstask, measured in the task log). The ratio Airflow / kubectl run is the cost of the
operator's extra steps (sidecar, xcom exec, log stream, polling).

Needs the cluster and the platform: `make kind-up deploy` (or `make demo`) first.

    python -m bench.pod_overhead [--tasks 6]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from polyetl.cluster import Cluster, hack
from polyetl.dags_test import DagsTest

DAG = """
from datetime import datetime

from airflow.sdk import DAG, chain
from taskpods import RustTask

with DAG("pod_overhead", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    chain(*[RustTask(task_id=f"t{{i}}", command=["selfcheck"]) for i in range({n})])
"""
TS = re.compile(r'"ts":"([^"]+)"[^\n]*"tool":"rstask"')

OVERRIDES = {
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
                "args": ["selfcheck"],
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


def container_runtimes(logs: Path) -> list[float]:
    """Per task log file: seconds from rstask's first JSON line to its last."""
    runtimes = []
    for path in sorted(logs.rglob("*.log")):
        stamps = [
            datetime.fromisoformat(t.replace("Z", "+00:00")) for t in TS.findall(path.read_text())
        ]
        if stamps:
            runtimes.append((max(stamps) - min(stamps)).total_seconds())
    return runtimes


def airflow_walls(cluster: Cluster, tag: str, n: int) -> tuple[list[float], float]:
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
        runtimes = container_runtimes(Path(tmp) / "airflow" / "logs")
    return walls, statistics.median(runtimes) if runtimes else 0.0


def kubectl_walls(cluster: Cluster, tag: str, n: int) -> list[float]:
    walls = []
    overrides = json.loads(json.dumps(OVERRIDES))
    overrides["spec"]["containers"][0]["image"] = f"polyetl/rstask:{tag}"
    for i in range(n):
        name = f"bench-{int(time.time())}-{i}"
        t0 = time.monotonic()
        proc = cluster.kubectl(
            "-n",
            cluster.namespace,
            "run",
            name,
            f"--image=polyetl/rstask:{tag}",
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
            raise SystemExit(f"kubectl run failed: {proc.stderr}")
    return walls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=6)
    args = parser.parse_args(argv)
    cluster = Cluster()
    tag = hack("images.sh", "tag")
    hack("kind.sh", "load")  # this build's images (a no-op when loaded already)
    kubectl = kubectl_walls(cluster, tag, args.tasks)
    airflow, runtime = airflow_walls(cluster, tag, args.tasks)
    k_med, a_med = statistics.median(kubectl), statistics.median(airflow)
    print(f"\npod task overhead on kind ({cluster.name}), {args.tasks} pods each, rstask selfcheck")
    print(f"  container's own runtime (median, from its log): {runtime * 1000:.0f} ms")
    print(f"  {'path':<28} {'median wall s':>14} {'min':>6} {'max':>6} {'overhead s':>11}")
    for label, walls, med in (
        ("kubectl run --rm --attach", kubectl, k_med),
        ("Airflow RustTask", airflow, a_med),
    ):
        print(
            f"  {label:<28} {med:>14.2f} {min(walls):>6.2f} {max(walls):>6.2f} "
            f"{med - runtime:>11.2f}"
        )
    print(f"  Airflow / kubectl run: {(a_med - runtime) / (k_med - runtime):.2f}x")


if __name__ == "__main__":
    main()
