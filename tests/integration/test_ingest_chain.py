"""The staged format agreed between the Rust transform and the Python loader, proven with
the real images and services: `rstask generate` a feed with known bad rows → `rstask
transform` it from the S3 server → `pytask load` the staged Parquet into ClickHouse → every
good row is there, once, and the quarantined ones are not."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytask.cli import run

from platform_driver.containers import docker_run
from tests.contract.harness import image_refs
from tests.support.chdb_http import ChdbEndpoint
from tests.support.s3 import S3Settings

pytestmark = [pytest.mark.docker, pytest.mark.s3, pytest.mark.clickhouse]

RAW_KEY = "raw/acme/2026/11/23/feed-001.csv"


def rstask(args: list[str], out_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the rstask image as the cluster would: non-root, read-only, /tmp as scratch."""
    proc = subprocess.run(
        docker_run(
            image_refs()["rust"],
            [*args, "--result-file", "/out/result.json"],
            network="host",  # the S3 server and the ClickHouse endpoint listen on loopback
            env=env,
            volumes={str(out_dir): "/out"},
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads((out_dir / "result.json").read_text())
    return result


def test_generated_feed_transformed_and_loaded_exactly_once(
    tmp_path: Path,
    s3_settings: S3Settings,
    s3_client: Any,
    bucket: str,
    chdb_endpoint: ChdbEndpoint,
) -> None:
    tmp_path.chmod(0o777)  # the image runs as uid 10001
    generated = rstask(
        [
            "generate",
            "--provider",
            "acme",
            "--rows",
            "5000",
            "--seed",
            "11",
            "--bad",
            "wrong_type=0.01,duplicate_key=0.01,missing_field=0.01",
            "--output",
            "/out/feed.csv",
        ],
        tmp_path,
    )
    s3_client.put_object(Bucket=bucket, Key=RAW_KEY, Body=(tmp_path / "feed.csv").read_bytes())
    etag = s3_client.head_object(Bucket=bucket, Key=RAW_KEY)["ETag"].strip('"')
    s3_env = {
        "RSTASK_S3_ENDPOINT_URL": s3_settings.endpoint_url,
        "RSTASK_S3_REGION": s3_settings.region,
        "RSTASK_S3_ACCESS_KEY_ID": s3_settings.access_key_id,
        "RSTASK_S3_SECRET_ACCESS_KEY": s3_settings.secret_access_key,
        "RSTASK_BUCKET": bucket,
    }
    transformed = rstask(["transform", "--key", RAW_KEY], tmp_path, s3_env)
    counts = transformed["counts"]
    assert counts["rows_in"] == counts["rows_out"] + counts["rows_quarantined"]
    assert counts["rows_out"] == generated["counts"]["rows_out"]
    assert counts["rows_quarantined"] == generated["counts"]["rows_quarantined"] > 0

    manifest = "manifests/chain/batch-0001.json"
    body = {"run_id": "chain", "batch": 1, "objects": [{"key": RAW_KEY, "size": 0, "etag": etag}]}
    s3_client.put_object(Bucket=bucket, Key=manifest, Body=json.dumps(body).encode())
    env = {
        "PYTASK_DEST_HOST": chdb_endpoint.host,
        "PYTASK_DEST_PORT": str(chdb_endpoint.port),
        "PYTASK_DEST_USER": chdb_endpoint.user,
        "PYTASK_DEST_PASSWORD": chdb_endpoint.password,
        "PYTASK_S3_ENDPOINT_URL": s3_settings.endpoint_url,
        "PYTASK_S3_REGION": s3_settings.region,
        "PYTASK_S3_ACCESS_KEY_ID": s3_settings.access_key_id,
        "PYTASK_S3_SECRET_ACCESS_KEY": s3_settings.secret_access_key,
        "PYTASK_BUCKET": bucket,
        "PYTASK_DATABASE": "chain",
        "PYTASK_TABLE": "events",
    }
    for _ in range(2):  # loading twice must not duplicate
        out, err = io.StringIO(), io.StringIO()
        assert run(["load", "--manifest", manifest], env, out, err) == 0, err.getvalue()
    client = chdb_endpoint.client()
    rows, ids, providers = client.query(
        "SELECT count(), uniqExact(event_id), groupUniqArray(provider) FROM chain.events"
    ).result_rows[0]
    assert (rows, ids, providers) == (counts["rows_out"], counts["rows_out"], ["acme"])
