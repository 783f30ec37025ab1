"""Secrets (taskpods.secrets): only by reference — files mounted read-only, literal values in DAG
code refused."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from taskpods import RustTask, SecretFile
from tests.taskpods.conftest import render, settings


def test_secret_files_mount_read_only_and_env_points_to_them() -> None:
    with DAG("files"):
        task = RustTask(
            task_id="t",
            command=["selfcheck"],
            settings=settings(),
            secrets=[SecretFile("RSTASK_DB_PASSWORD_FILE", "db", "password")],
        )
    spec = render(task)["spec"]
    main = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["RSTASK_DB_PASSWORD_FILE"] == "/var/run/secrets/polyetl/db.password/password"
    mount = next(
        m for m in main["volumeMounts"] if m["mountPath"] == "/var/run/secrets/polyetl/db.password"
    )
    assert mount["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {
        "secretName": "db",
        "items": [{"key": "password", "path": "password"}],
    }


def test_literal_secret_values_are_refused_in_dag_code() -> None:
    with pytest.raises(ValueError, match="RSTASK_DB_PASSWORD"), DAG("literal"):
        RustTask(
            task_id="t",
            command=["x"],
            env_vars={"RSTASK_DB_PASSWORD": "hunter2"},
            settings=settings(),
        )
