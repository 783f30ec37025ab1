"""Deployment settings (taskpods.settings): from the environment, each bad value named with what
was expected."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from taskpods import ImageError, RustTask, Settings
from tests.taskpods.conftest import settings


def test_deferrable_and_job_ttl_come_from_the_environment() -> None:
    on = Settings.from_env({"POLYETL_DEFERRABLE": "true", "POLYETL_JOB_TTL_SECONDS": "600"})
    assert (on.deferrable, on.job_ttl_s) == (True, 600)
    assert Settings.from_env({}).deferrable is None  # Airflow's [operators] default_deferrable
    with DAG("deferred"):
        deferred = RustTask(task_id="t", command=["x"], settings=settings(deferrable=True))
        synced = RustTask(task_id="u", command=["x"], settings=settings(deferrable=False))
        explicit = RustTask(
            task_id="v", command=["x"], settings=settings(deferrable=True), deferrable=False
        )
    assert (deferred.deferrable, synced.deferrable, explicit.deferrable) == (True, False, False)


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("POLYETL_DEFERRABLE", "sometimes", "one of 0, 1, false"),
        ("POLYETL_JOB_TTL_SECONDS", "-5", "a positive number of seconds"),
        ("POLYETL_POD_STARTUP_TIMEOUT", "3m", "a positive number of seconds"),
        ("POLYETL_NAMESPACE", "Team_A", "a DNS label"),
        ("POLYETL_SERVICE_ACCOUNT", "-task", "a DNS subdomain"),
        ("POLYETL_NODE_POOL", "etl pool", "a label value"),
        ("POLYETL_IMAGE_REGISTRY", "https://reg.example", "a registry host"),
        ("POLYETL_ALLOWED_REGISTRIES", "reg/x", "a comma-separated list"),
        ("POLYETL_IMAGE_REPOSITORY_PREFIX", "Team/ETL", "a repository path"),
    ],
)
def test_every_setting_names_a_bad_value_and_what_was_expected(
    env: str, value: str, expected: str
) -> None:
    with pytest.raises(ValueError, match=f"expected {env} to be {expected}.*got: '{value}'"):
        Settings.from_env({env: value})
    with pytest.raises(ImageError, match="expected POLYETL_XCOM_SIDECAR_IMAGE to pin a version"):
        Settings.from_env({"POLYETL_XCOM_SIDECAR_IMAGE": "polyetl/xcom-sidecar:latest"})
