"""The operator package: image resolution and the allowlist, pod defaults, secrets, labels,
and the exit-code mapping — the last against real containers of each task image."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

from polyetl.containers import docker_run
from taskpods import (
    ClickHouse,
    ElixirTask,
    ImageError,
    ImageRef,
    Outcome,
    PythonJob,
    PythonTask,
    RustTask,
    S3Bucket,
    SecretEnv,
    SecretFile,
    Settings,
    Size,
    decide,
)
from taskpods.labels import label_value
from taskpods.pod import raise_by_contract
from tests.contract.harness import image_refs
from tests.dags.conftest import TAG


def settings(**overrides: Any) -> Settings:
    return Settings(
        **{"image_version": TAG, "allowed_registries": frozenset({"docker.io"}), **overrides}
    )


def render(task: Any) -> dict[str, Any]:
    result: dict[str, Any] = ApiClient().sanitize_for_serialization(
        task.build_pod_request_obj(dry_run=True)
    )
    return result


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("polyetl/rstask:abc", "docker.io/polyetl/rstask:abc"),
        ("registry.internal:5000/etl/pytask:1.2.3", "registry.internal:5000/etl/pytask:1.2.3"),
        ("localhost/x@sha256:" + "a" * 64, "localhost/x@sha256:" + "a" * 64),
    ],
)
def test_image_refs_parse(ref: str, expected: str) -> None:
    assert str(ImageRef.parse(ref)) == expected


@pytest.mark.parametrize(
    "ref", ["polyetl/rstask:latest", "polyetl/rstask", "Bad/Name:1", "x:tag with space"]
)
def test_image_refs_refused(ref: str) -> None:
    with pytest.raises(ImageError, match="expected image"):
        ImageRef.parse(ref)


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


# ------------------------------------------------------------------------ pod defaults


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


def test_secret_files_mount_read_only_and_env_points_to_them() -> None:
    with DAG("files"):
        task = RustTask(
            task_id="t",
            command=["selfcheck"],
            settings=settings(),
            secrets=[SecretFile("RSTASK_DB_PASSWORD_FILE", "db", "password")],
        )
    spec = render(task)["spec"]
    main = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["RSTASK_DB_PASSWORD_FILE"] == "/var/run/secrets/polyetl/db.password/password"
    mount = next(
        m for m in main["volumeMounts"] if m["mountPath"] == "/var/run/secrets/polyetl/db.password"
    )
    assert mount["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {
        "secretName": "db",
        "items": [{"key": "password", "path": "password"}],
    }


def test_literal_secret_values_are_refused_in_dag_code() -> None:
    with pytest.raises(ValueError, match="RSTASK_DB_PASSWORD"), DAG("literal"):
        RustTask(
            task_id="t",
            command=["x"],
            env_vars={"RSTASK_DB_PASSWORD": "hunter2"},
            settings=settings(),
        )


def test_bad_size_is_refused() -> None:
    with (
        pytest.raises(
            ValueError, match="expected size to be one of small, medium, large, got: 'huge'"
        ),
        DAG("s"),
    ):
        RustTask(task_id="t", command=["x"], size="huge", settings=settings())


def test_connections_and_options_get_the_tools_prefix() -> None:
    bucket = S3Bucket("{{ params.bucket }}", endpoint="http://s3:7070")
    with DAG("connections"):
        load = PythonTask(
            task_id="load",
            command=["load"],
            connections=[bucket, ClickHouse("warehouse", secure="true")],
            options={"TABLE": "events"},
            settings=settings(),
        )
        archive = ElixirTask(
            task_id="archive", command=["archive"], connections=[bucket], settings=settings()
        )
    env = {e["name"]: e for e in render(load)["spec"]["containers"][0]["env"]}
    assert env["PYTASK_BUCKET"]["value"] == "{{ params.bucket }}"
    assert env["PYTASK_S3_ENDPOINT_URL"]["value"] == "http://s3:7070"
    assert env["PYTASK_TABLE"]["value"] == "events"
    assert env["PYTASK_DEST_SECURE"]["value"] == "true"
    assert env["PYTASK_DEST_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "warehouse",
        "key": "password",
    }
    assert env["PYTASK_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == (
        "s3-credentials"
    )
    names = {e["name"] for e in render(archive)["spec"]["containers"][0]["env"]}
    assert {"EXTASK_BUCKET", "EXTASK_S3_ACCESS_KEY_ID"} <= names
    assert not {n for n in names if not n.startswith("EXTASK_")}
    with pytest.raises(ValueError, match="expected role SOURCE or DEST, got: 'BOTH'"):
        ClickHouse("x", role="BOTH")
    with pytest.raises(ValueError, match="got literal values for: PYTASK_PASSWORD"), DAG("o"):
        PythonTask(task_id="t", command=["x"], options={"PASSWORD": "x"}, settings=settings())


def test_the_command_line_is_given_one_way() -> None:
    with DAG("command"):
        task = RustTask(task_id="t", command=["selfcheck"], size=Size.LARGE, settings=settings())
        with pytest.raises(TypeError, match=r"expected the command line as command=\[...\]"):
            RustTask(task_id="u", arguments=["selfcheck"], settings=settings())
    assert task.arguments == ["selfcheck", "--result-file", "/airflow/xcom/return.json"]
    assert task.size is Size.LARGE


def test_label_values_stay_within_kubernetes_limits() -> None:
    long_id = "ingest_" + "very_long_provider_name_" * 4
    value = label_value(long_id)
    assert len(value) == 63
    assert value != label_value(long_id + "x")  # distinct ids keep distinct labels
    assert value[0].isalnum()
    assert value[-1].isalnum()


# ------------------------------------------------------------------- exit-code mapping


@pytest.mark.docker
@pytest.mark.parametrize("language", ["python", "rust", "elixir"])
@pytest.mark.parametrize(
    ("fail_with", "outcome"),
    [
        (None, Outcome.SUCCESS),
        ("permanent", Outcome.FAIL_NO_RETRY),
        ("transient", Outcome.FAIL_RETRY),
        ("nothing-to-do", Outcome.SKIP),
    ],
)
def test_exit_codes_of_real_containers_map_to_outcomes(
    language: str, fail_with: str | None, outcome: Outcome
) -> None:
    args = ["selfcheck", *(["--fail-with", fail_with] if fail_with else [])]
    proc = subprocess.run(
        docker_run(image_refs()[language], args),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert decide(proc.returncode) is outcome, proc.stderr


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


# ------------------------------------------------------------------ Jobs, deferral


def test_deferrable_and_job_ttl_come_from_the_environment() -> None:
    on = Settings.from_env({"POLYETL_DEFERRABLE": "true", "POLYETL_JOB_TTL_SECONDS": "600"})
    assert (on.deferrable, on.job_ttl_s) == (True, 600)
    assert Settings.from_env({}).deferrable is None  # Airflow's [operators] default_deferrable
    with DAG("deferred"):
        deferred = RustTask(task_id="t", command=["x"], settings=settings(deferrable=True))
        synced = RustTask(task_id="u", command=["x"], settings=settings(deferrable=False))
        explicit = RustTask(
            task_id="v", command=["x"], settings=settings(deferrable=True), deferrable=False
        )
    assert (deferred.deferrable, synced.deferrable, explicit.deferrable) == (True, False, False)


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("POLYETL_DEFERRABLE", "sometimes", "one of 0, 1, false"),
        ("POLYETL_JOB_TTL_SECONDS", "-5", "a positive number of seconds"),
        ("POLYETL_POD_STARTUP_TIMEOUT", "3m", "a positive number of seconds"),
        ("POLYETL_NAMESPACE", "Team_A", "a DNS label"),
        ("POLYETL_SERVICE_ACCOUNT", "-task", "a DNS subdomain"),
        ("POLYETL_NODE_POOL", "etl pool", "a label value"),
        ("POLYETL_IMAGE_REGISTRY", "https://reg.example", "a registry host"),
        ("POLYETL_ALLOWED_REGISTRIES", "reg/x", "a comma-separated list"),
        ("POLYETL_IMAGE_REPOSITORY_PREFIX", "Team/ETL", "a repository path"),
    ],
)
def test_every_setting_names_a_bad_value_and_what_was_expected(
    env: str, value: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=f"expected {env} to be {expected}.*got: '{value}'"):
        Settings.from_env({env: value})
    with pytest.raises(ImageError, match="expected POLYETL_XCOM_SIDECAR_IMAGE to pin a version"):
        Settings.from_env({"POLYETL_XCOM_SIDECAR_IMAGE": "polyetl/xcom-sidecar:latest"})


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
