"""The ingest chain with the real images and services (the S3 server and ClickHouse, containers
tests/integration/conftest.py starts, or servers of one's own):

* the staged format agreed between the Rust transform and the Python loader: `rstask
  generate` a feed with known bad rows → `rstask transform` → `pytask load` → every good row
  is there, once, and the quarantined ones are not;
* a batch with poison objects — one corrupt gzip, one of a provider without a mapping — among
  good ones: discover → transform → load → archive land every good row and quarantine each
  poison object once (copy, reason, ledger); the next discover doesn't offer them again;
  `extask requeue` after the mapping is added puts one back, and the next run ingests it;
* a corrected re-delivery in a later object: one row per id, the latest values."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pytask.cli import run

from platform_driver.containers import docker_run
from tests.contract.harness import image_refs
from tests.support.containers import ClickHouseServer, is_loopback_url
from tests.support.s3 import S3Settings

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.s3, pytest.mark.clickhouse]

RAW_KEY = "raw/acme/2026/11/23/feed-001.csv"


@pytest.fixture(autouse=True, scope="module")
def clickhouse_reads_s3(s3_settings: S3Settings, clickhouse: ClickHouseServer) -> None:
    """ClickHouse reads the staged objects itself (`load`'s server mode, `s3()` below): a
    server in a container can't reach an S3 server on this machine's loopback."""
    if clickhouse.kind != "external" and is_loopback_url(s3_settings.endpoint_url):
        pytest.skip(
            f"the S3 endpoint {s3_settings.endpoint_url} is this machine's loopback, out of the "
            "ClickHouse container's reach: leave S3_ENDPOINT_URL unset (the tests start an S3 "
            "container) or name an address containers reach"
        )


def task(
    language: str,
    args: list[str],
    out_dir: Path,
    env: dict[str, str] | None = None,
    *,
    volumes: dict[str, str] | None = None,
    expect: tuple[int, ...] = (0,),
) -> dict[str, Any]:
    """Run a task image as the cluster would: non-root, read-only, /tmp as scratch; its
    result (exit 0 or 99), or {} for another expected exit code."""
    result_file = out_dir / "result.json"
    result_file.unlink(missing_ok=True)
    proc = subprocess.run(
        docker_run(
            image_refs()[language],
            [*args, "--result-file", "/out/result.json"],
            network="host",  # the services' ports are published on the Docker host
            env=env,
            volumes={str(out_dir): "/out", **(volumes or {})},
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in expect, proc.stderr[-3000:]
    if not result_file.exists():
        return {}
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def rstask(args: list[str], out_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    return task("rust", args, out_dir, env)


def test_generated_feed_transformed_and_loaded_exactly_once(
    tmp_path: Path,
    s3_settings: S3Settings,
    s3_client: Any,
    bucket: str,
    clickhouse: ClickHouseServer,
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
    obj = {"key": RAW_KEY, "size": 0, "etag": etag, "arrived_at": "2026-11-23T06:00:00.000Z"}
    body = {"run_id": "chain", "batch": 1, "objects": [obj]}
    s3_client.put_object(Bucket=bucket, Key=manifest, Body=json.dumps(body).encode())
    env = {
        "PYTASK_DEST_HOST": clickhouse.host,
        "PYTASK_DEST_PORT": str(clickhouse.port),
        "PYTASK_DEST_USER": clickhouse.user,
        "PYTASK_DEST_PASSWORD": clickhouse.password,
        "PYTASK_S3_ENDPOINT_URL": s3_settings.endpoint_url,
        "PYTASK_S3_REGION": s3_settings.region,
        "PYTASK_S3_ACCESS_KEY_ID": s3_settings.access_key_id,
        "PYTASK_S3_SECRET_ACCESS_KEY": s3_settings.secret_access_key,
        "PYTASK_BUCKET": bucket,
        "PYTASK_DATABASE": "chain",
        "PYTASK_TABLE": "events",
    }
    for _ in range(2):  # loading twice must not duplicate (the second leaves every row unchanged)
        out, err = io.StringIO(), io.StringIO()
        assert run(["load", "--manifest", manifest], env, out, err) == 0, err.getvalue()
    client = clickhouse.client()
    rows, ids, providers = client.query(
        "SELECT count(), uniqExact(event_id), groupUniqArray(provider) FROM chain.events"
    ).result_rows[0]
    assert (rows, ids, providers) == (counts["rows_out"], counts["rows_out"], ["acme"])


def s3_env(prefix: str, s3: S3Settings, bucket: str) -> dict[str, str]:
    return {
        f"{prefix}_S3_ENDPOINT_URL": s3.endpoint_url,
        f"{prefix}_S3_REGION": s3.region,
        f"{prefix}_S3_ACCESS_KEY_ID": s3.access_key_id,
        f"{prefix}_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        f"{prefix}_BUCKET": bucket,
    }


def load_env(s3: S3Settings, bucket: str, ch: ClickHouseServer, database: str) -> dict[str, str]:
    return {
        **s3_env("PYTASK", s3, bucket),
        "PYTASK_DEST_HOST": ch.host,
        "PYTASK_DEST_PORT": str(ch.port),
        "PYTASK_DEST_USER": ch.user,
        "PYTASK_DEST_PASSWORD": ch.password,
        "PYTASK_DATABASE": database,
        "PYTASK_TABLE": "events",
    }


class Chain:
    """discover → transform → load → archive of one run, as the DAG runs them."""

    def __init__(
        self, tmp: Path, s3: S3Settings, bucket: str, ch: ClickHouseServer, mappings: Path
    ) -> None:
        self.database = f"chain_{bucket.replace('-', '_')}"
        self.tmp, self.bucket, self.ch = tmp, bucket, ch
        self.ex = s3_env("EXTASK", s3, bucket)
        self.rs = {**s3_env("RSTASK", s3, bucket), "RSTASK_MAPPINGS_DIR": "/mappings"}
        self.py = load_env(s3, bucket, ch, self.database)
        self.mappings = {str(mappings): "/mappings"}
        self.runs = 0

    def run(self) -> dict[str, list[dict[str, Any]]]:
        """One ingest run: every step's results (discover's 'nothing to do' ends it)."""
        self.runs += 1
        found = task(
            "elixir",
            ["discover", "--run-id", f"chain-{self.runs}"],
            self.tmp,
            self.ex,
            expect=(0, 99),
        )
        results: dict[str, list[dict[str, Any]]] = {"discover": [found]}
        for manifest in found["outputs"]["manifests"]:
            results.setdefault("transform", []).append(
                task(
                    "rust",
                    ["transform", "--manifest", manifest],
                    self.tmp,
                    self.rs,
                    volumes=self.mappings,
                )
            )
            out, err = io.StringIO(), io.StringIO()
            code = run(["load", "--manifest", manifest], self.py, out, err)
            assert code == 0, err.getvalue()
            results.setdefault("load", []).append(json.loads(out.getvalue()))
            results.setdefault("archive", []).append(
                task("elixir", ["archive", "--manifest", manifest], self.tmp, self.ex)
            )
        return results


def generated(tmp: Path, provider: str, rows: int, seed: int, *extra: str) -> dict[str, Any]:
    name = f"{provider}-{seed}-{'-'.join(extra) or 'plain'}"
    return task(
        "rust",
        [
            "generate",
            "--provider",
            provider,
            "--rows",
            str(rows),
            "--seed",
            str(seed),
            "--bad",
            "wrong_type=0.01,missing_field=0.01",
            "--output",
            f"/out/{name}",
            "--ids-file",
            f"/out/{name}.ids",
            *extra,
        ],
        tmp,
    ) | {"path": tmp / name, "ids": (tmp / f"{name}.ids").read_text().split()[::2]}


def visible(chain: Chain) -> dict[tuple[str, str], str]:
    query = f"SELECT provider, event_id, source_key FROM {chain.database}.events"
    rows = chain.ch.client().query(query).result_rows
    seen = {(str(p), str(i)): str(k) for p, i, k in rows}
    assert len(seen) == len(rows), "a plain SELECT saw two rows of an id"
    return seen


def test_poison_objects_are_quarantined_whole_and_can_be_put_back(
    tmp_path: Path,
    s3_settings: S3Settings,
    s3_client: Any,
    bucket: str,
    clickhouse: ClickHouseServer,
) -> None:
    tmp_path.chmod(0o777)  # the images run as uid 10001
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    mappings.chmod(0o755)
    good = [generated(tmp_path, "acme", 2000, 31), generated(tmp_path, "cobra", 1500, 32)]
    zipped = generated(tmp_path, "betco", 1000, 33, "--gzip")
    keys = {
        "good-a": "raw/acme/d1/a.csv",
        "good-c": "raw/cobra/d1/c.csv",
        "cut": "raw/betco/d1/cut.ndjson.gz",
        "newprov": "raw/delta/d1/d.csv",
    }
    s3_client.put_object(Bucket=bucket, Key=keys["good-a"], Body=good[0]["path"].read_bytes())
    s3_client.put_object(Bucket=bucket, Key=keys["good-c"], Body=good[1]["path"].read_bytes())
    whole = zipped["path"].read_bytes()
    s3_client.put_object(Bucket=bucket, Key=keys["cut"], Body=whole[: len(whole) // 2])
    # a provider nobody mapped yet: its feed is acme's format
    s3_client.put_object(Bucket=bucket, Key=keys["newprov"], Body=good[0]["path"].read_bytes())
    chain = Chain(tmp_path, s3_settings, bucket, clickhouse, mappings)

    first = chain.run()

    reasons = {
        o["key"]: o["reason"]
        for t in first["transform"]
        for o in t["outputs"]["quarantined_objects"]
    }
    assert reasons == {keys["cut"]: "corrupt_gzip", keys["newprov"]: "unknown_provider"}
    assert sum(r["counts"]["objects_quarantined"] for r in first["load"]) == 2
    archived = {
        k: sum(r["counts"][k] for r in first["archive"]) for k in ("archived", "quarantined")
    }
    assert archived == {"archived": 2, "quarantined": 2}
    want = {("acme", i): keys["good-a"] for i in good[0]["ids"]}
    want |= {("cobra", i): keys["good-c"] for i in good[1]["ids"]}
    assert visible(chain) == want  # every good row, once
    listed = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="")["Contents"]}
    for key in (keys["cut"], keys["newprov"]):
        rest = key.removeprefix("raw/")
        assert key not in listed  # removed from raw/ ...
        assert f"quarantine/_objects/{rest}" in listed  # ... after its copy
        assert f"quarantine/_reasons/{rest}.json" in listed
        assert f"ledger/ingested/{key}.json" in listed
    copy = s3_client.get_object(Bucket=bucket, Key=f"quarantine/_objects/{keys['cut'][4:]}")
    assert copy["Body"].read() == whole[: len(whole) // 2]  # nothing lost

    # the next run doesn't see them again
    again = chain.run()
    assert again["discover"][0]["status"] == "nothing_to_do"

    # the provider gets a mapping; the object is put back and ingested
    (mappings / "delta.toml").write_text(
        (REPO_ROOT / "tasks/rust/mappings/acme.toml")
        .read_text()
        .replace('provider = "acme"', 'provider = "delta"')
        .replace("acme-{fixture}", "delta-{fixture}")
    )
    put_back = task("elixir", ["requeue", "--object", keys["newprov"]], tmp_path, chain.ex)
    assert put_back["counts"]["requeued"] == 1
    third = chain.run()
    assert [r["counts"]["objects"] for r in third["transform"]] == [1]
    seen = visible(chain)
    assert {k for (p, _), k in seen.items() if p == "delta"} == {keys["newprov"]}
    assert sum(1 for p, _ in seen if p == "delta") == len(good[0]["ids"])
    assert keys["cut"] not in {
        o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    }


def test_a_corrected_redelivery_leaves_one_row_per_id_with_the_latest_values(
    tmp_path: Path,
    s3_settings: S3Settings,
    s3_client: Any,
    bucket: str,
    clickhouse: ClickHouseServer,
) -> None:
    tmp_path.chmod(0o777)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    chain = Chain(tmp_path, s3_settings, bucket, clickhouse, mappings)
    feeds = [generated(tmp_path, "betco", 1200, 41, "--revision", str(r)) for r in range(3)]
    assert feeds[0]["ids"] == feeds[1]["ids"] == feeds[2]["ids"]
    columns = "event_id, odds_home, odds_draw, score_home, score_away, player, team, occurred_at"
    for n, feed in enumerate(feeds):
        if n:
            time.sleep(1.1)  # a later delivery: S3 times have second precision
        s3_client.put_object(
            Bucket=bucket, Key=f"raw/betco/r/{n}.ndjson", Body=feed["path"].read_bytes()
        )
        chain.run()
    before = visible(chain)
    assert len(before) == len(feeds[0]["ids"])
    assert set(before.values()) == {"raw/betco/r/2.ndjson"}
    # the values a reader sees are the last delivery's, which differ from the first's
    client = clickhouse.client()

    def staged(n: int) -> list[Any]:
        url = f"{s3_settings.endpoint_url}/{bucket}/staged/betco/r/{n}.ndjson.parquet"
        creds = f"'{s3_settings.access_key_id}', '{s3_settings.secret_access_key}'"
        query = f"SELECT {columns} FROM s3('{url}', {creds}, 'Parquet') ORDER BY event_id"
        return list(client.query(query).result_rows)

    seen = client.query(
        f"SELECT {columns} FROM {chain.database}.events ORDER BY event_id"
    ).result_rows
    assert seen == staged(2)
    assert seen != staged(0)
    # re-running the last delivery's batch changes nothing
    out, err = io.StringIO(), io.StringIO()
    manifest = "manifests/chain-3/batch-0001.json"
    assert run(["load", "--manifest", manifest], chain.py, out, err) == 0, err.getvalue()
    assert json.loads(out.getvalue())["counts"]["unchanged"] == len(feeds[0]["ids"])
    assert visible(chain) == before
