"""The quick inner loop: `airflow dags test` on the host with SQLite metadata in a home of its
own, running the DAGs' operators against the cluster as the operators' service account (never
cluster admin). No scheduler, no worker pods, no UI: what a DAG author uses to try a DAG in
seconds. The main job runs through the Airflow deployed on the cluster (platform_driver.airflow)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from platform_driver.airflow import DagRun, TaskInstance, epoch
from platform_driver.cluster import REPO_ROOT, Cluster


class DagsTestError(RuntimeError):
    """An airflow CLI call failed outright (not a DAG run that failed: that is a result)."""


@dataclass
class DagsTest:
    """One Airflow home (SQLite), the repository's dags/, the cluster's namespace."""

    home: Path
    cluster: Cluster
    image_tag: str
    dags_folder: Path = REPO_ROOT / "dags"
    extra_env: dict[str, str] = field(default_factory=dict)

    @cached_property
    def kubeconfig(self) -> Path:
        """The operators' service account kubeconfig (a 24 h token), made once."""
        return self.cluster.airflow_kubeconfig()

    def env(self) -> dict[str, str]:
        kubeconfig = self.kubeconfig
        connection = {
            "conn_type": "kubernetes",
            "extra": {
                "in_cluster": False,
                "kube_config_path": str(kubeconfig),
                "namespace": self.cluster.namespace,
            },
        }
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(connection),
            "KUBECONFIG": str(kubeconfig),
            "POLYETL_IMAGE_TAG": self.image_tag,
            "POLYETL_NAMESPACE": self.cluster.namespace,
            **self.extra_env,
        }

    def cli(
        self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["airflow", *args],
            env=env or self.env(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def reset(self) -> None:
        """A fresh home: empty metadata DB, no logs."""
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        done = self.cli("db", "migrate", timeout=600)
        if done.returncode != 0:
            raise DagsTestError(f"airflow db migrate failed: {done.stderr[-3000:]}")

    def test(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 1800
    ) -> DagRun:
        """`airflow dags test <dag_id>` (one run, in this process's shell); what it did."""
        args = ["dags", "test", dag_id]
        if conf:
            args += ["--conf", json.dumps(conf)]
        with closing(self._db()) as db:
            before = {
                r for (r,) in db.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (dag_id,))
            }
        t0 = time.monotonic()
        proc = self.cli(*args, timeout=timeout)
        seconds = time.monotonic() - t0
        with closing(self._db()) as db:
            runs = [
                (run_id, state)
                for run_id, state in db.execute(
                    "SELECT run_id, state FROM dag_run WHERE dag_id = ?", (dag_id,)
                )
                if run_id not in before
            ]
            if len(runs) != 1:
                raise DagsTestError(
                    f"airflow dags test {dag_id} made {len(runs)} runs (exit {proc.returncode}):"
                    f"\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                )
            run_id, state = runs[0]
            tasks = {
                (task_id, map_index): TaskInstance(state, tries, epoch(start), epoch(end))
                for task_id, map_index, state, tries, start, end in db.execute(
                    "SELECT task_id, map_index, state, try_number, start_date, end_date "
                    "FROM task_instance WHERE dag_id = ? AND run_id = ?",
                    (dag_id, run_id),
                )
            }
            results = {
                (task_id, map_index): json.loads(value) if isinstance(value, str) else value
                for task_id, map_index, value in db.execute(
                    "SELECT task_id, map_index, value FROM xcom "
                    "WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                    (dag_id, run_id),
                )
            }
        logs = "\n".join(
            path.read_text(errors="replace")
            for path in sorted((self.home / "logs").rglob("*.log"))
            if f"run_id={run_id}" in str(path)
        )
        return DagRun(
            dag_id, run_id, state, seconds, tasks, results, f"{proc.stdout}{proc.stderr}\n{logs}"
        )

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.home / "airflow.db")
