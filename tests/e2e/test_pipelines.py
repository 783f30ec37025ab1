"""Both pipelines on the kind cluster, run by the Airflow `make deploy` installs there —
triggered through its REST API with their conf, executed by the scheduler's
KubernetesExecutor (a worker pod per task try, starting the task's own pod) — the same path
as `make demo` (src/platform_driver), with the outcomes asserted:

* s3_ingest lands exactly the generator's good rows, one visible row per event id from its
  latest delivery (a corrected re-delivery arrives a second later), quarantines exactly its
  bad rows per reason and its poison object whole (cut short: copied under quarantine/_objects/
  with its reason, gone from raw/), archives every other raw object; a second run with the same
  objects delivered again changes nothing in ClickHouse (no duplicates, same checksum);
* clickhouse_db_sync makes the destination equal the source (rows and checksums per table);
  a second run leaves the same fingerprints and no staging database;
* a task pod deleted before it finishes is retried by Airflow and the run ends in the state
  a clean run gives (the generator's exact figures, no duplicates);
* an image outside the registry allowlist fails the run at once, with no task pod created;
* every task try ran in a worker pod of its own, made by the executor as Airflow's service
  account (an admission policy lets no one else make worker or task pods);
* every pod created meanwhile — Airflow's and PostgreSQL's own included — satisfies the
  restricted Pod Security profile, judged from the pod objects the API server returned (a
  watch), not from our own specs;
* no secret value appears in any task log (read back through the REST API, from S3).

Tests run in file order and build on each other's state (one platform per session). The
first sync run is triggered with the module's platform and runs beside the ingest tests, as
two pipelines share a real deployment; the sync test collects it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from platform_driver import seed
from platform_driver.airflow import Airflow, DagRun
from platform_driver.cluster import Cluster as Platform
from platform_driver.cluster import hack
from platform_driver.demo import loaded, quarantined, quarantined_objects
from platform_driver.pods import PodRecorder, core_api
from platform_driver.state import (
    IngestState,
    Services,
    ingest_state,
    keys,
    services,
    staging_left,
    sync_state,
    visible_from,
)
from tests.e2e.conftest import DEPLOY_ENV, REPO_ROOT, Cluster

pytestmark = pytest.mark.kind

BUCKET = "polyetl"
DATABASE = "analytics"
# Under a day of this session's own, so a reused cluster's ledger never knows them already.
DAY = f"2026/11/23/e2e-{uuid.uuid4().hex[:8]}"
FEEDS_A = (
    seed.Feed("acme", 6_000, seed=101, day=DAY),
    seed.Feed("betco", 5_000, seed=102, gzip=True, day=DAY),
    seed.Feed("cobra", 5_000, seed=103, day=DAY),
    seed.Feed("acme", 3_000, seed=104, gzip=True, day=DAY),
)
POISON = seed.Feed("betco", 1_000, seed=105, gzip=True, day=DAY, poison=True)
# seed 101's events again, some values corrected, delivered a second after the others
REDELIVERY = seed.Feed("acme", 6_000, seed=101, day=DAY, revision=1)
FEEDS_B = (
    seed.Feed("betco", 8_000, seed=201, day=DAY),
    seed.Feed("cobra", 4_000, seed=202, gzip=True, day=DAY),
)

# Pod Security "restricted": volume types a pod may use.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@dataclass(frozen=True)
class Started:
    dag_id: str
    run_id: str
    at: float


@dataclass
class World:
    """The session's platform: clients, Airflow, the pod recorder, every run made."""

    platform: Platform
    svc: Services
    airflow: Airflow
    recorder: PodRecorder
    rust_image: str
    runs: list[DagRun] = field(default_factory=list)
    ingest_after_first: IngestState | None = None
    first_sync: Started | None = None
    source_seeded: dict[str, int] = field(default_factory=dict)
    deliveries: list[list[seed.GeneratedFeed]] = field(default_factory=list)  # in arrival order

    def deliver(self, feeds: tuple[seed.Feed, ...]) -> list[seed.GeneratedFeed]:
        """Generate and upload feeds as one round of deliveries (a second after the last)."""
        if self.deliveries:
            time.sleep(1.1)  # S3 times have second precision: this round arrives later
        made = seed.seed_feeds(self.rust_image, self.svc.s3, BUCKET, feeds)
        self.deliveries.append(made)
        return made

    def visible_as_delivered(self) -> bool:
        """A reader sees, for every id this session delivered, exactly one row: the latest
        delivery's (by the generator's ids; not by what ClickHouse holds)."""
        return visible_from(self.svc, DAY) == seed.latest_delivery(*self.deliveries)

    def run(self, dag_id: str, conf: dict[str, Any] | None = None) -> DagRun:
        made = self.airflow.run(dag_id, conf)
        self.runs.append(made)
        return made

    def start(self, dag_id: str, conf: dict[str, Any] | None = None) -> Started:
        """Trigger a run without waiting: it goes on beside the tests that come before
        `finish` (Airflow runs two tasks at once: `parallelism`)."""
        return Started(dag_id, self.airflow.trigger(dag_id, conf), time.monotonic())

    def finish(self, started: Started) -> DagRun:
        state = self.airflow.wait(started.dag_id, started.run_id)
        made = self.airflow.read(
            started.dag_id, started.run_id, state, time.monotonic() - started.at
        )
        self.runs.append(made)
        return made


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> Iterator[World]:
    platform = Platform(name=cluster.name)
    recorder = PodRecorder(core_api(hack("kind.sh", "kubeconfig")), platform.namespace)
    recorder.start()  # before the deploy: Airflow's and PostgreSQL's pods are judged too
    hack("deploy.sh", "apply", env=DEPLOY_ENV)
    tag = hack("images.sh", "tag")
    try:
        with services(platform) as svc, Airflow.connect(platform) as airflow:
            world = World(platform, svc, airflow, recorder, f"polyetl/rstask:{tag}")
            # The first sync runs beside the ingest tests (other services, other data): the
            # two DAGs' tasks share Airflow's two slots, and the suite its minutes.
            world.source_seeded = seed.seed_source(svc.source, DATABASE)
            world.first_sync = world.start("clickhouse_db_sync", {"database": DATABASE})
            yield world
    finally:
        recorder.stop()


