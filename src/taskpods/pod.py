"""The base of every task operator: one pod (or Job) per task, configured in one place."""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import (
    EMPTY_XCOM_RESULT,
    OnFinishAction,
    PodPhase,
    detect_pod_terminate_early_issues,
    log_pod_event,
)
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes import watch
from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from taskpods import exit_codes
from taskpods.connections import Connection
from taskpods.exit_codes import Outcome, decide, describe
from taskpods.images import ImageError, ImageRef, check_version
from taskpods.labels import label_value
from taskpods.secrets import SecretEnv, SecretFile, refuse_literal_secrets
from taskpods.settings import IMAGE_TAG_VARIABLE, Settings

if TYPE_CHECKING:
    from airflow.sdk import Context

RESULT_FILE = "/airflow/xcom/return.json"
# Set in the KubernetesExecutor's worker pod template (k8s/base/airflow/pod_template.yaml).
WORKER_POD_ENV = "POLYETL_WORKER_POD"
WORKER_NAMESPACE_ENV = "POLYETL_WORKER_NAMESPACE"
# On a task pod or Job whose worker went away while it ran: that worker's pod name.
WORKER_LEFT_ANNOTATION = "polyetl.io/worker-left"
SCRATCH_DIR = "/tmp"  # noqa: S108 - the pod's own emptyDir, per the task contract
TASK_UID = 10001
NODE_POOL_LABEL = "polyetl.io/node-pool"
# The xcom sidecar holds the pod open until its result is read. The provider's own waits for
# SIGINT only: as PID 1 it would ignore the SIGTERM of the pod's deletion for the whole grace
# period. This one ends on either, at once (`wait` returns when a trapped signal arrives).
SIDECAR_SCRIPT = 'trap "exit 0" INT TERM; while true; do sleep 1 & wait $!; done'
# How long a task watches its starting pod before it leaves the wait to the provider's polls
# (and their schedule and start-up timeouts): a start that takes longer is pulling an image
# or waiting for room, where a poll a second is fine.
START_WATCH_S = 10


def start_wait_over(pod: k8s.V1Pod | None) -> bool:
    """Whether waiting on a pod's start is over: it left Pending, it is gone, or the provider
    would give it up (a bad image, a bad config: ``detect_pod_terminate_early_issues``).

    >>> start_wait_over(k8s.V1Pod(status=k8s.V1PodStatus(phase="Pending")))
    False
    >>> start_wait_over(k8s.V1Pod(status=k8s.V1PodStatus(phase="Running")))
    True
    >>> start_wait_over(None)  # deleted while starting
    True
    """
    if pod is None:
        return True
    phase = pod.status.phase if pod.status else None
    if phase not in (None, PodPhase.PENDING, PodPhase.UNKNOWN):
        return True
    return pod.status is not None and detect_pod_terminate_early_issues(pod) is not None


