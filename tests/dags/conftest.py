"""DAG and operator tests: no cluster, no Airflow database. Airflow itself runs (DagBag,
operators rendering their pods); only what needs a Kubernetes API is left to the e2e tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
TAG = "0123456789ab"

# Before any test module imports Airflow: a private AIRFLOW_HOME (Airflow reads it at import),
# and the deployment settings the operators read, as a deployment would set them.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="polyetl-airflow-home-"))
os.environ["POLYETL_IMAGE_TAG"] = TAG
for name in ("POLYETL_ALLOWED_REGISTRIES", "POLYETL_IMAGE_REGISTRY", "POLYETL_NODE_POOL"):
    os.environ.pop(name, None)
