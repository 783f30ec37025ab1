"""Tasks as Kubernetes Jobs that Airflow can come back to.

A bare task pod lives and dies with the try that watches it. A Job is for work that must
not: it runs to its end with nobody watching, and whichever try of the task comes next
collects its outcome. What makes that hold:

* **One Job per try, found again by the next.** The Job carries the try's labels
  (dag_id, run_id, task_id, map_index, try_number) and a name derived from them. A try
  first looks for a Job of its task instance that no try has collected yet; it waits for
  that one instead of starting a second. Only when there is none does it create its own.
* **The outcome outlives everyone.** The task container's exit code is in the pod's status;
  its result file is handed over by a *result keeper*: a native sidecar (an init container
  with ``restartPolicy: Always``, Kubernetes 1.29+) sharing the xcom volume. When the task
  container exits, the kubelet stops the keeper with SIGTERM; it prints the result file to
  its own log and exits, so the pod and the Job complete on their own, and the result stays
  readable as that log for as long as the Job exists. (The provider's xcom sidecar instead
  keeps the pod running until an operator execs into it: a Job nobody watches would never
  finish. A termination message would be simpler but is capped at 4 KiB; annotations or a
  ConfigMap would give the task pod API rights it must not have.)
* **Collected means deleted.** A try that has read the outcome deletes the Job, so nothing
  is left behind and the next try (after a retryable failure) starts afresh. A Job nobody
  collects is deleted by its TTL (``POLYETL_JOB_TTL_SECONDS``, a day by default): the
  longest outage after which Airflow can still collect it.
* **Deferrable** like the pods: the worker goes away while the Job runs; a trigger in the
  triggerer waits for the Job, and the outcome is collected the same way when the task
  resumes. A user stopping a deferred task stops its Job (the trigger's ``on_kill``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.providers.cncf.kubernetes.kubernetes_helper_functions import PodLaunchFailedException
from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.cncf.kubernetes.triggers.job import KubernetesJobTrigger
from airflow.providers.cncf.kubernetes.utils.pod_manager import PodLaunchTimeoutException
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from airflow.sdk.exceptions import AirflowException
from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException

from taskpods.labels import label_value
from taskpods.pod import RESULT_FILE, TaskPodMixin, base_exit_code, raise_by_contract

if TYPE_CHECKING:
    from airflow.sdk import Context

KEEPER = PodDefaults.SIDECAR_CONTAINER_NAME
# Waits (interruptibly) until the kubelet stops it after the task container has exited,
# then hands the result file over on stdout. Busybox sh: the image is polyetl/xcom-sidecar.
KEEPER_SCRIPT = (
    f"trap 'cat {RESULT_FILE} 2>/dev/null; exit 0' TERM; while :; do sleep 3600 & wait $!; done"
)
TRY_LABEL = "try_number"
JOB_NAME_LABEL = "job-name"
NAME_MAX = 63  # the Job's name becomes a label value of its pods


def job_name(task_id: str, labels: Mapping[str, str]) -> str:
    """A name of the try's own: readable task part, digest of the try's identity.

    >>> job_name("ingest.load", {"dag_id": "d", "run_id": "r", "task_id": "ingest.load",
    ...     "try_number": "2"})
    'job-ingest-load-...'
    """
    identity = "\n".join(f"{k}={labels[k]}" for k in sorted(labels))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    stem = label_value(task_id).lower().replace("_", "-").replace(".", "-").strip("-")
    return f"job-{stem[: NAME_MAX - len(digest) - 5].rstrip('-')}-{digest}"


def keeper_from_sidecar(sidecar: k8s.V1Container) -> k8s.V1Container:
    """The provider's xcom sidecar, turned into the result keeper (a native sidecar)."""
    sidecar.command = ["sh", "-c", KEEPER_SCRIPT]
    sidecar.args = None
    sidecar.restart_policy = "Always"
    return sidecar