class Size(enum.StrEnum):
    """A task's size: the resources its language gives it (``languages.py``)."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


def task_args(command: Sequence[str]) -> list[str]:
    """A tool command line as the operators run it: the result goes to the xcom file.

    >>> task_args(["copy", "--table", "events"])
    ['copy', '--table', 'events', '--result-file', '/airflow/xcom/return.json']
    """
    return [*command, "--result-file", RESULT_FILE]


def restricted_container_context() -> k8s.V1SecurityContext:
    """Pod Security "restricted", per container; the root filesystem read-only."""
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def restricted_pod_context() -> k8s.V1PodSecurityContext:
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=TASK_UID,
        run_as_group=TASK_UID,
        fs_group=TASK_UID,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def resources(
    cpu: str, memory: str, cpu_limit: str | None, memory_limit: str
) -> k8s.V1ResourceRequirements:
    """Requests are what the scheduler reserves; sized so that a medium task fits beside the
    platform's services on a 2-core laptop kind node (its control plane reserves ~0.85 CPU).
    No CPU limit by default: a task bursts onto idle cores instead of being throttled."""
    limits = {"memory": memory_limit} | ({"cpu": cpu_limit} if cpu_limit else {})
    return k8s.V1ResourceRequirements(requests={"cpu": cpu, "memory": memory}, limits=limits)


def base_exit_code(remote_pod: k8s.V1Pod | None, container: str) -> int | None:
    """The exit code of the task container of a finished pod, if Kubernetes reported one."""
    statuses = (
        remote_pod.status.container_statuses if remote_pod and remote_pod.status else None
    ) or []
    for status in statuses:
        if status.name == container and status.state and status.state.terminated:
            code: int = status.state.terminated.exit_code
            return code
    return None


def raise_by_contract(code: int | None, what: str, cause: AirflowException | None = None) -> None:
    """Raise what a finished task's exit code means to Airflow; nothing for success.

    99 skips, 64/65 fail without retries; anything else is a failure Airflow retries:
    ``cause`` itself when given (the provider's own error), else one naming ``what``.
    """
    outcome = decide(code)
    message = f"{what} exited {describe(code)}"
    if outcome is Outcome.SUCCESS:
        return
    if outcome is Outcome.SKIP:
        raise AirflowSkipException(message) from cause
    if outcome is Outcome.FAIL_NO_RETRY:
        raise AirflowFailException(f"{message}: retrying cannot help; not retried") from cause
    raise cause or AirflowException(message)


class WorkerLeaving(AirflowException):
    """Raised into a try whose worker pod is being deleted (see ``TaskPodMixin.on_kill``)."""


class TaskPodMixin:
    """Everything the language operators share; mixed into a KubernetesPodOperator (or Job).

    Subclasses set ``language``, ``tool``, ``env_prefix`` and ``sizes`` (resources per size).

    A task is its ``command`` (the tool's command line; the operator adds the result file),
    what it connects to (``connections``), the tool's settings without their prefix
    (``options``: ``{"DATABASE": "{{ params.database }}"}`` becomes ``PYTASK_DATABASE``),
    secrets by reference, and a ``size``.
    """

    language: ClassVar[str]
    tool: ClassVar[str]
    env_prefix: ClassVar[str]
    kind_of_work: ClassVar[str]
    sizes: ClassVar[Mapping[str, k8s.V1ResourceRequirements]]
    image: str | None

    def __init__(  # noqa: PLR0913 - keyword-only, each one a documented knob
        self,
        *,
        task_id: str,
        command: Sequence[Any] | None = None,
        connections: Sequence[Connection] = (),
        options: Mapping[str, str] | None = None,
        env_vars: Mapping[str, str] | None = None,
        secrets: Sequence[SecretEnv | SecretFile] = (),
        size: Size | str = Size.SMALL,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        if size not in set(Size):
            raise ValueError(
                f"task {task_id!r}: expected size to be one of {', '.join(Size)}, got: {size!r}"
            )
        if "arguments" in kwargs:
            raise TypeError(
                f"task {task_id!r}: expected the command line as command=[...] (the operator "
                "adds --result-file), got arguments="
            )
        prefix = self.env_prefix
        env = {f"{prefix}{name}": value for name, value in (options or {}).items()}
        for connection in connections:
            env.update(connection.env(prefix))
            secrets = [*secrets, *connection.secrets(prefix)]
        env.update(env_vars or {})
        refuse_literal_secrets(env, task_id)
        self.settings = settings or Settings.from_env()
        self.size = Size(size)
        self.worker_left = False  # set once this try's worker pod is seen being deleted
        self.running_try: int | None = None  # the try running here (set when it starts)
        s = self.settings
        arguments = task_args(command) if command is not None else None
        defaults: dict[str, Any] = {
            "image": str(self.default_image()) if s.image_version else None,
            "namespace": s.namespace,
            "service_account_name": s.service_account,
            "kubernetes_conn_id": s.kubernetes_conn_id,
            "container_resources": self.sizes[self.size],
            "security_context": restricted_pod_context(),
            "container_security_context": restricted_container_context(),
            "xcom_sidecar_container_security_context": restricted_container_context(),
            "volumes": [k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource())],
            "volume_mounts": [k8s.V1VolumeMount(name="scratch", mount_path=SCRATCH_DIR)],
            "do_xcom_push": True,
            "get_logs": True,
            "log_events_on_failure": True,
            "on_finish_action": "delete_pod",
            "startup_timeout_seconds": s.startup_timeout_s,
            # The provider looks whether the pod has started (and reads its events) every 5 s
            # by default: 2.5 s lost per task on average, more than a small task's work. The
            # start is watched first (await_pod_start); these polls are what follows a long one.
            "startup_check_interval_seconds": 1,
            "skip_on_exit_code": [exit_codes.NOTHING_TO_DO],
            "image_pull_policy": "IfNotPresent",
            "termination_message_policy": "FallbackToLogsOnError",
            "automount_service_account_token": False,
        }
        if s.deferrable is not None:
            defaults["deferrable"] = s.deferrable
        defaults |= self.kind_defaults()
        if s.node_pool:
            defaults["affinity"] = k8s.V1Affinity(
                node_affinity=k8s.V1NodeAffinity(
                    required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                        node_selector_terms=[
                            k8s.V1NodeSelectorTerm(
                                match_expressions=[
                                    k8s.V1NodeSelectorRequirement(
                                        key=NODE_POOL_LABEL, operator="In", values=[s.node_pool]
                                    )
                                ]
                            )
                        ]
                    )
                )
            )
            defaults["tolerations"] = [
                k8s.V1Toleration(
                    key=NODE_POOL_LABEL, operator="Equal", value=s.node_pool, effect="NoSchedule"
                )
            ]
        env.update({f.name: f.path for f in secrets if isinstance(f, SecretFile)})
        # Secret names may be templates ("{{ params.source }}"): rendered in prepare_run.
        self.secret_refs = list(secrets)
        kwargs = {**defaults, **kwargs}
        super().__init__(  # type: ignore[call-arg]
            task_id=task_id,
            arguments=arguments,
            env_vars=env,
            secrets=[secret.to_kpo() for secret in secrets],
            **kwargs,
        )

    # ------------------------------------------------------------------------ image

    def default_image(self, version: str | None = None) -> ImageRef:
        s = self.settings
        return ImageRef(s.registry, s.repository(self.tool), version or s.image_version or "")

    def sidecar_image(self, version: str) -> str:
        if self.settings.xcom_sidecar_image:
            return self.settings.xcom_sidecar_image
        return str(
            ImageRef(self.settings.registry, self.settings.repository("xcom-sidecar"), version)
        )

    def resolve_image(self, params: Mapping[str, Any], variable_version: str | None) -> ImageRef:
        """The image for this run: Param ``images.<language>``, else a version from Param
        ``image_tag`` / the Variable / ``POLYETL_IMAGE_TAG``; always from an allowed registry.

        Raises ImageError naming the bad value; ``execute`` turns it into a failure without
        retries, before any pod is created.
        """
        allowed = self.settings.allowed_registries
        override = (params.get("images") or {}).get(self.language)
        if override:
            source = f"params.images.{self.language}"
            return ImageRef.parse(override, source).require_registry(allowed, source)
        for source, version in (
            ("params.image_tag", params.get("image_tag")),
            (f"Variable {IMAGE_TAG_VARIABLE}", variable_version),
            ("POLYETL_IMAGE_TAG", self.settings.image_version),
        ):
            if version:
                ref = self.default_image(check_version(version, source))
                return ref.require_registry(allowed, "POLYETL_IMAGE_REGISTRY")
        raise ImageError(
            f"expected an image version for {self.tool}: set POLYETL_IMAGE_TAG, the Variable "
            f"{IMAGE_TAG_VARIABLE}, or the Param image_tag; got none"
        )

    @staticmethod
    def variable_version() -> str | None:
        """The Airflow Variable's image version; read only when a task runs."""
        from airflow.sdk import Variable  # noqa: PLC0415 - only when a task runs

        value = Variable.get(IMAGE_TAG_VARIABLE, default=None)
        return str(value) if value else None

    def prepare_run(self, context: Context, variable_version: str | None) -> None:
        """Resolve image, sidecar, secret names and argument overrides for this run.

        Runs before any pod exists: a bad or forbidden image fails the task without retries.
        """
        ti = context.get("ti")
        self.running_try = ti.try_number if ti is not None else None
        params: Mapping[str, Any] = context.get("params") or {}
        self.secrets = [
            type(ref)(ref.name, self.render_template(ref.secret, context), ref.key).to_kpo()  # type: ignore[attr-defined]
            for ref in self.secret_refs
        ]
        try:
            ref = self.resolve_image(params, variable_version)
        except ImageError as exc:
            raise AirflowFailException(str(exc)) from exc
        self.image = str(ref)
        override = (params.get("task_args") or {}).get(self.task_id)  # type: ignore[attr-defined]
        if override is not None:
            self.arguments = task_args(override)
        self.log.info("task image %s (%s)", self.image, self.language)  # type: ignore[attr-defined]

    # -------------------------------------------------------------------------- pod

    def labels_for(self) -> dict[str, str]:
        dag_id = getattr(self, "dag_id", None) or "adhoc"
        return {
            "app.kubernetes.io/part-of": "polyetl",
            "app.kubernetes.io/managed-by": "airflow",
            "polyetl.io/pipeline": label_value(dag_id),
            "polyetl.io/task": label_value(self.task_id),  # type: ignore[attr-defined]
            "polyetl.io/language": self.language,
        }

    def build_pod_request_obj(
        self, context: Context | None = None, *, dry_run: bool = False
    ) -> k8s.V1Pod:
        pod: k8s.V1Pod = super().build_pod_request_obj(context, dry_run=dry_run)  # type: ignore[misc]
        return self.finish_pod(pod)

    def finish_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        """Our labels, and the xcom sidecar's image following the task image's version."""
        pod.metadata.labels = {**(pod.metadata.labels or {}), **self.labels_for()}
        # The sidecar's version follows the task image's (resolved in prepare_run).
        image = pod.spec.containers[0].image
        sidecar = self.sidecar_image(ImageRef.parse(image).version) if image else None
        for container in pod.spec.containers:
            if container.name == PodDefaults.SIDECAR_CONTAINER_NAME:
                container.command = ["sh", "-c", SIDECAR_SCRIPT]
                if sidecar:
                    container.image = sidecar
        return pod

    def classify_failure(self, exc: AirflowException, remote_pod: k8s.V1Pod | None) -> None:
        """Re-raise a pod failure as the contract says: no retries for 64/65, else retry."""
        code = base_exit_code(remote_pod, self.base_container_name)  # type: ignore[attr-defined]
        raise_by_contract(code, self.tool, exc)
        raise exc  # success by its exit code, yet the provider failed it: keep its error

    def await_pod_start(self, pod: k8s.V1Pod) -> None:
        """Wait for the pod to start, noticing it the moment it does.

        The provider polls a starting pod at ``startup_check_interval_seconds`` (whole
        seconds): its start is seen 0.5 s late on average, a quarter of a small task's
        overhead. This watches the pod instead (``START_WATCH_S`` at most), then hands over to
        the provider's own check, which now finds the pod started at its first look (or
        polls on, with its timeouts and its errors, when the watch did not end the wait).
        """
        if self.watch_pod_start(pod) and self.log_events_on_startup:  # type: ignore[attr-defined]
            self.log_start_events(pod)
        super().await_pod_start(pod)  # type: ignore[misc]

    def watch_pod_start(self, pod: k8s.V1Pod) -> bool:
        """Watch the pod until ``start_wait_over``; whether it was seen over in time. An API
        error ends the watch quietly: the provider's polls then wait (and report) as ever."""
        name, namespace = pod.metadata.name, pod.metadata.namespace
        watcher = watch.Watch()
        try:
            for event in watcher.stream(
                self.client.list_namespaced_pod,  # type: ignore[attr-defined]
                namespace,
                field_selector=f"metadata.name={name}",
                timeout_seconds=START_WATCH_S,
            ):
                seen = None if event["type"] == "DELETED" else event["object"]
                if start_wait_over(seen):
                    return True
        except (ApiException, HTTPError) as exc:
            self.log.info("watching pod %s's start failed (%s): polling instead", name, exc)  # type: ignore[attr-defined]
        finally:
            watcher.stop()
        return False

    def log_start_events(self, pod: k8s.V1Pod) -> None:
        """The pod's events so far (scheduled, pulled, started), as the provider's polls would
        have logged them while it waited."""
        try:
            events = self.pod_manager.read_pod_events(pod)  # type: ignore[attr-defined]
        except (ApiException, HTTPError) as exc:  # best effort, as the provider's own
            self.log.info("could not read pod %s's events: %s", pod.metadata.name, exc)  # type: ignore[attr-defined]
            return
        seen: set[str] = set()
        for event in events.items:
            log_pod_event(self.pod_manager, event, seen)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- on_kill

    def worker_is_leaving(self) -> bool:
        """Whether this worker's own pod is being deleted: a drained node, an eviction, a
        force-delete (the pod is then already gone). Read from the API server, through the
        pod name and namespace the worker pod template passes in (downward API); outside a
        KubernetesExecutor worker it is never leaving."""
        name = os.environ.get(WORKER_POD_ENV)
        namespace = os.environ.get(WORKER_NAMESPACE_ENV)
        if not name or not namespace:
            return False
        try:
            worker = self.client.read_namespaced_pod(name, namespace)  # type: ignore[attr-defined]
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return True
            self.log.warning("could not read worker pod %s: %s", name, exc.reason)  # type: ignore[attr-defined]
            return False
        return worker.metadata.deletion_timestamp is not None

    def on_kill(self) -> None:
        """The rule: Airflow stops a task, Kubernetes moving its worker does not.

        A user marking the task failed or success, clearing it, or its execution_timeout
        ends the try and stops the task's pod (or Job). A worker that goes away — force-deleted
        on node loss, or deleted gracefully when its node is drained — ends its try at once
        and leaves the task's pod running: the next try reattaches to it instead of starting
        the work again. On the last try there is no next one: the pod is stopped then too.
        """
        last_try = self.running_try is not None and self.running_try > self.retries  # type: ignore[attr-defined]
        if not last_try and (self.worker_left or self.worker_is_leaving()):
            worker = os.environ.get(WORKER_POD_ENV, "")
            first = not self.worker_left
            self.worker_left = True
            if first:
                try:  # visible on the task's pod or Job (kubectl describe) once the worker is gone
                    self.annotate_work({WORKER_LEFT_ANNOTATION: worker})
                except ApiException as exc:
                    self.log.warning(  # type: ignore[attr-defined]
                        "could not annotate the task's %s: %s", self.kind_of_work, exc.reason
                    )
            # End this try now, touching nothing: finishing it here would race the next try
            # (Airflow fails a try whose worker pod is deleted) and could run the work twice.
            raise WorkerLeaving(
                f"worker pod {worker} is being deleted: this try ends; the task's "
                f"{self.kind_of_work} keeps running and the next try reattaches to it"
            )
        super().on_kill()  # type: ignore[misc]

    def annotate_work(self, annotations: dict[str, str]) -> None:
        """Annotate the task's pod (a Job: the Job)."""
        raise NotImplementedError

    def kind_defaults(self) -> dict[str, Any]:
        """Defaults of the kind of work (pod or Job) on top of the shared ones."""
        return {}


class TaskPod(TaskPodMixin, KubernetesPodOperator):
    """A task as one bare pod."""

    kind_of_work = "pod"

    def annotate_work(self, annotations: dict[str, str]) -> None:
        if self.pod is not None:
            self.client.patch_namespaced_pod(
                self.pod.metadata.name,
                self.pod.metadata.namespace,
                {"metadata": {"annotations": annotations}},
            )

    def execute(self, context: Context) -> Any:
        self.prepare_run(context, self.variable_version())
        return super().execute(context)

    def extract_xcom(
        self, pod: k8s.V1Pod, *, ignore_kill_failure: bool = True
    ) -> dict[Any, Any] | None:
        """The task's result, read from the xcom sidecar with one exec.

        The provider then stops the sidecar with a second exec (``pgrep``), only so that the
        pod can finish before it is deleted. A pod that is deleted next needs no such step:
        its sidecar ends on the deletion's SIGTERM (``SIDECAR_SCRIPT``). And if this worker
        goes before the deletion, the pod stays as it was, for the next try to read again.
        Any other ``on_finish_action`` keeps the provider's way.
        """
        if self.on_finish_action != OnFinishAction.DELETE_POD:
            return super().extract_xcom(pod, ignore_kill_failure=ignore_kill_failure)
        result = self.pod_manager.extract_xcom_json(pod)
        if result.rstrip() == EMPTY_XCOM_RESULT:
            self.log.info("xcom result file is empty.")
            return None
        parsed: dict[Any, Any] = json.loads(result)
        return parsed

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict[str, Any] | None = None,
        context: Context | None = None,
    ) -> None:
        if self.worker_left:
            return  # the pod is the next try's now: no deletion, no "already checked" label
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except (AirflowSkipException, AirflowFailException):
            raise
        except AirflowException as exc:
            self.classify_failure(exc, remote_pod)
