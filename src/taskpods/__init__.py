"""taskpods: Airflow operators that run polyetl's task images as Kubernetes pods.

A DAG task reads like ``RustTask(task_id="transform", command=["transform", ...])``. Everything
else a task pod needs is decided here, in one typed place: which image (registry allowlist,
never ``latest``, overridable per run through DAG Params), the pod's defaults (resources,
node pool, namespace, service account, the restricted security context), labels, secrets
only by reference, logs, xcom, cleanup, and what the task contract's exit codes mean to
Airflow (``docs/task-contract.md``).
"""

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
from taskpods.params import image_params
from taskpods.pod import RESULT_FILE, task_args
from taskpods.secrets import SecretEnv, SecretFile
from taskpods.settings import Settings

__all__ = [
    "RESULT_FILE",
    "ElixirJob",
    "ElixirTask",
    "ImageError",
    "ImageRef",
    "Outcome",
    "PythonJob",
    "PythonTask",
    "RustJob",
    "RustTask",
    "SecretEnv",
    "SecretFile",
    "Settings",
    "decide",
    "image_params",
    "task_args",
]
