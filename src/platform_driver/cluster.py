"""kubectl against the kind cluster (through hack/kind.sh, so the pinned kubectl and the
cluster's kubeconfig are used), Secrets, and port-forwards to the platform's Services."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK = REPO_ROOT / "hack"
NAMESPACE = "polyetl"  # k8s/base/kustomization.yaml
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


class ClusterError(RuntimeError):
    """A kubectl or hack/ script call failed; the message carries its stderr."""


def hack(script: str, *args: str, timeout: float = 1800, env: dict[str, str] | None = None) -> str:
    """Run hack/<script> with args (and `env` added to ours); its stdout. Progress (stderr)
    passes through."""
    proc = subprocess.run(
        [str(HACK / script), *args],
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise ClusterError(f"hack/{script} {' '.join(args)} exited {proc.returncode}")
    return proc.stdout.strip()


@dataclass
class Cluster:
    """The kind cluster `$KIND_CLUSTER_NAME` (default polyetl) and the platform namespace."""

    name: str = field(default_factory=lambda: os.environ.get("KIND_CLUSTER_NAME", "polyetl"))
    namespace: str = NAMESPACE

    def env(self) -> dict[str, str]:
        return {**os.environ, "KIND_CLUSTER_NAME": self.name}

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(HACK / "kind.sh"), "kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.env(),
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def get_json(self, *args: str) -> dict[str, Any]:
        out = self.kubectl("-n", self.namespace, "get", *args, "-o", "json").stdout
        result: dict[str, Any] = json.loads(out)
        return result

    def secret(self, name: str) -> dict[str, str]:
        """A Secret's data, decoded. For the demo's own clients and the tests' log checks."""
        data = self.get_json("secret", name).get("data", {})
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def airflow_kubeconfig(self) -> Path:
        """A kubeconfig acting as the operators' service account (hack/deploy.sh)."""
        proc = subprocess.run(
            [str(HACK / "deploy.sh"), "kubeconfig"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=self.env(),
        )
        if proc.returncode != 0:
            raise ClusterError(f"hack/deploy.sh kubeconfig failed: {proc.stderr}")
        return Path(proc.stdout.strip())

    @contextmanager
    def port_forward(self, service: str, port: int, timeout_s: float = 30) -> Iterator[int]:
        """`kubectl port-forward svc/<service> :<port>`: yields the local port, stops after.

        kubectl's forward ends when the pod behind it goes (a restart, a rollout): it is then
        started again on the same local port, so a long test keeps its URL."""
        forward = self._forward(service, f":{port}", timeout_s)
        local = forward.local
        stop = threading.Event()

        def keep() -> None:
            nonlocal forward
            while not stop.is_set():
                forward.proc.wait()
                while not stop.is_set():
                    time.sleep(1)
                    try:
                        forward = self._forward(service, f"{local}:{port}", timeout_s)
                        break
                    except ClusterError:
                        continue  # the service has no ready pod yet: try again

        keeper = threading.Thread(target=keep, daemon=True)
        keeper.start()
        try:
            yield local
        finally:
            stop.set()
            forward.stop()
            keeper.join(timeout=timeout_s + 15)
            forward.stop()  # one the keeper may have started meanwhile

    def _forward(self, service: str, ports: str, timeout_s: float) -> Forward:
        proc = subprocess.Popen(
            [
                str(HACK / "kind.sh"),
                "kubectl",
                "-n",
                self.namespace,
                "port-forward",
                f"svc/{service}",
                ports,
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,  # its own process group: kubectl goes with the wrapper
        )
        forward = Forward(proc)
        assert proc.stdout is not None
        output = proc.stdout
        deadline = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < deadline:
            line = output.readline()
            seen.append(line)
            if not line and proc.poll() is not None:
                forward.stop()
                raise ClusterError(f"port-forward to svc/{service} exited: {''.join(seen)}")
            if match := FORWARDING.search(line):
                forward.local = int(match.group(1))
                # kubectl logs a line per connection: keep reading so its pipe never fills.
                forward.drain = threading.Thread(target=lambda: [None for _ in output], daemon=True)
                forward.drain.start()
                return forward
        forward.stop()
        raise ClusterError(f"port-forward to svc/{service} gave no port in {timeout_s}s")


@dataclass
class Forward:
    """One `kubectl port-forward` process (through hack/kind.sh, in its own process group)."""

    proc: subprocess.Popen[str]
    local: int = 0
    drain: threading.Thread | None = None

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.drain is not None:
            self.drain.join(timeout=10)  # EOF now that kubectl exited
        if self.proc.stdout is not None:
            self.proc.stdout.close()