def not_under_raw(world: World, feeds: tuple[seed.Feed, ...]) -> bool:
    """None of these feeds' raw objects is left (archive deleted each after copying it)."""
    return not set(keys(world.svc.s3, BUCKET, "raw/")) & {f.key for f in feeds}


def test_ingest_lands_every_good_row_once_and_quarantines_every_bad_one(world: World) -> None:
    before = ingest_state(world.svc, BUCKET)
    made = world.deliver((*FEEDS_A, POISON)) + world.deliver((REDELIVERY,))
    want = seed.expected(made)
    assert want["rows_quarantined"] > 0, "the seed must include bad rows of every kind"

    run = world.run("s3_ingest")

    assert run.state == "success", run.logs[-5000:]
    after = ingest_state(world.svc, BUCKET)
    load = loaded(run)
    assert load["rows"] == want["rows_out"]  # every good row went through the merge once
    assert load["replaced"] + load["superseded"] >= len(made[-1].ids)  # the re-delivery
    assert world.visible_as_delivered()
    assert after.duplicates == 0
    assert quarantined(run) == seed.by_reason(want)
    # the poison object: quarantined whole, its batch's good objects loaded and archived
    assert quarantined_objects(run) == {POISON.key: "corrupt_gzip"}
    assert POISON.key in after.quarantined_objects
    reasons = f"quarantine/_reasons/{POISON.key.removeprefix('raw/')}.json"
    sidecar = world.svc.s3.get_object(Bucket=BUCKET, Key=reasons)
    assert json.loads(sidecar["Body"].read())["reason"] == "corrupt_gzip"
    archive = seed.total(r["counts"] for r in run.results_of("ingest.archive"))
    assert (archive["archived"], archive["quarantined"]) == (len(FEEDS_A) + 1, 1)
    assert not_under_raw(world, (*FEEDS_A, POISON, REDELIVERY))
    assert after.staged == before.staged + len(FEEDS_A) + 1
    assert after.archived == before.archived + len(FEEDS_A) + 1
    world.ingest_after_first = after


