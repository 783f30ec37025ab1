"""Task Jobs (taskpods.jobs): the result handed over through a native sidecar, a Job per try."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG
from kubernetes.client import ApiClient

from taskpods import PythonJob
from tests.taskpods.conftest import TAG, settings

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_a_job_hands_its_result_over_through_a_native_sidecar_and_is_named_per_try(
    tmp_path: Path,
) -> None:
    # Building a Job (not a dry run) makes an API client, never a request: any address does.
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    with DAG("jobs"):
        task = PythonJob(
            task_id="long.copy",
            command=["copy"],
            settings=settings(job_ttl_s=7200),
            config_file=str(tmp_path / "kubeconfig"),
        )
    context: Any = {
        "ti": type(
            "TI", (), {"dag_id": "jobs", "task_id": "long.copy", "map_index": 3, "try_number": 2}
        )(),
        "run_id": "manual__2026-12-06T08:00:00+00:00",
        "dag": task.dag,
    }
    task.image = f"docker.io/polyetl/pytask:{TAG}"
    job = ApiClient().sanitize_for_serialization(task.build_job_request_obj(context))
    spec = job["spec"]["template"]["spec"]
    # the task container alone among the regular containers: the pod completes when it exits
    assert [c["name"] for c in spec["containers"]] == ["base"]
    (keeper,) = spec["initContainers"]
    assert keeper["restartPolicy"] == "Always"  # a native sidecar, stopped by the kubelet
    assert keeper["image"] == f"docker.io/polyetl/xcom-sidecar:{TAG}"
    assert "cat /airflow/xcom/return.json" in keeper["command"][-1]
    assert {"name": "xcom", "mountPath": "/airflow/xcom"}.items() <= keeper["volumeMounts"][
        0
    ].items()
    assert job["spec"]["backoffLimit"] == 0  # retries are Airflow's
    assert job["spec"]["ttlSecondsAfterFinished"] == 7200
    # found again by the next try: the try's labels on the Job, a name of the try's own
    labels = job["metadata"]["labels"]
    assert (labels["try_number"], labels["map_index"], labels["polyetl.io/task"]) == (
        "2",
        "3",
        "long.copy",
    )
    assert job["spec"]["template"]["metadata"]["labels"]["polyetl.io/language"] == "python"
    name = job["metadata"]["name"]
    assert name.startswith("job-long-copy-")
    assert len(name) <= 63
    context["ti"].try_number = 3
    assert task.build_job_request_obj(context).metadata.name != name