class TaskJob(TaskPodMixin, KubernetesJobOperator):
    """A task as a Kubernetes Job: survives its worker, Airflow's outages and its restarts.

    Retries stay Airflow's (``backoffLimit: 0``), so the contract's exit-code mapping holds
    as for pods: 0 succeeds, 99 skips, 64/65 fail without retries, anything else retries.
    """

    kind_of_work = "Job"

    def kind_defaults(self) -> dict[str, Any]:
        return {
            "backoff_limit": 0,
            "wait_until_job_complete": True,
            "parallelism": 1,
            "completions": 1,
            "job_poll_interval": 1,  # like the pod's start-up check: seconds count per task
            "ttl_seconds_after_finished": self.settings.job_ttl_s,
        }

    def annotate_work(self, annotations: dict[str, str]) -> None:
        if self.job is not None:
            self.job_client.patch_namespaced_job(
                self.job.metadata.name,
                self.job.metadata.namespace,
                {"metadata": {"annotations": annotations}},
            )

    # ---------------------------------------------------------------------- the Job

    def build_job_request_obj(self, context: Context | None = None) -> k8s.V1Job:
        job: k8s.V1Job = super().build_job_request_obj(context)
        # The provider builds the pod template with KubernetesPodOperator's method, past ours.
        template = self.finish_pod(
            k8s.V1Pod(metadata=job.spec.template.metadata, spec=job.spec.template.spec)
        )
        job.spec.template = k8s.V1PodTemplateSpec(metadata=template.metadata, spec=template.spec)
        spec: k8s.V1PodSpec = job.spec.template.spec
        keepers = [c for c in spec.containers if c.name == KEEPER]
        spec.containers = [c for c in spec.containers if c.name != KEEPER]
        spec.init_containers = [
            *(spec.init_containers or []),
            *(keeper_from_sidecar(c) for c in keepers),
        ]
        labels = dict(job.spec.template.metadata.labels or {})
        job.metadata.labels = {**(job.metadata.labels or {}), **labels}
        if context is not None:
            job.metadata.name = job_name(self.task_id, self._get_ti_pod_labels(context))
        return job

    def find_job(self, context: Context) -> k8s.V1Job | None:
        """The Job an earlier try of this task instance started and no try has collected."""
        labels = self._get_ti_pod_labels(context, include_try_number=False)
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        jobs = [
            job
            for job in self.job_client.list_namespaced_job(
                self.namespace, label_selector=selector
            ).items
            if job.metadata.deletion_timestamp is None
        ]
        if not jobs:
            return None
        jobs.sort(key=lambda job: int((job.metadata.labels or {}).get(TRY_LABEL, "0")))
        *stale, job = jobs
        for old in stale:  # left by a try whose clean-up failed; the newest one counts
            self.log.warning("deleting Job %s of an earlier try", old.metadata.name)
            self.delete_job(old)
        self.log.info(
            "found Job %s started by try %s: waiting for it instead of starting another",
            job.metadata.name,
            (job.metadata.labels or {}).get(TRY_LABEL, "?"),
        )
        return job

    def start_job(self, context: Context) -> k8s.V1Job:
        request = self.build_job_request_obj(context)
        try:
            job: k8s.V1Job = self.job_client.create_namespaced_job(
                request.metadata.namespace, request
            )
        except ApiException as exc:
            if exc.status != HTTPStatus.CONFLICT:
                raise
            # Another process of this same try made it first: that one is ours too.
            job = self.job_client.read_namespaced_job(
                request.metadata.name, request.metadata.namespace
            )
        self.log.info("started Job %s", job.metadata.name)
        return job

    def delete_job(self, job: k8s.V1Job) -> None:
        try:
            self.job_client.delete_namespaced_job(
                job.metadata.name, job.metadata.namespace, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise

    def job_pod(self, job: k8s.V1Job, wait_s: float = 0) -> k8s.V1Pod | None:
        """The Job's (newest) pod; waits up to ``wait_s`` for the controller to make it."""
        deadline = time.monotonic() + wait_s
        while True:
            pods = self.client.list_namespaced_pod(
                job.metadata.namespace, label_selector=f"{JOB_NAME_LABEL}={job.metadata.name}"
            ).items
            if pods:
                newest: k8s.V1Pod = max(pods, key=lambda p: p.metadata.creation_timestamp)
                return newest
            if time.monotonic() >= deadline:
                return None
            time.sleep(1)

    # ------------------------------------------------------------------- execution

    def execute(self, context: Context) -> Any:
        self.prepare_run(context, self.variable_version())
        job = self.find_job(context) or self.start_job(context)
        self.job = job  # for on_kill
        ti = context["ti"]
        ti.xcom_push(key="job_name", value=job.metadata.name)
        if self.deferrable:
            self.defer(
                trigger=TaskJobTrigger(
                    job_name=job.metadata.name,
                    job_namespace=job.metadata.namespace,
                    pod_names=[],
                    pod_namespace=job.metadata.namespace,
                    base_container_name=self.base_container_name,
                    kubernetes_conn_id=self.kubernetes_conn_id,
                    poll_interval=self.job_poll_interval,
                    in_cluster=self.in_cluster,
                    config_file=self.config_file,
                    cluster_context=self.cluster_context,
                    get_logs=False,
                    do_xcom_push=False,
                ),
                method_name="execute_complete",
            )
        self.follow(job)
        done = self.hook.wait_until_job_complete(
            job.metadata.name, job.metadata.namespace, job_poll_interval=self.job_poll_interval
        )
        return self.collect(done)

    def follow(self, job: k8s.V1Job) -> None:
        """Wait for the Job's pod to start (startup timeout as for pods), stream its log."""
        pod = self.job_pod(job, wait_s=self.startup_timeout_seconds)
        if pod is None:
            self.delete_job(job)
            raise AirflowException(
                f"Job {job.metadata.name} made no pod within {self.startup_timeout_seconds} s"
            )
        try:
            self.await_pod_start(pod)
        except (PodLaunchFailedException, PodLaunchTimeoutException):
            self.delete_job(job)  # never ran: nothing to come back to
            raise
        if self.get_logs:
            self.pod_manager.fetch_requested_container_logs(
                pod=pod, containers=self.base_container_name, follow_logs=True
            )

    def execute_complete(self, context: Context, event: dict[str, Any], **kwargs: Any) -> Any:  # noqa: ARG002 - the trigger's signature
        """Resumed from the trigger: the Job has finished; its log, then its outcome."""
        job = self.job_client.read_namespaced_job(event["name"], event["namespace"])
        self.job = job
        pod = self.job_pod(job)
        if pod is not None and self.get_logs:
            for line in self.container_log(pod, self.base_container_name).splitlines():
                self.log.info("[%s] %s", self.base_container_name, line)
        return self.collect(job)

    def container_log(self, pod: k8s.V1Pod, container: str) -> str:
        try:
            # Raw bytes: the client would otherwise parse a log that looks like JSON into a
            # dict and hand back its repr.
            response = self.client.read_namespaced_pod_log(
                pod.metadata.name,
                pod.metadata.namespace,
                container=container,
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status in (HTTPStatus.NOT_FOUND, HTTPStatus.BAD_REQUEST):
                return ""
            raise
        return bytes(response.data).decode("utf-8", errors="replace")

    def collect(self, job: k8s.V1Job) -> Any:
        """Read the finished Job's outcome, delete the Job, then report the outcome."""
        pod = self.job_pod(job)
        code = base_exit_code(pod, self.base_container_name)
        raw = self.container_log(pod, KEEPER).strip() if pod is not None else ""
        succeeded = bool(self.hook.is_job_successful(job))
        if code is None and succeeded:
            code = 0  # the pod is gone (node lost, GC'd), but the Job recorded success
        self.delete_job(job)
        name = job.metadata.name
        raise_by_contract(code, f"{self.tool} in Job {name}")
        return self.parse_result(name, raw) if self.do_xcom_push else None

    @staticmethod
    def parse_result(job: str, raw: str) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise AirflowException(
                f"Job {job}: expected its result file to be JSON, got: {raw[:200]!r}"
            ) from exc


class TaskJobTrigger(KubernetesJobTrigger):
    """The provider's Job trigger, plus: a user stopping the deferred task stops the Job.

    (Airflow 3.3 calls a trigger's ``on_kill`` for user kills only; a triggerer restart
    re-creates the trigger and leaves the Job alone.)
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__name__}", kwargs

    async def on_kill(self) -> None:
        hook = KubernetesHook(
            conn_id=self.kubernetes_conn_id,
            in_cluster=self.in_cluster,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
        )

        def delete() -> None:
            try:
                hook.batch_v1_client.delete_namespaced_job(
                    self.job_name, self.job_namespace, propagation_policy="Background"
                )
            except ApiException as exc:
                if exc.status != HTTPStatus.NOT_FOUND:
                    raise

        self.log.info("task stopped by a user: deleting Job %s", self.job_name)
        await asyncio.get_running_loop().run_in_executor(None, delete)
