"""The task pod (taskpods.pod): image resolution and the allowlist at run time, the pod's
defaults and command line, and how a finished task's exit code is raised to Airflow."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes.client import models as k8s

from taskpods import ElixirTask, PythonJob, RustTask, SecretEnv, Size
from taskpods.pod import SIDECAR_SCRIPT, raise_by_contract, start_wait_over
from tests.taskpods.conftest import TAG, render, settings


def test_resolution_order_params_then_variable_then_setting() -> None:
    with DAG("resolve"):
        task = RustTask(task_id="t", command=["selfcheck"], settings=settings())
    assert str(task.resolve_image({}, None)) == f"docker.io/polyetl/rstask:{TAG}"
    assert task.resolve_image({}, "fromvariable").version == "fromvariable"
    assert task.resolve_image({"image_tag": "fromparam"}, "fromvariable").version == "fromparam"
    full = task.resolve_image({"images": {"rust": "docker.io/team/rstask:v2"}}, "x")
    assert str(full) == "docker.io/team/rstask:v2"


def test_override_outside_the_allowlist_fails_before_any_pod() -> None:
    with DAG("allowlist"):
        task = RustTask(task_id="t", command=["selfcheck"], settings=settings())
    context: Any = {"params": {"images": {"rust": "evil.example.com/rstask:1"}}}
    # No Kubernetes config exists in this test: had the operator tried to create a pod, the
    # error would be a kubernetes ConfigException, not this.
    with pytest.raises(
        AirflowFailException, match=r"allowed registry \(docker.io\).*evil.example.com"
    ):
        task.prepare_run(context, None)
    with pytest.raises(AirflowFailException, match='got: "latest"'):
        task.prepare_run({"params": {"image_tag": "latest"}}, None)


def test_no_version_anywhere_is_a_clear_failure() -> None:
    with DAG("noversion"):
        task = ElixirTask(task_id="t", command=["selfcheck"], settings=settings(image_version=None))
    with pytest.raises(
        AirflowFailException, match="POLYETL_IMAGE_TAG, the Variable polyetl_image_tag"
    ):
        task.prepare_run({"params": {}}, None)


def test_prepare_run_renders_secret_names_and_task_args_override() -> None:
    with DAG("render", params={"source": "ch-a"}):
        task = RustTask(
            task_id="t",
            command=["selfcheck"],
            secrets=[SecretEnv("RSTASK_DB_PASSWORD", "{{ params.source }}", "password")],
            settings=settings(),
        )
    task.prepare_run(
        {
            "params": {
                "source": "ch-a",
                "task_args": {"t": ["selfcheck", "--fail-with", "transient"]},
            }
        },
        None,
    )
    pod = render(task)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["RSTASK_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "ch-a",
        "key": "password",
    }
    assert pod["spec"]["containers"][0]["args"] == [
        "selfcheck",
        "--fail-with",
        "transient",
        "--result-file",
        "/airflow/xcom/return.json",
    ]


def test_node_pool_sets_affinity_and_toleration() -> None:
    with DAG("pool"):
        task = PythonJob(
            task_id="t", command=["plan"], size="large", settings=settings(node_pool="etl")
        )
    spec = render(task)["spec"]
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "polyetl.io/node-pool", "operator": "In", "values": ["etl"]}
    ]
    assert spec["tolerations"] == [
        {"key": "polyetl.io/node-pool", "operator": "Equal", "value": "etl", "effect": "NoSchedule"}
    ]
    assert spec["containers"][0]["resources"]["limits"]["memory"] == "4Gi"
    assert task.backoff_limit == 0  # retries stay Airflow's, so exit codes keep their meaning


def test_the_provider_polls_a_long_start_each_second_and_a_task_may_say_otherwise() -> None:
    """After the start watch, the provider checks a starting pod every 5 s unless told; a
    task's own value wins."""
    with DAG("startup"):
        quick = RustTask(task_id="quick", command=["selfcheck"], settings=settings())
        patient = RustTask(
            task_id="patient",
            command=["selfcheck"],
            settings=settings(),
            startup_check_interval_seconds=10,
        )
        job = PythonJob(task_id="job", command=["plan"], settings=settings())
    assert quick.startup_check_interval_seconds == 1
    assert patient.startup_check_interval_seconds == 10
    assert job.startup_check_interval_seconds == 1
    assert job.job_poll_interval == 1


def waiting(reason: str, message: str = "") -> k8s.V1Pod:
    """A pending pod whose container waits for ``reason``, as the kubelet reports it."""
    state = k8s.V1ContainerState(
        waiting=k8s.V1ContainerStateWaiting(reason=reason, message=message)
    )
    status = k8s.V1ContainerStatus(
        name="base", image="i", image_id="", ready=False, restart_count=0, state=state
    )
    return k8s.V1Pod(status=k8s.V1PodStatus(phase="Pending", container_statuses=[status]))


