"""Every pod of a namespace as the API server reports it, recorded by a watch in a thread:
the e2e tests judge those pod objects (not our own specs) and act on a pod the moment it is
seen (hooks), and the pod benchmark times when each pod first appeared."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

Pod = dict[str, Any]


def core_api(kubeconfig: str) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(k8s_config.new_client_from_config(config_file=kubeconfig))


@dataclass
class PodRecorder:
    """The namespace's pods (by uid, latest state), and when the watch first saw each one
    (`seen`)."""

    api: k8s_client.CoreV1Api
    namespace: str
    pods: dict[str, Pod] = field(default_factory=dict)
    hooks: list[Callable[[Pod], None]] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)
    _watch: k8s_watch.Watch = field(default_factory=k8s_watch.Watch)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        serialize = self.api.api_client.sanitize_for_serialization
        while self._thread is not None:
            # A watch ends (server timeout, dropped connection): list and watch again — every
            # current pod is re-delivered, so nothing is missed while the thread runs.
            try:
                for event in self._watch.stream(
                    self.api.list_namespaced_pod, self.namespace, timeout_seconds=60
                ):
                    self._record(serialize(event["object"]), time.time())
            except (urllib3.exceptions.HTTPError, k8s_client.ApiException, OSError):
                time.sleep(0.2)
            self._watch = k8s_watch.Watch()

    def _record(self, pod: Pod, now: float) -> None:
        uid = pod["metadata"]["uid"]
        self.pods[uid] = pod
        self.seen.setdefault(uid, now)
        for hook in list(self.hooks):
            hook(pod)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._watch.stop()  # the stream ends at its next event or its 60 s timeout
        if thread is not None:
            thread.join(timeout=70)

    def snapshot(self) -> dict[str, Pod]:
        """The pods seen so far (a copy: the watch thread keeps adding)."""
        return dict(self.pods)

    def worker_pods(self) -> list[Pod]:
        """The KubernetesExecutor's worker pods (one per task try)."""
        return [
            p
            for p in self.snapshot().values()
            if (p["metadata"].get("labels") or {}).get("kubernetes_executor") == "True"
        ]

    def task_pods(self, pipeline: str | None = None) -> list[Pod]:
        """The language operators' task pods, of one pipeline (DAG) or all."""
        return [
            p
            for p in self.snapshot().values()
            if "polyetl.io/task" in (p["metadata"].get("labels") or {})
            and (pipeline is None or p["metadata"]["labels"].get("polyetl.io/pipeline") == pipeline)
        ]