def test_ingest_again_with_the_same_objects_changes_nothing(world: World) -> None:
    first = world.ingest_after_first
    assert first is not None, "runs after the first ingest test"
    seed.seed_feeds(world.rust_image, world.svc.s3, BUCKET, FEEDS_A)  # delivered again

    run = world.run("s3_ingest")

    assert run.state == "success", run.logs[-5000:]
    assert run.states_of("discover") == ["skipped"]  # nothing new: the ledger knows them
    again = ingest_state(world.svc, BUCKET)
    assert (again.rows, again.checksum, again.duplicates) == (first.rows, first.checksum, 0)
    assert again.rows_by_provider == first.rows_by_provider
    assert again.archived == first.archived


def test_sync_makes_the_destination_equal_the_source_and_again_changes_nothing(
    world: World,
) -> None:
    seeded = world.source_seeded
    assert sum(seeded.values()) > 0
    assert world.first_sync is not None, "started with the module's world"

    first = world.finish(world.first_sync)  # started beside the ingest tests

    assert first.state == "success", first.logs[-5000:]
    state = sync_state(world.svc, DATABASE)
    assert set(state) == set(seeded)
    assert all(t.same for t in state.values()), state
    assert first.results_of("verify")[0]["counts"]["tables"] == len(seed.SOURCE_TABLES)
    # the views, the view over a view and the materialized view (with its data) recreated
    views = first.results_of("views")[0]["counts"]
    assert views["views"] == len(seed.SOURCE_VIEWS)
    assert views.get("failed") == 0
    assert not staging_left(world.svc, DATABASE)

    second = world.run("clickhouse_db_sync", {"database": DATABASE})

    assert second.state == "success", second.logs[-5000:]
    assert sync_state(world.svc, DATABASE) == state
    assert second.results_of("views")[0]["counts"].get("kept") == len(seed.SOURCE_VIEWS)
    assert not staging_left(world.svc, DATABASE)


def test_a_task_pod_deleted_before_it_finishes_is_retried_to_the_clean_state(
    world: World,
) -> None:
    before = ingest_state(world.svc, BUCKET)
    want = seed.expected(world.deliver(FEEDS_B))
    killed: list[str] = []
    lock = threading.Lock()
    core = world.recorder.api

    def kill_first_running_load(pod: dict[str, Any]) -> None:
        # At first sight: a load of a few thousand rows can start and end between two status
        # reports of the kubelet, so waiting to see it running may see nothing at all.
        labels = pod["metadata"].get("labels") or {}
        statuses = pod.get("status", {}).get("containerStatuses") or []
        done = any(s["name"] == "base" and "terminated" in (s.get("state") or {}) for s in statuses)
        if labels.get("polyetl.io/task") != "ingest.load" or done:
            return
        with lock:
            if killed:
                return
            killed.append(pod["metadata"]["name"])
        core.delete_namespaced_pod(
            pod["metadata"]["name"], world.platform.namespace, grace_period_seconds=0
        )

    world.recorder.hooks.append(kill_first_running_load)
    try:
        run = world.run("s3_ingest")
    finally:
        world.recorder.hooks.remove(kill_first_running_load)

    assert killed, "the load pod was never seen before it finished"
    assert run.state == "success", run.logs[-5000:]
    assert [ti.try_number for (t, _), ti in run.tasks.items() if t == "ingest.load"] == [2]
    after = ingest_state(world.svc, BUCKET)
    # exactly what a clean run gives: the generator's figures, nothing twice
    assert loaded(run)["rows"] == want["rows_out"]
    assert world.visible_as_delivered()
    assert after.duplicates == 0
    assert quarantined(run) == seed.by_reason(want)
    assert not_under_raw(world, FEEDS_B)
    assert after.archived == before.archived + len(FEEDS_B)


def test_an_image_outside_the_allowlist_fails_fast_without_a_task_pod(world: World) -> None:
    started = time.time()
    pods_before = set(world.recorder.snapshot())
    rogue = "registry.evil.example/polyetl/pytask:1.0.0"

    run = world.run("clickhouse_db_sync", {"database": DATABASE, "images": {"python": rogue}})

    assert run.state == "failed"
    plan = run.tasks[("plan", -1)]
    assert (plan.state, plan.try_number) == ("failed", 1)  # not retried
    assert plan.seconds is not None
    assert plan.seconds < 20
    assert rogue in run.logs
    assert "allowed registr" in run.logs
    time.sleep(2)  # let the watch catch up with anything that might have been created
    new = [p for uid, p in world.recorder.snapshot().items() if uid not in pods_before]
    # the plan's worker pod ran the operator, which refused the image before making a pod
    tasks = [p["metadata"]["annotations"].get("task_id") for p in new]
    assert tasks == ["plan"], (
        f"pods created since {started}: {[p['metadata']['name'] for p in new]}"
    )
    assert "polyetl.io/task" not in (new[0]["metadata"].get("labels") or {})


