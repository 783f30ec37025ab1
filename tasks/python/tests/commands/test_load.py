"""`pytask load`: staged Parquet objects from the real S3 server into a real ClickHouse engine
(the chDB-backed endpoint), server-side (`s3()`) and through the task — one visible row per
event id, the latest delivery winning; a re-run changes nothing; a crash mid-merge is healed by
the retry; concurrent batches never show a reader two rows of an id, or none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytask.clickhouse.events import EVENT_COLUMNS, sidecar_key, staged_key
from pytask.clickhouse.names import q, qualified
from support.chdb_http import ChdbEndpoint, pytask_env
from support.events import staged_events_sql
from support.s3 import S3Settings
from tests.inprocess import pytask

pytestmark = [pytest.mark.clickhouse, pytest.mark.s3]


@dataclass(frozen=True)
class Staged:
    """One raw object and its staged events: ids `<provider>-<first>` … for `rows` rows."""

    key: str
    rows: int
    first: int = 0
    revision: int = 0
    arrived_at: str = "2026-12-01T10:00:00.000Z"

    @property
    def provider(self) -> str:
        return self.key.split("/")[1]


class Feeds:
    """Writes staged objects and batch manifests to the real S3 server."""

    def __init__(self, endpoint: ChdbEndpoint, s3: Any, bucket: str) -> None:
        self.client = endpoint.client()
        self.s3 = s3
        self.bucket = bucket
        self.batches = 0

    def manifest(self, *objects: Staged) -> str:
        entries = []
        for obj in objects:
            sql = staged_events_sql(obj.provider, obj.rows, obj.first, obj.revision)
            self.s3.put_object(Bucket=self.bucket, Key=obj.key, Body=f"raw {obj}".encode())
            head = self.s3.head_object(Bucket=self.bucket, Key=obj.key)
            body = self.client.raw_query(sql)
            self.s3.put_object(Bucket=self.bucket, Key=staged_key(obj.key), Body=body)
            entries.append(
                {
                    "key": obj.key,
                    "size": head["ContentLength"],
                    "etag": head["ETag"].strip('"'),
                    "arrived_at": obj.arrived_at,
                }
            )
        self.batches += 1
        key = f"manifests/run-1/batch-{self.batches:04d}.json"
        text = json.dumps({"run_id": "run-1", "batch": self.batches, "objects": entries})
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode())
        return key


@pytest.fixture
def feeds(chdb_endpoint: ChdbEndpoint, s3_client: Any, bucket: str) -> Feeds:
    return Feeds(chdb_endpoint, s3_client, bucket)


def load_env(ep: ChdbEndpoint, s3: S3Settings, bucket: str, table: str) -> dict[str, str]:
    return {
        **pytask_env("DEST", ep),
        "PYTASK_S3_ENDPOINT_URL": s3.endpoint_url,
        "PYTASK_S3_REGION": s3.region,
        "PYTASK_S3_ACCESS_KEY_ID": s3.access_key_id,
        "PYTASK_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "PYTASK_BUCKET": bucket,
        "PYTASK_DATABASE": "ingest",
        "PYTASK_TABLE": table,
    }


def visible(ep: ChdbEndpoint, table: str) -> dict[tuple[str, str], tuple[str, int]]:
    """What a reader sees with a plain SELECT: (provider, id) → (source_key, score_away);
    asserts on the way that no id has two rows."""
    rows = (
        ep.client()
        .query(f"SELECT provider, event_id, source_key, score_away FROM ingest.{table}")
        .result_rows
    )
    seen = {(str(p), str(i)): (str(k), int(v)) for p, i, k, v in rows}
    assert len(seen) == len(rows), "a plain SELECT saw two rows of an id"
    return seen


def counts(result: dict[str, Any] | None) -> dict[str, int]:
    assert result is not None
    return {k: result["counts"][k] for k in ("new", "replaced", "unchanged", "superseded")}


A = Staged("raw/acme/2026/11/23/a.csv", 1000)
B = Staged("raw/acme/2026/11/23/b.csv", 250, first=1000)
X = Staged("raw/betco/x.ndjson.gz", 40)


@pytest.mark.parametrize("mode", ["server", "client", "auto"])
def test_a_rerun_changes_nothing(
    mode: str, feeds: Feeds, chdb_endpoint: ChdbEndpoint, s3_settings: S3Settings, bucket: str
) -> None:
    table = f"events_{mode}"
    manifest = feeds.manifest(A, B, X)
    env = load_env(chdb_endpoint, s3_settings, bucket, table)
    code, result, err = pytask(["load", "--manifest", manifest, "--mode", mode], env)
    assert code == 0, err
    assert result is not None
    assert result["counts"]["objects"] == 3
    assert result["counts"]["rows"] == 1290
    assert counts(result) == {"new": 1290, "replaced": 0, "unchanged": 0, "superseded": 0}
    if mode == "auto":  # the engine reaches the S3 server on loopback: server-side wins
        assert result["outputs"]["mode"] == "server"
    first = visible(chdb_endpoint, table)
    by_source = {k: sum(1 for src, _ in first.values() if src == k) for k in (A.key, B.key, X.key)}
    assert by_source == {A.key: 1000, B.key: 250, X.key: 40}
    assert s3_settings.secret_access_key not in err

    code, result, err = pytask(["load", "--manifest", manifest, "--mode", mode], env)
    assert code == 0, err
    assert counts(result) == {"new": 0, "replaced": 0, "unchanged": 1290, "superseded": 0}
    assert visible(chdb_endpoint, table) == first
    columns = [r[0] for r in chdb_endpoint.client().query(f"DESCRIBE ingest.{table}").result_rows]
    assert columns[: len(EVENT_COLUMNS)] == [n for n, _ in EVENT_COLUMNS]
    like = f"{table}\\_\\_%"  # the loader's helper tables: <table>__<kind>_<batch>
    leftovers = chdb_endpoint.client().query(
        f"SELECT name FROM system.tables WHERE database = 'ingest' AND name LIKE '{like}'"
    )
    assert leftovers.result_rows == []


def test_the_latest_delivery_wins_whatever_the_load_order(
    feeds: Feeds, chdb_endpoint: ChdbEndpoint, s3_settings: S3Settings, bucket: str
) -> None:
    """Ids 0-99 delivered, then 50-149 corrected, then 0-9 corrected again; an older delivery
    put back afterwards changes nothing; two deliveries in one batch: the later arrival wins
    whatever the manifest's order."""
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_latest")
    first = Staged("raw/acme/d/1.csv", 100, 0, revision=1, arrived_at="2026-12-01T10:00:00.000Z")
    second = Staged("raw/acme/d/2.csv", 100, 50, revision=2, arrived_at="2026-12-02T10:00:00.000Z")
    third = Staged("raw/acme/d/3.csv", 10, 0, revision=3, arrived_at="2026-12-03T10:00:00.000Z")
    older = Staged("raw/acme/d/0.csv", 150, 0, revision=9, arrived_at="2026-11-30T10:00:00.000Z")

    def load(*objects: Staged) -> dict[str, int]:
        code, result, err = pytask(["load", "--manifest", feeds.manifest(*objects)], env)
        assert code == 0, err
        return counts(result)

    assert load(first) == {"new": 100, "replaced": 0, "unchanged": 0, "superseded": 0}
    assert load(second) == {"new": 50, "replaced": 50, "unchanged": 0, "superseded": 0}
    assert load(third) == {"new": 0, "replaced": 10, "unchanged": 0, "superseded": 0}
    want = {
        ("acme", f"acme-{i}"): (third.key, 3)
        if i < 10
        else (first.key, 1)
        if i < 50
        else (second.key, 2)
        for i in range(150)
    }
    assert visible(chdb_endpoint, "events_latest") == want
    # a put-back of an older delivery: every row of it loses
    assert load(older) == {"new": 0, "replaced": 0, "unchanged": 0, "superseded": 150}
    assert visible(chdb_endpoint, "events_latest") == want

    # one batch, the later arrival listed first
    late = Staged("raw/betco/e/late.ndjson", 20, 0, revision=5, arrived_at="2026-12-05T00:00:00Z")
    early = Staged("raw/betco/e/early.ndjson", 20, 10, revision=4, arrived_at="2026-12-04T00:00Z")
    assert load(late, early) == {"new": 30, "replaced": 0, "unchanged": 0, "superseded": 10}
    seen = visible(chdb_endpoint, "events_latest")
    assert {seen[("betco", f"betco-{i}")] for i in range(20)} == {(late.key, 5)}
    assert {seen[("betco", f"betco-{i}")] for i in range(20, 30)} == {(early.key, 4)}


