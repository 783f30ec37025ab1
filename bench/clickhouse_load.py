"""Benchmark: `pytask load` — staged rows through the work table and the one-row-per-id merge
(docs/staged-format.md) — against the reference of the server ingesting the same objects
itself straight into a plain MergeTree (`INSERT … SELECT FROM s3()`, no merge): rows/s and
ratios, measured in this run. Loads: `--mode server` and `--mode client` into empty tables (every
id new), then the same events re-delivered a day later into the first (every id replaced: the
merge's worst case).

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
from pytask.clickhouse.events import staged_key, structure

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


def plain_insert(ch: Any, s3env: dict[str, str], objects: list[dict[str, Any]]) -> float:
    """The reference: the engine reads every staged object into a plain MergeTree itself."""
    ch.command("CREATE DATABASE IF NOT EXISTS bench")
    ch.command(f"CREATE TABLE bench.plain ({structure()}) ENGINE = MergeTree ORDER BY event_id")
    base = s3env["S3_ENDPOINT_URL"].rstrip("/")
    t0 = time.perf_counter()
    for obj in objects:
        url = f"{base}/bench/{staged_key(obj['key'])}"
        ch.command(
            f"INSERT INTO bench.plain SELECT * FROM s3('{url}', "
            f"'{s3env['AWS_ACCESS_KEY_ID']}', '{s3env['AWS_SECRET_ACCESS_KEY']}', 'Parquet')"
        )
    elapsed = time.perf_counter() - t0
    rows = int(ch.command("SELECT count() FROM bench.plain"))
    return rows / elapsed


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
            n = args.rows_per_object
            objects, again = [], []
            for i in range(args.objects):
                key = f"raw/acme/bench-{i:04d}.csv"
                parquet = ch.raw_query(staged_events_sql("acme", n, first=i * n))
                s3.put_object(Bucket="bench", Key=key, Body=b"raw")
                s3.put_object(Bucket="bench", Key=staged_key(key), Body=parquet)
                objects.append(
                    {"key": key, "size": 3, "etag": f"e{i}", "arrived_at": "2026-12-01T00:00:00Z"}
                )
                later = f"raw/acme/bench-{i:04d}-again.csv"
                revised = ch.raw_query(staged_events_sql("acme", n, first=i * n, revision=1))
                s3.put_object(Bucket="bench", Key=staged_key(later), Body=revised)
                again.append({**objects[-1], "key": later, "arrived_at": "2026-12-02T00:00:00Z"})
            for name, listed in (("bench", objects), ("again", again)):
                body = json.dumps({"objects": listed}).encode()
                s3.put_object(Bucket="bench", Key=f"manifests/{name}.json", Body=body)
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
            reference = plain_insert(ch, s3env, objects)
            server = load("server", "manifests/bench.json", env, "by_server")
            client = load("client", "manifests/bench.json", env, "by_client")
            replaced = load("server", "manifests/again.json", env, "by_server")
            visible = ch.query("SELECT count(), uniqExact(event_id) FROM bench.by_server")
            assert visible.result_rows[0] == (len(objects) * n, len(objects) * n), visible
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
    print(f"{'method':<62} {'rows/s':>10} {'vs reference':>12}")
    for name, value in (
        ("reference: INSERT … SELECT FROM s3() into a plain MergeTree", reference),
        ("pytask load --mode server, every id new", server),
        ("pytask load --mode client, every id new", client),
        ("pytask load --mode server, every id re-delivered (replaced)", replaced),
    ):
        print(f"{name:<62} {value:>10,.0f} {value / reference:>11.2f}x")


if __name__ == "__main__":
    main()