def test_every_task_try_ran_in_a_worker_pod_made_by_airflow(world: World) -> None:
    workers = world.recorder.worker_pods()
    seen: dict[str, set[tuple[str, int, int]]] = {}
    for pod in workers:
        meta = pod["metadata"]["annotations"]
        seen.setdefault(meta["run_id"], set()).add(
            (meta["task_id"], int(meta.get("map_index", -1)), int(meta["try_number"]))
        )
        assert pod["spec"]["serviceAccountName"] == "polyetl-airflow"
    assert len(workers) == sum(len(tries) for tries in seen.values()), "one pod per try"
    for run in world.runs:
        assert seen.get(run.run_id) == run.tries(), run.run_id
    # Who made them: the API server admits worker and task pods from Airflow's service
    # account only (k8s/base/admission.yaml); cluster admin itself is refused.
    impostor = {**workers[0], "metadata": {**workers[0]["metadata"], "name": "not-airflow"}}
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "ownerReferences"):
        impostor["metadata"].pop(key, None)
    impostor.pop("status", None)
    refused = world.platform.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(impostor), check=False
    )
    assert refused.returncode != 0
    assert "only Airflow's service account" in refused.stderr, refused.stderr


def test_a_finished_task_log_is_read_from_s3_after_its_pods_are_gone(world: World) -> None:
    run = next(r for r in world.runs if r.dag_id == "s3_ingest" and r.state == "success")
    pods = world.recorder.api.list_namespaced_pod(world.platform.namespace).items
    left = [
        p.metadata.name
        for p in pods
        if run.run_id
        in {(p.metadata.annotations or {}).get("run_id"), p.metadata.labels.get("run_id")}
        or (p.metadata.labels or {}).get("polyetl.io/pipeline") == "s3_ingest"
    ]
    assert left == [], "the run's worker and task pods are deleted when their task ends"

    log = world.airflow.log(run.dag_id, run.run_id, "ingest.transform", 0, 1)

    source = (
        f"s3://airflow-logs/tasks/dag_id=s3_ingest/run_id={run.run_id}/task_id=ingest.transform"
    )
    assert source in log  # Airflow names where it read the log from
    assert '"tool":"rstask"' in log  # the task container's own lines, streamed by the operator


def can(world: World, account: str, verb: str, resource: str, namespace: str | None) -> bool:
    """`kubectl auth can-i`, impersonating a service account of the platform namespace."""
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    answer = world.platform.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        *scope,
        f"--as=system:serviceaccount:{world.platform.namespace}:{account}",
        check=False,
    )
    return answer.stdout.strip() == "yes"


