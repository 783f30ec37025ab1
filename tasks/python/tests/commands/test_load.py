"""`pytask load`: staged Parquet objects from the real S3 server into a real ClickHouse engine
(the chDB-backed endpoint), server-side (`s3()`) and through the task — and loading the same
object twice never duplicates rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytask.clickhouse.events import EVENT_COLUMNS, staged_key
from support.chdb_http import ChdbEndpoint
from support.events import staged_events_sql
from support.s3 import S3Settings
from tests.inprocess import pytask, server_env

pytestmark = [pytest.mark.clickhouse, pytest.mark.s3]

RAW_KEYS = ["raw/acme/2026/11/23/a.csv", "raw/acme/2026/11/23/b.csv", "raw/betco/x.ndjson.gz"]
SIZES = {RAW_KEYS[0]: 1000, RAW_KEYS[1]: 250, RAW_KEYS[2]: 40}


@pytest.fixture
def staged(chdb_endpoint: ChdbEndpoint, s3_client: Any, bucket: str) -> str:
    """Three staged objects and their batch manifest; returns the manifest key."""
    client = chdb_endpoint.client()
    objects = []
    for key in RAW_KEYS:
        provider = key.split("/")[1]
        parquet = client.raw_query(staged_events_sql(provider, SIZES[key]))
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"raw bytes of " + key.encode())
        head = s3_client.head_object(Bucket=bucket, Key=key)
        s3_client.put_object(Bucket=bucket, Key=staged_key(key), Body=parquet)
        objects.append({"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"')})
    manifest = "manifests/run-1/batch-0001.json"
    body = json.dumps({"run_id": "run-1", "batch": 1, "objects": objects})
    s3_client.put_object(Bucket=bucket, Key=manifest, Body=body.encode())
    return manifest


def load_env(ep: ChdbEndpoint, s3: S3Settings, bucket: str, table: str) -> dict[str, str]:
    return {
        **server_env("DEST", ep),
        "PYTASK_S3_ENDPOINT_URL": s3.endpoint_url,
        "PYTASK_S3_REGION": s3.region,
        "PYTASK_S3_ACCESS_KEY_ID": s3.access_key_id,
        "PYTASK_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "PYTASK_BUCKET": bucket,
        "PYTASK_DATABASE": "ingest",
        "PYTASK_TABLE": table,
    }


@pytest.mark.parametrize("mode", ["server", "client", "auto"])
def test_load_is_idempotent_per_object(
    mode: str, staged: str, chdb_endpoint: ChdbEndpoint, s3_settings: S3Settings, bucket: str
) -> None:
    table = f"events_{mode}"
    env = load_env(chdb_endpoint, s3_settings, bucket, table)
    code, result, err = pytask(["load", "--manifest", staged, "--mode", mode], env)
    assert code == 0, err
    assert result is not None
    total = sum(SIZES.values())
    assert result["counts"] == {"objects": 3, "rows": total, "replaced": 0}
    if mode == "auto":  # the engine reaches the S3 server on loopback: server-side wins
        assert result["outputs"]["mode"] == "server"
    client = chdb_endpoint.client()
    by_source = dict(
        client.query(
            f"SELECT source_key, count() FROM ingest.{table} GROUP BY source_key"
        ).result_rows
    )
    assert by_source == SIZES
    assert s3_settings.secret_access_key not in err

    # the same manifest again: every object replaced, not duplicated
    code, result, err = pytask(["load", "--manifest", staged, "--mode", mode], env)
    assert code == 0, err
    assert result is not None
    assert result["counts"] == {"objects": 3, "rows": total, "replaced": 3}
    assert client.query(
        f"SELECT count(), uniqExact(event_id, source_key) FROM ingest.{table}"
    ).result_rows == [(total, total)]
    columns = [r[0] for r in client.query(f"DESCRIBE TABLE ingest.{table}").result_rows]
    assert columns[: len(EVENT_COLUMNS)] == [n for n, _ in EVENT_COLUMNS]


def test_missing_staged_object_is_permanent(
    staged: str,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    s3_client: Any,
) -> None:
    s3_client.delete_object(Bucket=bucket, Key=staged_key(RAW_KEYS[1]))
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_missing")
    code, _, err = pytask(["load", "--manifest", staged, "--mode", "client"], env)
    assert code == 65, err
    assert staged_key(RAW_KEYS[1]) in err


def test_not_a_manifest_is_permanent_and_bad_names_are_usage(
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    s3_client: Any,
) -> None:
    s3_client.put_object(Bucket=bucket, Key="manifests/bad.json", Body=b"[1, 2]")
    env = load_env(chdb_endpoint, s3_settings, bucket, "events")
    code, _, err = pytask(["load", "--manifest", "manifests/bad.json"], env)
    assert code == 65, err
    code, _, err = pytask(["load", "--manifest", "m", "--table", "events; DROP TABLE x"], env)
    assert code == 64, err


def test_schema_mismatch_is_permanent(
    staged: str, chdb_endpoint: ChdbEndpoint, s3_settings: S3Settings, bucket: str, s3_client: Any
) -> None:
    # a staged object whose columns are not the events schema
    wrong = chdb_endpoint.client().raw_query(
        "SELECT number AS id, 'x' AS what FROM numbers(5) FORMAT Parquet"
    )
    s3_client.put_object(Bucket=bucket, Key=staged_key(RAW_KEYS[0]), Body=wrong)
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_schema")
    for mode in ("server", "client"):
        code, _, err = pytask(["load", "--manifest", staged, "--mode", mode], env)
        assert code == 65, err
        assert json.loads(err.splitlines()[-1])["error_kind"] == "permanent"
