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
        """`kubectl port-forward svc/<service> :<port>`: yields the local port, stops after."""
        proc = subprocess.Popen(
            [
                str(HACK / "kind.sh"),
                "kubectl",
                "-n",
                self.namespace,
                "port-forward",
                f"svc/{service}",
                f":{port}",
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,  # its own process group: kubectl goes with the wrapper
        )
        assert proc.stdout is not None
        output = proc.stdout
        drain: threading.Thread | None = None
        try:
            deadline = time.monotonic() + timeout_s
            local = None
            seen = []
            while local is None and time.monotonic() < deadline:
                line = output.readline()
                seen.append(line)
                if not line and proc.poll() is not None:
                    raise ClusterError(f"port-forward to svc/{service} exited: {''.join(seen)}")
                if match := FORWARDING.search(line):
                    local = int(match.group(1))
            if local is None:
                raise ClusterError(f"port-forward to svc/{service} gave no port in {timeout_s}s")
            # kubectl logs a line per connection: keep reading so its pipe never fills up.
            drain = threading.Thread(target=lambda: [None for _ in output], daemon=True)
            drain.start()
            yield local
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if drain is not None:
                drain.join(timeout=10)  # EOF now that kubectl exited
            output.close()
