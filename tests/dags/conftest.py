"""DAG tests: no cluster, no Airflow database. Airflow itself runs (DagBag, operators rendering
their pods); only what needs a Kubernetes API is left to the e2e tests.

The process is prepared for Airflow (a private AIRFLOW_HOME, the deployment settings, the image
tag) by tests/taskpods/conftest.py, which the import below runs before any test module here
imports Airflow.
"""

from __future__ import annotations

from pathlib import Path

from tests.taskpods.conftest import TAG

__all__ = ["DAGS_DIR", "REPO_ROOT", "TAG"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
