"""Connections (taskpods.connections): an S3 bucket and a ClickHouse server become the tool's
prefixed env, their credentials secret references."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from taskpods import ClickHouse, ElixirTask, PythonTask, S3Bucket
from tests.taskpods.conftest import render, settings


def test_connections_and_options_get_the_tools_prefix() -> None:
    bucket = S3Bucket("{{ params.bucket }}", endpoint="http://s3:7070")
    with DAG("connections"):
        load = PythonTask(
            task_id="load",
            command=["load"],
            connections=[bucket, ClickHouse("warehouse", secure="true")],
            options={"TABLE": "events"},
            settings=settings(),
        )
        archive = ElixirTask(
            task_id="archive", command=["archive"], connections=[bucket], settings=settings()
        )
    env = {e["name"]: e for e in render(load)["spec"]["containers"][0]["env"]}
    assert env["PYTASK_BUCKET"]["value"] == "{{ params.bucket }}"
    assert env["PYTASK_S3_ENDPOINT_URL"]["value"] == "http://s3:7070"
    assert env["PYTASK_TABLE"]["value"] == "events"
    assert env["PYTASK_DEST_SECURE"]["value"] == "true"
    assert env["PYTASK_DEST_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "warehouse",
        "key": "password",
    }
    assert env["PYTASK_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == (
        "s3-credentials"
    )
    names = {e["name"] for e in render(archive)["spec"]["containers"][0]["env"]}
    assert {"EXTASK_BUCKET", "EXTASK_S3_ACCESS_KEY_ID"} <= names
    assert not {n for n in names if not n.startswith("EXTASK_")}
    with pytest.raises(ValueError, match="expected role SOURCE or DEST, got: 'BOTH'"):
        ClickHouse("x", role="BOTH")
    with pytest.raises(ValueError, match="got literal values for: PYTASK_PASSWORD"), DAG("o"):
        PythonTask(task_id="t", command=["x"], options={"PASSWORD": "x"}, settings=settings())
