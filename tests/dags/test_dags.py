"""Every DAG in dags/ loads cleanly and every one of its tasks renders the pod the contract and
the cluster expect, whatever the DAG (a generated pipeline is covered with no edit here); the
shipped pipelines keep their shape."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.mappedoperator import MappedOperator
from airflow.sdk.exceptions import AirflowFailException, ParamValidationError
from kubernetes.client import ApiClient

from taskpods.pod import TaskPodMixin
from tests.dags.conftest import DAGS_DIR, TAG

DAG_FILES = sorted(p.name for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
# The shipped pipelines' tasks: a change to their shape is a decision, made here too.
SHIPPED = {
    "clickhouse_db_sync": {
        "plan",
        "prepare",
        "copy",
        "verify",
        "swap",
        "views",
        "cleanup",
        "copy_commands",
    },
    "s3_ingest": {"discover", "batches", "ingest.transform", "ingest.load", "ingest.archive"},
    "s3_requeue": {"requeue"},
    "platform_selfcheck": {
        "python",
        "rust",
        "elixir",
        "round_commands",
        "rounds",
        "deferred_round_commands",
        "rounds_deferred",
    },
    "platform_drill": {
        "command",
        "choose",
        *(
            f"{language}_{kind}{suffix}"
            for language in ("python", "rust", "elixir")
            for kind in ("pod", "job")
            for suffix in ("", "_deferred")
        ),
    },
}
# What a mapped task's expanded argument is sampled as, where only a running DAG knows it.
SAMPLE_COMMAND = ["selfcheck"]
# A Param's schema says what it takes through at least one of these.
SCHEMA_KEYS = {"type", "enum", "const", "anyOf", "oneOf"}
SAMPLE_ARGUMENT = "manifests/run/batch-0001.json"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning at import is a failure
        return DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)


def dags_of(dagbag: DagBag, file: str) -> list[Any]:
    return [dag for dag in dagbag.dags.values() if Path(dag.fileloc).name == file]


def unmapped(task: Any) -> Any:
    """The operator one mapped instance would run: each expanded argument sampled (a literal
    list's first value; a command only known at run time, ``SAMPLE_COMMAND``)."""
    if not isinstance(task, MappedOperator):
        return task
    sample: dict[str, Any] = {}
    expanded = task.expand_input.value
    if not isinstance(expanded, dict):
        pytest.fail(f"{task.task_id}: mapped with expand_kwargs: add a sample of its kwargs")
    for name, value in expanded.items():
        if isinstance(value, list | tuple) and value:
            sample[name] = value[0]
        elif name == "command":
            sample[name] = SAMPLE_COMMAND
        else:
            pytest.fail(f"{task.task_id}: no sample for its mapped argument {name!r}: add one")
    return task.unmap(sample)


def pod_tasks(dags: list[Any]) -> list[Any]:
    """Every task that runs a pod, mapped ones as one instance of them."""
    return [
        unmapped(t)
        for dag in dags
        for t in dag.tasks
        if issubclass(t.operator_class if isinstance(t, MappedOperator) else type(t), TaskPodMixin)
    ]


def rendered(task: Any) -> dict[str, Any]:
    """The pod spec; an argument only a running DAG resolves (a mapped group's) is sampled."""
    task = copy.copy(task)
    task.arguments = [a if isinstance(a, str) else SAMPLE_ARGUMENT for a in task.arguments]
    pod = task.build_pod_request_obj(dry_run=True)
    result: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return result


@pytest.mark.parametrize("file", DAG_FILES)
def test_the_dag_file_loads_cleanly_and_documents_itself(dagbag: DagBag, file: str) -> None:
    errors = {path: e for path, e in dagbag.import_errors.items() if Path(path).name == file}
    assert errors == {}
    dags = dags_of(dagbag, file)
    assert [dag.dag_id for dag in dags] == [file.removesuffix(".py")], "one DAG, named as its file"
    for dag in dags:
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        assert pod_tasks(dags), f"{dag.dag_id} runs no task pod"
        for name in dag.params:
            schema = dag.params.get_param(name).schema
            assert SCHEMA_KEYS & schema.keys(), f"{dag.dag_id}: Param {name!r} has no schema"


def test_the_shipped_pipelines_keep_their_tasks(dagbag: DagBag) -> None:
    for dag_id, task_ids in SHIPPED.items():
        assert set(dagbag.dags[dag_id].task_ids) == task_ids


def test_pipelines_are_chained_in_order(dagbag: DagBag) -> None:
    sync = dagbag.dags["clickhouse_db_sync"]
    for up, down in [
        ("plan", "prepare"),
        ("prepare", "copy"),
        ("copy", "verify"),
        ("verify", "swap"),
        ("swap", "views"),
        ("views", "cleanup"),
    ]:
        assert down in sync.get_task(up).downstream_task_ids
    ingest = dagbag.dags["s3_ingest"]
    for up, down in [("ingest.transform", "ingest.load"), ("ingest.load", "ingest.archive")]:
        assert down in ingest.get_task(up).downstream_task_ids
    selfcheck = dagbag.dags["platform_selfcheck"]
    for up in ("python", "rust", "elixir", "round_commands"):
        assert "rounds" in selfcheck.get_task(up).downstream_task_ids
    for rounds in ("rounds", "rounds_deferred"):  # timed one at a time
        assert selfcheck.get_task(rounds).max_active_tis_per_dagrun == 1
    deferred = selfcheck.get_task("rounds_deferred")
    assert isinstance(deferred, MappedOperator)
    assert deferred.partial_kwargs["deferrable"] is True
    assert [a.uri for a in ingest.get_task("ingest.load").outlets] == [
        "clickhouse://clickhouse-destination/polyetl/events"
    ]


@pytest.mark.parametrize("file", DAG_FILES)
def test_every_task_renders_a_restricted_pod(dagbag: DagBag, file: str) -> None:
    for task in pod_tasks(dags_of(dagbag, file)):
        spec = rendered(task)
        main, sidecar = spec["spec"]["containers"]
        # image: the language's repository, pinned by the one setting, never latest
        assert main["image"] == f"docker.io/polyetl/{task.tool}:{TAG}"
        assert sidecar["image"] == f"docker.io/polyetl/xcom-sidecar:{TAG}"
        # the contract's CLI: a command, and the result into the xcom file
        assert main["args"][-2:] == ["--result-file", "/airflow/xcom/return.json"]
        # security: pod and every container restricted, root filesystem read-only
        pod_sc = spec["spec"]["securityContext"]
        assert pod_sc["runAsNonRoot"] is True
        assert pod_sc["runAsUser"] == 10001
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in (main, sidecar):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
        assert spec["spec"]["automountServiceAccountToken"] is False
        assert spec["spec"]["serviceAccountName"] == "polyetl-task"
        assert spec["metadata"]["namespace"] == "polyetl"
        assert {"name": "scratch", "mountPath": "/tmp"}.items() <= main["volumeMounts"][-1].items()
        # labels: pipeline, task, language; every value a valid label value
        labels = spec["metadata"]["labels"]
        assert labels["polyetl.io/pipeline"] == task.dag_id
        assert labels["polyetl.io/language"] == task.language
        assert all(len(v) <= 63 for v in labels.values())
        # secrets only by reference: no env var with a secret name has a literal value
        for env in main.get("env", []):
            if env["name"].endswith(("_PASSWORD", "_SECRET", "_TOKEN", "_KEY")):
                assert "value" not in env, env
                assert "secretKeyRef" in env["valueFrom"], env
        assert main["resources"]["limits"]["memory"]
        assert not spec["spec"].get("affinity"), "no node pool configured, so no affinity"


@pytest.mark.parametrize("file", DAG_FILES)
def test_no_task_runs_an_image_from_outside_the_allowlist(dagbag: DagBag, file: str) -> None:
    """A run's image override from an unlisted registry fails the task before any pod exists
    (no Kubernetes config here: a pod creation would fail differently)."""
    for task in pod_tasks(dags_of(dagbag, file)):
        params = {**task.dag.params.dump(), "images": {task.language: "evil.example.com/x:1"}}
        with pytest.raises(AirflowFailException, match=r"allowed registry.*evil\.example\.com"):
            copy.copy(task).prepare_run({"params": params}, None)  # run-time state: a copy


def test_sync_reads_connections_from_the_secrets_the_params_name(dagbag: DagBag) -> None:
    env = {
        e["name"]: e
        for e in rendered(dagbag.dags["clickhouse_db_sync"].get_task("plan"))["spec"]["containers"][
            0
        ]["env"]
    }
    assert env["PYTASK_SOURCE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "{{ params.source }}",
        "key": "password",
    }
    assert (
        env["PYTASK_DEST_HOST"]["valueFrom"]["secretKeyRef"]["name"] == "{{ params.destination }}"
    )
    assert env["PYTASK_COPY_MODE"]["value"] == "{{ params.copy_mode }}"
    swap_env = {
        e["name"]: e
        for e in rendered(dagbag.dags["clickhouse_db_sync"].get_task("swap"))["spec"]["containers"][
            0
        ]["env"]
    }
    assert "xcom_pull(task_ids='plan')" in swap_env["PYTASK_TABLES"]["value"]
    assert "PYTASK_TABLES" not in env  # plan decides the tables; it is not told them


HOSTILE_NAMES = ["a; DROP DATABASE b", "x`y", "new\nline", "select", "q'\"uo", "a,b", "<&>"]


def test_planned_names_reach_the_pods_as_json_whatever_they_hold(dagbag: DagBag) -> None:
    """The plan's lists are rendered by Airflow's own template engine into JSON arrays that
    pytask reads back exactly (a comma-joined list would split "a,b")."""
    sync = dagbag.dags["clickhouse_db_sync"]

    class PlanXCom:
        def xcom_pull(self, task_ids: str) -> dict[str, Any]:
            assert task_ids == "plan"
            return {"outputs": {"tables": HOSTILE_NAMES, "views": HOSTILE_NAMES[::-1]}}

    for task_id, variable, want in [
        ("swap", "PYTASK_TABLES", HOSTILE_NAMES),
        ("views", "PYTASK_VIEWS", HOSTILE_NAMES[::-1]),
    ]:
        env = {
            e["name"]: e for e in rendered(sync.get_task(task_id))["spec"]["containers"][0]["env"]
        }
        template = sync.get_template_env().from_string(env[variable]["value"])
        assert json.loads(template.render(ti=PlanXCom())) == want


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_database_param_takes_any_name(dagbag: DagBag, name: str) -> None:
    params = dagbag.dags["clickhouse_db_sync"].params
    assert params.get_param("database").resolve(name) == name


@pytest.mark.parametrize("name", ["", "x\u0000y", "x" * 256])
def test_the_database_param_refuses_what_clickhouse_forbids(dagbag: DagBag, name: str) -> None:
    params = dagbag.dags["clickhouse_db_sync"].params
    with pytest.raises(ParamValidationError):
        params.get_param("database").resolve(name)
