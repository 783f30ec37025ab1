"""One operator per task language (and a Job variant of each): image and resource defaults.

RustTask(task_id="transform", command=["transform", "--input", "raw/acme/x.csv"])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from kubernetes.client import models as k8s

from taskpods.jobs import TaskJob
from taskpods.pod import TaskPod, resources


class PythonImage:
    """pytask: ClickHouse work — mostly waiting on the server; modest CPU, memory for blocks."""

    language: ClassVar[str] = "python"
    env_prefix: ClassVar[str] = "PYTASK_"
    tool: ClassVar[str] = "pytask"
    sizes: ClassVar[Mapping[str, k8s.V1ResourceRequirements]] = {
        "small": resources("100m", "192Mi", None, "512Mi"),
        "medium": resources("250m", "512Mi", None, "1Gi"),
        "large": resources("1", "1Gi", None, "4Gi"),
    }


class RustImage:
    """rstask: CPU-bound streaming transform with bounded memory. Requests stay modest (no
    CPU limit: it bursts onto idle cores) so two medium tasks and their Airflow workers fit
    beside the platform on a 2-core node (k8s/base/airflow/airflow.cfg, parallelism)."""

    language: ClassVar[str] = "rust"
    env_prefix: ClassVar[str] = "RSTASK_"
    tool: ClassVar[str] = "rstask"
    sizes: ClassVar[Mapping[str, k8s.V1ResourceRequirements]] = {
        "small": resources("100m", "64Mi", None, "256Mi"),
        "medium": resources("250m", "128Mi", None, "512Mi"),
        "large": resources("1", "256Mi", None, "1Gi"),
    }


class ElixirImage:
    """extask: concurrent S3 orchestration, I/O-bound."""

    language: ClassVar[str] = "elixir"
    env_prefix: ClassVar[str] = "EXTASK_"
    tool: ClassVar[str] = "extask"
    sizes: ClassVar[Mapping[str, k8s.V1ResourceRequirements]] = {
        "small": resources("100m", "128Mi", None, "384Mi"),
        "medium": resources("250m", "256Mi", None, "768Mi"),
        "large": resources("1", "512Mi", None, "1536Mi"),
    }


class PythonTask(PythonImage, TaskPod):
    """A pytask command as a pod."""


class RustTask(RustImage, TaskPod):
    """An rstask command as a pod."""


class ElixirTask(ElixirImage, TaskPod):
    """An extask command as a pod."""


class PythonJob(PythonImage, TaskJob):
    """A long pytask command as a Kubernetes Job."""


class RustJob(RustImage, TaskJob):
    """A long rstask command as a Kubernetes Job."""


class ElixirJob(ElixirImage, TaskJob):
    """A long extask command as a Kubernetes Job."""
