"""Fixtures for the end-to-end tests: a real kind cluster, made by the project's own scripts.

The session makes (or reuses) the cluster `$KIND_CLUSTER_NAME` (default `polyetl-e2e`, so a
developer's `polyetl` cluster is never touched) with `make kind-up`, loads the images with
`make kind-load`, and hands tests a `Cluster` to run kubectl against it. The first run on a
machine builds the node image from source (see hack/machine/kind-node.sh; cached afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KIND_SCRIPT = REPO_ROOT / "hack" / "kind.sh"
CLUSTER_NAME = os.environ.setdefault("KIND_CLUSTER_NAME", "polyetl-e2e")
# A cold node-image build compiles Kubernetes, etcd and CoreDNS: tens of minutes on 2 cores.
UP_TIMEOUT_S = 75 * 60
# The platform as the e2e tests deploy it: Airflow notices lost workers, schedulers and
# triggerers in seconds (k8s/components/fast-fault-detection), so fault tests stay short.
DEPLOY_ENV = {"POLYETL_FAST_FAULT_DETECTION": "1"}


def script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run hack/kind.sh with the given arguments; raise with its output when it fails."""
    proc = subprocess.run(
        [str(KIND_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"hack/kind.sh {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def make(target: str, timeout: float) -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"make {target} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


@dataclass
class Cluster:
    """kubectl against the test cluster, in a namespace of this session's own."""

    name: str
    namespace: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:8]}")

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(KIND_SCRIPT), "kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
            )
        return proc

    def apply(self, *objects: Mapping[str, Any]) -> None:
        items = [
            dict(obj, metadata={**obj["metadata"], "namespace": self.namespace}) for obj in objects
        ]
        self.kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
        )

    def get(self, kind: str, name: str) -> dict[str, Any]:
        out = self.kubectl("-n", self.namespace, "get", kind, name, "-o", "json").stdout
        result: dict[str, Any] = json.loads(out)
        return result

    def wait(self, kind_name: str, condition: str, timeout_s: int = 180) -> None:
        self.kubectl(
            "-n",
            self.namespace,
            "wait",
            f"--for={condition}",
            kind_name,
            f"--timeout={timeout_s}s",
            timeout=timeout_s + 30,
        )

    def logs(self, pod: str, container: str | None = None) -> str:
        args: Sequence[str] = ["-n", self.namespace, "logs", pod]
        if container:
            args = [*args, "-c", container]
        return self.kubectl(*args).stdout


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `last` (deleting the cluster) run after every other e2e test."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def docker_usable() -> bool:
    return shutil.which("docker") is not None and (
        subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if not docker_usable():
        if os.environ.get("CI"):
            pytest.fail("CI must run the e2e tests, but no Docker engine answers (make setup)")
        pytest.skip("no Docker engine: the kind e2e tests need one (make setup)")
    make("kind-up", timeout=UP_TIMEOUT_S)
    make("kind-load", timeout=900)
    made = Cluster(name=CLUSTER_NAME)
    made.kubectl("create", "namespace", made.namespace)
    made.kubectl("-n", made.namespace, "create", "serviceaccount", "polyetl-task")
    yield made
    made.kubectl("delete", "namespace", made.namespace, "--wait=false", check=False)
