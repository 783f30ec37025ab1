"""taskpods: Airflow operators that run polyetl's task images as Kubernetes pods.

A DAG task reads like ``RustTask(task_id="transform", command=["transform", ...])``. Everything
else a task pod needs is decided here, in one typed place: which image (registry allowlist,
never ``latest``, overridable per run through DAG Params), the pod's defaults (resources,
node pool, namespace, service account, the restricted security context), labels, secrets
only by reference, logs, xcom, cleanup, and what the task contract's exit codes mean to
Airflow (``docs/task-contract.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskpods.connections import ClickHouse, S3Bucket
    from taskpods.exit_codes import Outcome, decide
    from taskpods.images import ImageError, ImageRef
    from taskpods.languages import (
        ElixirJob,
        ElixirTask,
        PythonJob,
        PythonTask,
        RustJob,
        RustTask,
    )
    from taskpods.params import clickhouse_name, image_params
    from taskpods.pod import RESULT_FILE, Size, task_args
    from taskpods.secrets import SecretEnv, SecretFile
    from taskpods.settings import Settings

# Loaded on first use, so that `taskpods.exit_codes`, `.images`, `.settings` and `.labels`
# import without Airflow (the contract suite reads the exit codes from here).
_HOME = {
    "ClickHouse": "connections",
    "S3Bucket": "connections",
    "Size": "pod",
    "Outcome": "exit_codes",
    "decide": "exit_codes",
    "ImageError": "images",
    "ImageRef": "images",
    "ElixirJob": "languages",
    "ElixirTask": "languages",
    "PythonJob": "languages",
    "PythonTask": "languages",
    "RustJob": "languages",
    "RustTask": "languages",
    "image_params": "params",
    "clickhouse_name": "params",
    "RESULT_FILE": "pod",
    "task_args": "pod",
    "SecretEnv": "secrets",
    "SecretFile": "secrets",
    "Settings": "settings",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'taskpods' has no attribute {name!r}")
    return getattr(importlib.import_module(f"taskpods.{_HOME[name]}"), name)


__all__ = [
    "RESULT_FILE",
    "ClickHouse",
    "ElixirJob",
    "ElixirTask",
    "ImageError",
    "ImageRef",
    "Outcome",
    "PythonJob",
    "PythonTask",
    "RustJob",
    "RustTask",
    "S3Bucket",
    "SecretEnv",
    "SecretFile",
    "Settings",
    "Size",
    "clickhouse_name",
    "decide",
    "image_params",
    "task_args",
]
