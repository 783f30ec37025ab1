"""Starting the chDB-backed ClickHouse HTTP endpoint for tests and benchmarks.

The endpoint itself is images/chdb-http/chdb_http.py (also the `polyetl/chdb-http` image the
local kind overlay runs); what it implements of ClickHouse's HTTP interface, and what not, is
in its docstring. Tests use a real server whenever one is reachable; this is the fallback.

It runs with this interpreter (``sys.executable``), so the environment needs ``chdb``: the
root's dev group and tasks/python's both pin it. The root tests import this module as
``tests.support.chdb_http``, tasks/python's as ``support.chdb_http``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect

SERVER = Path(__file__).resolve().parents[2] / "images" / "chdb-http" / "chdb_http.py"
# What the endpoint prints once it listens: with `--port 0` the port the OS gave it.
LISTENING = re.compile(rb"listening on http://[^\s:]+:(\d+)")


@dataclass(frozen=True)
class ChdbEndpoint:
    """A running images/chdb-http/chdb_http.py process: ClickHouse's HTTP interface over chDB."""

    host: str
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        """A clickhouse-connect client of this endpoint (also of a real server's address)."""
        return clickhouse_connect.get_client(
            host=self.host, port=self.port, username=self.user, password=self.password
        )


def pytask_env(role: str, endpoint: ChdbEndpoint) -> dict[str, str]:
    """``PYTASK_<ROLE>_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``: how pytask reaches
    ``endpoint`` (also a real server's or a container's, which have the same fields) as the
    SOURCE or DEST server."""
    return {
        f"PYTASK_{role}_HOST": endpoint.host,
        f"PYTASK_{role}_PORT": str(endpoint.port),
        f"PYTASK_{role}_USER": endpoint.user,
        f"PYTASK_{role}_PASSWORD": endpoint.password,
    }


def start_chdb_endpoint(data_dir: Path) -> tuple[ChdbEndpoint, subprocess.Popen[bytes]]:
    """Start an endpoint on a loopback port the OS picks (the endpoint reports it) with a fresh
    password; wait until it answers."""
    password = uuid.uuid4().hex
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SERVER),
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CLICKHOUSE_PASSWORD": password, "CLICKHOUSE_USER": "default"},
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"chdb_http exited {proc.returncode}: {log_path.read_text()[-2000:]}"
            )
        listening = LISTENING.search(log_path.read_bytes())
        if listening is None:
            time.sleep(0.1)
            continue
        port = int(listening.group(1))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as response:
                if response.read() == b"Ok.\n":
                    return ChdbEndpoint("127.0.0.1", port, "default", password), proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"chdb_http did not answer within 60 s: {log_path.read_text()[-2000:]}")


def stop_chdb_endpoint(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, as Kubernetes stops the pod; SIGKILL if it has not ended in ``timeout`` s.

    Teardown never hangs on it; that SIGTERM alone stops it is a test of its own
    (tests/integration/test_chdb_http.py).
    """
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
