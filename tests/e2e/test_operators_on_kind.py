"""The language operators under Airflow itself (`airflow dags test`, SQLite metadata) against
the kind cluster: real pods of each task image, and the contract's exit codes becoming
Airflow's outcomes — success, skipped, failed without retries, retried then failed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contract.harness import image_refs
from tests.e2e.conftest import KIND_SCRIPT, REPO_ROOT, Cluster

pytestmark = pytest.mark.kind

PROBE_DAG = """
from datetime import datetime, timedelta

from airflow.sdk import DAG
from taskpods import ElixirTask, PythonTask, RustTask

with DAG("probe", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    RustTask(task_id="ok", command=["selfcheck"])
    PythonTask(task_id="nothing", command=["selfcheck", "--fail-with", "nothing-to-do"])
    ElixirTask(task_id="permanent", command=["selfcheck", "--fail-with", "permanent"], retries=3)
    RustTask(task_id="transient", command=["selfcheck", "--fail-with", "transient"],
             retries=1, retry_delay=timedelta(seconds=1))
"""


def airflow(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["airflow", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_output(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON a `-o json` command printed (Airflow may print warnings before it)."""
    lines = proc.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("[")), None)
    assert start is not None, f"no JSON in: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    result: list[dict[str, Any]] = json.loads("\n".join(lines[start:]))
    return result


def test_exit_codes_become_airflow_outcomes(cluster: Cluster, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "probe.py").write_text(PROBE_DAG)
    tag = image_refs()["rust"].rsplit(":", 1)[1]
    kubeconfig = subprocess.run(
        [str(KIND_SCRIPT), "kubeconfig"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
            {"conn_type": "kubernetes", "extra": {"in_cluster": False}}
        ),
        "KUBECONFIG": kubeconfig,
        "POLYETL_IMAGE_TAG": tag,
        "POLYETL_NAMESPACE": cluster.namespace,
    }
    migrated = airflow(["db", "migrate"], env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    ran = airflow(["dags", "test", "probe"], env, timeout=900)
    runs = json_output(airflow(["dags", "list-runs", "probe", "-o", "json"], env, timeout=120))
    assert len(runs) == 1, ran.stdout[-3000:]
    states = json_output(
        airflow(
            ["tasks", "states-for-dag-run", "probe", runs[0]["run_id"], "-o", "json"],
            env,
            timeout=120,
        )
    )
    by_task = {s["task_id"]: s for s in states}
    assert by_task["ok"]["state"] == "success"
    assert by_task["nothing"]["state"] == "skipped"
    assert by_task["permanent"]["state"] == "failed"
    assert by_task["transient"]["state"] == "failed"
    log = ran.stdout + ran.stderr
    assert '"msg":"selfcheck done"' in log  # the task's own JSON log lines reach the Airflow log
    assert "not retried" in log  # permanent: AirflowFailException from the operator
    # the transient failure was retried (a second try ran), the permanent one was not
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        tries = dict(
            db.execute("SELECT task_id, try_number FROM task_instance WHERE dag_id = 'probe'")
        )
    assert (tries["permanent"], tries["transient"]) == (1, 2)
    # every pod was cleaned up
    pods = cluster.kubectl(
        "-n", cluster.namespace, "get", "pods", "-l", "polyetl.io/pipeline=probe", "-o", "name"
    )
    assert pods.stdout.strip() == ""