def test_quarantined_objects_are_skipped_by_version(
    feeds: Feeds,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    s3_client: Any,
) -> None:
    manifest = feeds.manifest(A, X)
    head = s3_client.head_object(Bucket=bucket, Key=A.key)
    sidecar = {"key": A.key, "etag": head["ETag"].strip('"'), "reason": "corrupt_gzip"}
    s3_client.put_object(Bucket=bucket, Key=sidecar_key(A.key), Body=json.dumps(sidecar).encode())
    s3_client.put_object(
        Bucket=bucket,
        Key=sidecar_key(X.key),  # a sidecar of another version of X: X is loaded
        Body=json.dumps({"key": X.key, "etag": "0" * 32, "reason": "bad_header"}).encode(),
    )
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_skip")
    code, result, err = pytask(["load", "--manifest", manifest], env)
    assert code == 0, err
    assert result is not None
    assert result["counts"]["objects_quarantined"] == 1
    assert result["outputs"]["quarantined_objects"] == [A.key]
    assert {src for src, _ in visible(chdb_endpoint, "events_skip").values()} == {X.key}


@pytest.fixture(scope="module")
def pytask_bin() -> str:
    found = shutil.which("pytask", path=str(Path(sys.executable).parent))
    assert found, "pytask console script is not installed in this environment"
    return found


