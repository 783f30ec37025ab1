"""Benchmark: `pytask load` (client mode: the task downloads and sends each staged object)
against the server ingesting the same objects itself (`INSERT … SELECT FROM s3()`, which is
also `load --mode server`) — rows/s and the ratio, measured in this run.

A chDB-backed ClickHouse endpoint and the project's S3 server (hack/s3-server.sh) on loopback;
staged objects are Parquet (docs/staged-format.md) produced by the engine itself.

    python -m bench.clickhouse_load [--objects 8] [--rows-per-object 250000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import clickhouse_connect
from botocore.config import Config  # type: ignore[import-untyped]
from pytask.cli import run
from pytask.clickhouse.events import staged_key

from tests.support.chdb_http import start_chdb_endpoint
from tests.support.events import staged_events_sql

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_s3(state_dir: Path) -> dict[str, str]:
    env = {**os.environ, "S3_STATE_DIR": str(state_dir), "S3_PORT": "39123"}
    subprocess.run(
        [str(REPO_ROOT / "hack" / "s3-server.sh"), "start"],
        env=env,
        check=True,
        capture_output=True,
    )
    path = subprocess.run(
        [str(REPO_ROOT / "hack" / "s3-server.sh"), "env"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    values = dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)
    return {**values, "S3_STATE_DIR": str(state_dir), "S3_PORT": "39123"}


def load(mode: str, manifest: str, env: dict[str, str], table: str) -> float:
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    code = run(["load", "--manifest", manifest, "--mode", mode, "--table", table], env, out, err)
    elapsed = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"load --mode {mode} exited {code}: {err.getvalue()}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return float(result["counts"]["rows"]) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--rows-per-object", type=int, default=250_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        s3env = start_s3(Path(tmp) / "s3")
        endpoint, proc = start_chdb_endpoint(Path(tmp) / "ch")
        try:
            s3 = boto3.client(
                "s3",
                endpoint_url=s3env["S3_ENDPOINT_URL"],
                region_name=s3env["AWS_REGION"],
                aws_access_key_id=s3env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=s3env["AWS_SECRET_ACCESS_KEY"],
                config=Config(s3={"addressing_style": "path"}),
            )
            s3.create_bucket(Bucket="bench")
            ch = clickhouse_connect.get_client(
                host=endpoint.host,
                port=endpoint.port,
                username=endpoint.user,
                password=endpoint.password,
            )
            parquet = ch.raw_query(staged_events_sql("acme", args.rows_per_object))
            objects = []
            for i in range(args.objects):
                key = f"raw/acme/bench-{i:04d}.csv"
                s3.put_object(Bucket="bench", Key=key, Body=b"raw")
                s3.put_object(Bucket="bench", Key=staged_key(key), Body=parquet)
                objects.append({"key": key, "size": 3, "etag": f"e{i}"})
            s3.put_object(
                Bucket="bench",
                Key="manifests/bench.json",
                Body=json.dumps({"objects": objects}).encode(),
            )
            env = {
                "PYTASK_DEST_HOST": endpoint.host,
                "PYTASK_DEST_PORT": str(endpoint.port),
                "PYTASK_DEST_USER": endpoint.user,
                "PYTASK_DEST_PASSWORD": endpoint.password,
                "PYTASK_S3_ENDPOINT_URL": s3env["S3_ENDPOINT_URL"],
                "PYTASK_S3_REGION": s3env["AWS_REGION"],
                "PYTASK_S3_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
                "PYTASK_S3_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"],
                "PYTASK_BUCKET": "bench",
                "PYTASK_DATABASE": "bench",
            }
            server = load("server", "manifests/bench.json", env, "by_server")
            client = load("client", "manifests/bench.json", env, "by_client")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            subprocess.run(
                [str(REPO_ROOT / "hack" / "s3-server.sh"), "stop"],
                env={
                    **os.environ,
                    "S3_STATE_DIR": s3env.get("S3_STATE_DIR", ""),
                    "S3_PORT": "39123",
                },
                check=False,
                capture_output=True,
            )
    rows = args.objects * args.rows_per_object
    print(
        f"staged objects: {args.objects} x {args.rows_per_object:,} rows = {rows:,} rows (Parquet)"
    )
    print(f"{'method':<52} {'rows/s':>12}")
    print(f"{'server ingests from S3 itself (INSERT … SELECT FROM s3())':<52} {server:>12,.0f}")
    print(f"{'pytask load --mode client (task downloads, sends)':<52} {client:>12,.0f}")
    print(f"ratio client / server: {client / server:.2f}x")


if __name__ == "__main__":
    main()