@pytest.mark.parametrize(
    ("pod", "over"),
    [
        (waiting("ContainerCreating"), False),
        (waiting("ErrImagePull", "pull QPS exceeded"), False),  # the kubelet retries it
        (k8s.V1Pod(status=k8s.V1PodStatus(phase="Unknown")), False),
        (k8s.V1Pod(status=None), False),  # just created: no status yet
        (waiting("ErrImagePull", "docker.io/polyetl/rstask:v9: not found"), True),
        (waiting("InvalidImageName", 'couldn\'t parse image name "rstask:UPPER"'), True),
        (waiting("ErrImageNeverPull"), True),
        (k8s.V1Pod(status=k8s.V1PodStatus(phase="Running")), True),
        (k8s.V1Pod(status=k8s.V1PodStatus(phase="Succeeded")), True),
        (k8s.V1Pod(status=k8s.V1PodStatus(phase="Failed")), True),
    ],
)
def test_the_start_watch_ends_where_the_providers_wait_would(pod: k8s.V1Pod, over: bool) -> None:
    """The watch hands over to the provider's check, which then decides (and words the error):
    it must stop for what the provider stops for and wait where the provider waits."""
    assert start_wait_over(pod) is over


def test_bad_size_is_refused() -> None:
    with (
        pytest.raises(
            ValueError, match="expected size to be one of small, medium, large, got: 'huge'"
        ),
        DAG("s"),
    ):
        RustTask(task_id="t", command=["x"], size="huge", settings=settings())


def test_the_command_line_is_given_one_way() -> None:
    with DAG("command"):
        task = RustTask(task_id="t", command=["selfcheck"], size=Size.LARGE, settings=settings())
        with pytest.raises(TypeError, match=r"expected the command line as command=\[...\]"):
            RustTask(task_id="u", arguments=["selfcheck"], settings=settings())
    assert task.arguments == ["selfcheck", "--result-file", "/airflow/xcom/return.json"]
    assert task.size is Size.LARGE


def pod_exited(code: int) -> k8s.V1Pod:
    terminated = k8s.V1ContainerStateTerminated(exit_code=code)
    status = k8s.V1ContainerStatus(
        name="base",
        image="i",
        image_id="",
        ready=False,
        restart_count=0,
        state=k8s.V1ContainerState(terminated=terminated),
    )
    return k8s.V1Pod(status=k8s.V1PodStatus(phase="Failed", container_statuses=[status]))


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        (65, AirflowFailException),
        (64, AirflowFailException),
        (75, AirflowException),
        (137, AirflowException),
        (99, AirflowSkipException),
    ],
)
def test_operator_reraises_pod_failures_by_the_contract(code: int, raised: type[Exception]) -> None:
    with DAG("classify"):
        task = RustTask(task_id="t", command=["x"], settings=settings())
    with pytest.raises(raised) as info:
        task.classify_failure(AirflowException("Pod t returned a failure."), pod_exited(code))
    assert type(info.value) is raised


@pytest.mark.parametrize(
    ("code", "raised", "message"),
    [
        (0, None, ""),
        (99, AirflowSkipException, "rstask in Job j exited 99 (nothing to do)"),
        (65, AirflowFailException, "exited 65 (permanent): retrying cannot help; not retried"),
        (75, AirflowException, "rstask in Job j exited 75 (transient)"),
        (None, AirflowException, "rstask in Job j exited unknown"),
    ],
)
def test_a_jobs_exit_code_is_raised_by_the_contract(
    code: int | None, raised: type[Exception] | None, message: str
) -> None:
    if raised is None:
        raise_by_contract(code, "rstask in Job j")  # success: nothing raised
        return
    with pytest.raises(raised, match=re.escape(message)) as info:
        raise_by_contract(code, "rstask in Job j")
    assert type(info.value) is raised


def test_the_xcom_sidecar_ends_at_once_on_the_deletions_sigterm() -> None:
    """The sidecar's script, run by a real shell: a SIGTERM (what deleting the pod sends) ends
    it at once and cleanly — trapped, status 0 — as SIGINT does; the provider's own script
    traps SIGINT only, and as PID 1 would sit out the whole grace period."""
    with DAG("sidecar"):
        task = RustTask(task_id="t", command=["selfcheck"], settings=settings())
    sidecar = render(task)["spec"]["containers"][1]
    assert sidecar["name"] == "airflow-xcom-sidecar"
    assert sidecar["command"] == ["sh", "-c", SIDECAR_SCRIPT]
    for signum in (signal.SIGTERM, signal.SIGINT):
        # As in the pod (PID 1 of its container): default dispositions. A shell started with
        # a signal ignored (a background job's SIGINT) may not trap it, so none is inherited.
        proc = subprocess.Popen(sidecar["command"], preexec_fn=default_signals)  # noqa: PLW1509
        try:
            time.sleep(0.3)  # inside its loop
            proc.send_signal(signum)
            assert proc.wait(timeout=5) == 0, f"not trapped: {signum!r}"
        finally:
            proc.kill()
            proc.wait()


def default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
