"""The kind cluster works as the pipelines need it: `make kind-up` → nodes Ready → one of our
task images runs as a pod and its logs come back → a Service resolves by DNS name from
another pod → `make kind-down` removes everything. Runs the real thing; nothing is mocked.

The test that deletes the cluster is marked `last`: conftest runs it after every other e2e test.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contract.harness import image_refs
from tests.e2e.conftest import CLUSTER_NAME, KIND_SCRIPT, Cluster, make

pytestmark = pytest.mark.kind

# What the operators will enforce for every task pod (Pod Security "restricted").
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod(name: str, image: str, args: list[str], command: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "task",
        "image": image,
        "imagePullPolicy": "Never",
        "args": args,
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
    }
    if command is not None:
        container["command"] = command
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001},
            "containers": [container],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }


def test_nodes_are_ready(cluster: Cluster) -> None:
    cluster.kubectl("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=120s")
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert nodes, "the cluster has no nodes"
    versions = {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}
    assert all(v.startswith("v1.") for v in versions), versions


def test_task_image_pod_completes_and_its_logs_are_read(cluster: Cluster) -> None:
    image = image_refs()["rust"]
    cluster.apply(pod("selfcheck", image, ["selfcheck", "--log-level", "debug"]))
    cluster.wait("pod/selfcheck", "jsonpath={.status.phase}=Succeeded")
    state = cluster.get("pod", "selfcheck")["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["exitCode"] == 0
    lines = [
        json.loads(line) for line in cluster.logs("selfcheck").splitlines() if line.startswith("{")
    ]
    msgs = [line.get("msg") for line in lines]
    assert "selfcheck done" in msgs, msgs
    result = next(line for line in lines if "status" in line)
    assert result["outputs"]["uid"] == 10001


def test_service_resolves_by_dns_name_from_another_pod(cluster: Cluster) -> None:
    image = image_refs()["python"]
    server = pod("web", image, ["-m", "http.server", "8080", "--directory", "/tmp"], ["python3"])
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    cluster.apply(server, service)
    cluster.wait("pod/web", "condition=Ready")
    host = f"web.{cluster.namespace}.svc.cluster.local"
    probe = (
        "import socket, urllib.request; "
        f"print(socket.gethostbyname('{host}')); "
        f"print(urllib.request.urlopen('http://{host}/', timeout=10).status)"
    )
    cluster.apply(pod("client", image, ["-c", probe], ["python3"]))
    cluster.wait("pod/client", "jsonpath={.status.phase}=Succeeded", timeout_s=120)
    address, status = cluster.logs("client").split()
    service_ip = cluster.get("service", "web")["spec"]["clusterIP"]
    assert (address, status) == (service_ip, "200")


@pytest.mark.last
@pytest.mark.usefixtures("cluster")
def test_kind_down_removes_everything() -> None:
    make("kind-down", timeout=300)
    clusters = subprocess.run(
        [str(KIND_SCRIPT), "status"], capture_output=True, text=True, check=False
    )
    assert clusters.returncode != 0, f"cluster {CLUSTER_NAME} still listed"
    containers = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER_NAME}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert containers.strip() == "", f"kind node containers left: {containers}"
    kubeconfig = subprocess.run(
        [str(KIND_SCRIPT), "kubeconfig"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert not Path(kubeconfig).exists(), kubeconfig