def test_airflow_may_run_pods_in_its_namespace_and_nothing_else(world: World) -> None:
    ns = world.platform.namespace
    for verb, resource in [
        ("create", "pods"),
        ("delete", "pods"),
        ("watch", "pods"),
        ("get", "pods/log"),
        ("create", "pods/exec"),
        ("create", "jobs.batch"),
        ("delete", "jobs.batch"),
    ]:
        assert can(world, "polyetl-airflow", verb, resource, ns), f"{verb} {resource}"
    for verb, resource, where in [
        ("get", "secrets", ns),
        ("create", "deployments.apps", ns),
        ("create", "roles.rbac.authorization.k8s.io", ns),
        ("create", "pods", "default"),
        ("create", "pods", "kube-system"),
        ("list", "nodes", None),
        ("list", "pods", None),
    ]:
        assert not can(world, "polyetl-airflow", verb, resource, where), f"{verb} {resource}"
    assert not can(world, "polyetl-task", "get", "pods", ns)
    task_pods = world.recorder.task_pods()
    assert task_pods
    for pod in task_pods:  # no token to use anyway
        assert pod["spec"]["automountServiceAccountToken"] is False
        mounts = [m["mountPath"] for c in pod["spec"]["containers"] for m in c["volumeMounts"]]
        assert not [m for m in mounts if "serviceaccount" in m], pod["metadata"]["name"]


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the Pod Security 'restricted' profile (v1.30) forbids, found in a pod object."""
    spec = pod["spec"]
    name = pod["metadata"]["name"]
    found = [f"{name}: {flag}" for flag in ("hostNetwork", "hostPID", "hostIPC") if spec.get(flag)]
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"{name}: volume {volume['name']} of type {kinds}")
    pod_sc = spec.get("securityContext") or {}
    containers = [
        *spec.get("initContainers", []),
        *spec["containers"],
        *spec.get("ephemeralContainers", []),
    ]
    for c in containers:
        sc = c.get("securityContext") or {}
        where = f"{name}/{c['name']}"
        if sc.get("privileged"):
            found.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation not false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{where}: capabilities not dropping ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities {caps['add']}")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{where}: runAsNonRoot not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{where}: runs as uid 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}: seccompProfile {seccomp}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            found.append(f"{where}: hostPort")
    return found


# Each service's Deployment and the env file its Secret is generated from.
SERVICE_SECRETS = {
    "postgres": "airflow/postgres.env",
    "s3": "s3/secret.env",
    "clickhouse-source": "clickhouse-source/secret.env",
    "clickhouse-destination": "clickhouse-destination/secret.env",
}


def test_every_service_pod_started_under_the_secret_deployed_now(world: World) -> None:
    """A service reads its Secret through env vars, i.e. only when its pod starts: a cluster
    deployed from another checkout (other random passwords) must have its services restarted,
    or PostgreSQL refuses Airflow's migration forever. The deploy stamps each pod template
    with its Secret's checksum; the running pods must carry the current one."""
    base = REPO_ROOT / "k8s" / "base"
    for deployment, env_file in SERVICE_SECRETS.items():
        expected = hashlib.sha256((base / env_file).read_bytes()).hexdigest()[:16]
        ns = world.platform.namespace
        spec = json.loads(
            world.platform.kubectl("-n", ns, "get", f"deployment/{deployment}", "-o", "json").stdout
        )["spec"]
        selector = ",".join(f"{k}={v}" for k, v in spec["selector"]["matchLabels"].items())
        pods = json.loads(
            world.platform.kubectl("-n", ns, "get", "pods", "-o", "json", "-l", selector).stdout
        )["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        assert running, f"no running pod of {deployment}"
        for pod in running:
            stamped = pod["metadata"].get("annotations", {}).get("polyetl.io/secret-checksum")
            assert stamped == expected, (pod["metadata"]["name"], stamped, expected)


def test_every_pod_satisfies_the_restricted_profile(world: World) -> None:
    namespace = world.recorder.api.read_namespace(world.platform.namespace)
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    task_pods = world.recorder.task_pods()
    pipelines = {p["metadata"]["labels"]["polyetl.io/pipeline"] for p in task_pods}
    assert {"s3_ingest", "clickhouse_db_sync"} <= pipelines
    # discover, transform, load, archive, plan, prepare, copy, verify, swap, cleanup
    assert len({p["metadata"]["labels"]["polyetl.io/task"] for p in task_pods}) >= 10
    services_pods = [p for p in world.recorder.snapshot().values() if p not in task_pods]
    violations = [v for p in [*task_pods, *services_pods] for v in restricted_violations(p)]
    assert violations == []


def test_no_secret_value_in_any_task_log(world: World) -> None:
    secrets = [
        value
        for name in ("clickhouse-source", "clickhouse-destination", "s3-credentials")
        for key, value in world.platform.secret(name).items()
        if key in ("password", "secret_access_key", "access_key_id")
    ]
    assert len(secrets) == 4
    assert all(len(s) >= 16 for s in secrets)
    logs = "\n".join(run.logs for run in world.runs)
    # the logs are really there: every task's own JSON lines reached them
    for line in ('"tool":"rstask"', '"tool":"pytask"', '"tool":"extask"'):
        assert line in logs
    leaked = [s[:4] + "…" for s in secrets if s in logs]
    assert leaked == []
