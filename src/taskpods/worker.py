"""The KubernetesExecutor worker pod's entry point: import our operators once, then run
Airflow's own worker command in the same process.

The executor gives the worker container its command line as ``args`` (``python -m
airflow.sdk.execution_time.execute_workload --json-string …``) and keeps the pod template's
``command``, which is ``python -m taskpods.worker`` (k8s/base/airflow/pod_template.yaml).
This module imports the operators — and with them both Kubernetes clients, ~2,000 modules,
about 1 s of a task's start on a 2-core node — then runs that module as ``__main__``.
Airflow's supervisor forks the task process from this one, so the task's DAG file parses
against modules already loaded (``Worker startup parse complete … dag_file_parse_ms``: from
~1,100 ms to ~100 ms). Any other command line is run as is, without the preload.

    python -m taskpods.worker python -m airflow.sdk.execution_time.execute_workload --json-string …
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
from collections.abc import Sequence

# What every task of ours imports: the bare-pod and the Job operators of every language.
PRELOAD = ("taskpods.languages",)


def preload(modules: Sequence[str] = PRELOAD) -> list[str]:
    """Import the modules; the names of those that failed. A failure only costs the
    preload: the task process imports them again and reports the error in the task's log."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any import error: go on without the preload
            print(f"taskpods.worker: could not preload {name}: {exc!r}", file=sys.stderr)
            failed.append(name)
    return failed


def python_module(argv: Sequence[str]) -> str | None:
    """The module of a ``python -m <module> …`` command line, else None.

    >>> python_module(["python", "-m", "airflow.sdk.execution_time.execute_workload", "--x"])
    'airflow.sdk.execution_time.execute_workload'
    >>> python_module(["/usr/bin/python3.11", "-m", "m"])
    'm'
    >>> python_module(["airflow", "tasks", "run"]) is None
    True
    """
    if len(argv) >= 3 and os.path.basename(argv[0]).startswith("python") and argv[1] == "-m":
        return argv[2]
    return None


def main(argv: Sequence[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m taskpods.worker <command line of the worker>")
    module = python_module(argv)
    if module is None:
        os.execvp(argv[0], list(argv))  # noqa: S606 - not ours to speed up: run it unchanged
    preload()
    sys.argv = [module, *argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