def spawn(binary: str, manifest: str, env: dict[str, str]) -> subprocess.Popen[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [binary, "load", "--manifest", manifest],
        env=base | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_between_partitions_is_healed_by_the_retry(
    feeds: Feeds,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    pytask_bin: str,
) -> None:
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_crash")
    before = Staged("raw/cobra/c/1.csv", 400, 0, revision=1, arrived_at="2026-12-01T00:00:00Z")
    after = Staged("raw/cobra/c/2.csv", 400, 200, revision=2, arrived_at="2026-12-02T00:00:00Z")
    code, _, err = pytask(["load", "--manifest", feeds.manifest(before)], env)
    assert code == 0, err
    manifest = feeds.manifest(after)
    # killed (as by SIGKILL: no cleanup, the lock left behind) after the first partition swap
    proc = spawn(pytask_bin, manifest, env | {"PYTASK_LOAD_CRASH_AFTER": "replace:1"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 137, err
    halfway = visible(chdb_endpoint, "events_crash")  # asserts one row per id
    assert set(halfway) >= {("cobra", f"cobra-{i}") for i in range(400)}  # none lost
    assert {src for src, _ in halfway.values()} == {before.key, after.key}  # partly swapped

    proc = spawn(pytask_bin, manifest, env)  # the retry: same batch, takes over its lock
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["counts"]["new"] + result["counts"]["unchanged"] >= 200
    healed = visible(chdb_endpoint, "events_crash")
    assert healed == {
        ("cobra", f"cobra-{i}"): (before.key, 1) if i < 200 else (after.key, 2) for i in range(600)
    }


def test_concurrent_batches_never_show_two_rows_or_none(
    feeds: Feeds,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    pytask_bin: str,
) -> None:
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_race")
    base = Staged("raw/acme/r/0.csv", 3000, 0, revision=0, arrived_at="2026-12-01T00:00:00Z")
    code, _, err = pytask(["load", "--manifest", feeds.manifest(base)], env)
    assert code == 0, err
    one = feeds.manifest(Staged("raw/acme/r/1.csv", 3000, 0, 1, "2026-12-02T00:00:00Z"))
    two = feeds.manifest(Staged("raw/acme/r/2.csv", 3000, 1500, 2, "2026-12-03T00:00:00Z"))
    client = chdb_endpoint.client()
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def watch() -> None:
        while not stop.is_set():
            rows = client.query(
                "SELECT count() - uniqExact(provider, event_id), "
                "countIf(toUInt32(substring(event_id, 6)) < 3000) FROM ingest.events_race"
            ).result_rows
            seen.append((int(rows[0][0]), int(rows[0][1])))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        procs = [spawn(pytask_bin, m, env) for m in (one, two)]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    finally:
        stop.set()
        watcher.join()
    assert len(seen) > 5
    assert [s for s in seen if s != (0, 3000)] == []  # never two rows of an id, never none
    final = visible(chdb_endpoint, "events_race")
    assert {final[("acme", f"acme-{i}")][1] for i in range(1500)} == {1}
    assert {final[("acme", f"acme-{i}")][1] for i in range(1500, 4500)} == {2}


def test_bad_manifests_old_tables_and_names(
    feeds: Feeds,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    s3_client: Any,
) -> None:
    env = load_env(chdb_endpoint, s3_settings, bucket, "events")
    s3_client.put_object(Bucket=bucket, Key="manifests/bad.json", Body=b"[1, 2]")
    code, _, err = pytask(["load", "--manifest", "manifests/bad.json"], env)
    assert code == 65, err
    no_arrival = {"objects": [{"key": A.key, "size": 1, "etag": "e"}]}
    s3_client.put_object(Bucket=bucket, Key="manifests/old.json", Body=json.dumps(no_arrival))
    code, _, err = pytask(["load", "--manifest", "manifests/old.json"], env)
    assert code == 65, err
    assert "arrived_at" in err
    assert "2026-12-06T14:00:00.123Z" in err
    code, _, err = pytask(["load", "--manifest", "m", "--table", "x\0y"], env)
    assert code == 64, err
    # a table of the layout before one-row-per-id is refused, not loaded with duplicates
    chdb_endpoint.client().command("CREATE DATABASE IF NOT EXISTS ingest")
    chdb_endpoint.client().command(
        "CREATE TABLE ingest.events_old (event_id String, provider String) "
        "ENGINE = MergeTree ORDER BY event_id"
    )
    old_env = load_env(chdb_endpoint, s3_settings, bucket, "events_old")
    code, _, err = pytask(["load", "--manifest", feeds.manifest(X)], old_env)
    assert code == 65, err
    assert "cityHash64(event_id) % 16" in err


def test_missing_staged_object_is_permanent(
    feeds: Feeds,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
    s3_client: Any,
) -> None:
    manifest = feeds.manifest(A, B)
    s3_client.delete_object(Bucket=bucket, Key=staged_key(B.key))
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_missing")
    code, _, err = pytask(["load", "--manifest", manifest, "--mode", "client"], env)
    assert code == 65, err
    assert staged_key(B.key) in err


def test_schema_mismatch_is_permanent(
    feeds: Feeds, chdb_endpoint: ChdbEndpoint, s3_settings: S3Settings, bucket: str, s3_client: Any
) -> None:
    manifest = feeds.manifest(A)
    # a staged object whose columns are not the events schema
    wrong = chdb_endpoint.client().raw_query(
        "SELECT number AS id, 'x' AS what FROM numbers(5) FORMAT Parquet"
    )
    s3_client.put_object(Bucket=bucket, Key=staged_key(A.key), Body=wrong)
    env = load_env(chdb_endpoint, s3_settings, bucket, "events_schema")
    for mode in ("server", "client"):
        code, _, err = pytask(["load", "--manifest", manifest, "--mode", mode], env)
        assert code == 65, err
        assert json.loads(err.splitlines()[-1])["error_kind"] == "permanent"


def test_any_database_and_table_name_is_loaded_into_and_nothing_else_is_touched(
    feeds: Feeds,
    chdb_endpoint: ChdbEndpoint,
    s3_settings: S3Settings,
    bucket: str,
) -> None:
    client = chdb_endpoint.client()
    before = set(client.query("SELECT database, name FROM system.tables").result_rows)
    database, table = "ingest`; DROP DATABASE ingest", "events; DROP TABLE x\nselect"
    env = load_env(chdb_endpoint, s3_settings, bucket, table) | {"PYTASK_DATABASE": database}
    code, result, err = pytask(["load", "--manifest", feeds.manifest(A)], env)
    assert code == 0, err
    assert result is not None
    rows = client.query(f"SELECT count() FROM {qualified(database, table)}").result_rows[0][0]
    assert rows == result["counts"]["rows"] > 0
    after = set(client.query("SELECT database, name FROM system.tables").result_rows)
    added = {(d, n) for d, n in after - before}
    assert {d for d, _ in added} == {database}  # only the named database gained tables
    assert (database, table) in added
    assert before <= after  # nothing else was dropped
    client.command(f"DROP DATABASE {q(database)} SYNC")
