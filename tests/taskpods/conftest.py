"""Operator tests (src/taskpods, one test file per module): no cluster, no Airflow database.
Airflow itself runs (operators rendering their pods); only what needs a Kubernetes API is left
to the e2e tests.

The process is prepared for Airflow here, once, for this directory and for tests/dags (whose
conftest imports this one): before any test module imports Airflow.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from kubernetes.client import ApiClient

from taskpods import Settings

TAG = "0123456789ab"

# Before any test module imports Airflow: a private AIRFLOW_HOME (Airflow reads it at import),
# and the deployment settings the operators read, as a deployment would set them.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="polyetl-airflow-home-"))
os.environ["POLYETL_IMAGE_TAG"] = TAG
for name in ("POLYETL_ALLOWED_REGISTRIES", "POLYETL_IMAGE_REGISTRY", "POLYETL_NODE_POOL"):
    os.environ.pop(name, None)


def settings(**overrides: Any) -> Settings:
    return Settings(
        **{"image_version": TAG, "allowed_registries": frozenset({"docker.io"}), **overrides}
    )


def render(task: Any) -> dict[str, Any]:
    result: dict[str, Any] = ApiClient().sanitize_for_serialization(
        task.build_pod_request_obj(dry_run=True)
    )
    return result
