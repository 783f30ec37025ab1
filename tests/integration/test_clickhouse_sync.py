"""The whole database sync (pytask plan … cleanup, docs/clickhouse-sync.md) between two
ClickHouse servers started as containers (tests/support/containers.py: the official image
where it can be pulled, else polyetl/chdb-http), on a source that holds what real databases
hold, under hostile names:

* a database and tables whose names need quoting (a backtick, a newline, a semicolon, a dot,
  a space, Cyrillic, a reserved word), a partitioned table of several partitions with a
  MATERIALIZED column, views, a view over a view, a ``TO`` materialized view and its target,
  an ``.inner`` materialized view (AggregatingMergeTree, partitioned), a dictionary over a
  table of the database, and one whose DDL hides a password;
* the destination equals the source afterwards: counts and checksums over all stored columns,
  DDL identical, view results identical; a database beside it is untouched;
* a second sync changes nothing (the views are kept, not recreated: same UUIDs);
* a copy killed mid-table resumes and copies only the missing partitions, asserted from the
  ledger (which run recorded which partition), and verify names a partition that differs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytask.cli import run
from pytask.clickhouse.names import literal, q

from tests.support.chdb_http import pytask_env
from tests.support.containers import ClickHouseServer

pytestmark = [pytest.mark.docker, pytest.mark.clickhouse]

DB = "ventes `prod`;\nDROP DATABASE canary"
STAGING = f"{DB}__polyetl_staging"
ORDERS = "order lines.2026"  # partitioned by month
MONTHS = 6  # its partitions: 50,000 orders 5 minutes apart from 2026-01-01
SELECT = "select"  # a reserved word; unpartitioned
ODD = "x`y\nz; DROP TABLE select"  # partitioned by k % 3
BIG = "Большие заказы"  # a view over ORDERS
BIGGEST = "v2 -- over a view"  # a view over BIG
TOTALS = "daily totals"  # the target of a TO materialized view
TO_VIEW = "daily totals mv"
INNER_VIEW = "per customer"  # an .inner materialized view, AggregatingMergeTree
DICT = "customer names"  # a dictionary over SELECT
HIDDEN = "remote dict"  # a dictionary whose DDL shows [HIDDEN]
TABLES = [TOTALS, ORDERS, SELECT, ODD]
VIEWS = [BIG, BIGGEST, TO_VIEW, INNER_VIEW, DICT]


def qq(table: str) -> str:
    return f"{q(DB)}.{q(table)}"


def seed(source: Any, dest: Any) -> None:
    for client in (source, dest):
        client.command(f"DROP DATABASE IF EXISTS {q(DB)} SYNC")
        client.command(f"CREATE DATABASE {q(DB)} ENGINE = Atomic")
        client.command("DROP DATABASE IF EXISTS canary SYNC")
        client.command("CREATE DATABASE canary ENGINE = Atomic")
        client.command("CREATE TABLE canary.t (k UInt32) ENGINE = MergeTree ORDER BY k")
        client.command("INSERT INTO canary.t SELECT number FROM numbers(10)")
    statements = [
        f"CREATE TABLE {qq(ORDERS)} (id UInt64, customer UInt32, amount Decimal(18, 2), "
        "at DateTime('UTC'), tags Array(String), note Nullable(String), "
        "cents UInt64 MATERIALIZED toUInt64(amount * 100), doubled UInt64 ALIAS id * 2) "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY id",
        f"INSERT INTO {qq(ORDERS)} (id, customer, amount, at, tags, note) SELECT number, "
        "number % 97, number / 7, toDateTime('2026-01-01 00:00:00', 'UTC') + number * 300, "
        "[toString(number % 5)], if(number % 11 = 0, NULL, 'n') FROM numbers(50000)",
        f"CREATE TABLE {qq(SELECT)} (k UInt32, name String) ENGINE = MergeTree ORDER BY k",
        f"INSERT INTO {qq(SELECT)} SELECT number, concat('c', toString(number)) FROM numbers(97)",
        f"CREATE TABLE {qq(ODD)} (k UInt32, `odd col``` String) "
        "ENGINE = MergeTree PARTITION BY k % 3 ORDER BY k",
        f"INSERT INTO {qq(ODD)} SELECT number, toString(number) FROM numbers(3000)",
        f"CREATE TABLE {qq(TOTALS)} (day Date, amount Decimal(38, 2)) "
        "ENGINE = MergeTree ORDER BY day",
        f"CREATE VIEW {qq(BIG)} AS SELECT id, amount FROM {qq(ORDERS)} WHERE amount > 7000",
        f"CREATE VIEW {qq(BIGGEST)} AS SELECT count() AS n, max(amount) AS top FROM {qq(BIG)}",
        f"CREATE MATERIALIZED VIEW {qq(TO_VIEW)} TO {qq(TOTALS)} AS "
        f"SELECT toDate(at) AS day, sum(amount) AS amount FROM {qq(ORDERS)} GROUP BY day",
        f"CREATE MATERIALIZED VIEW {qq(INNER_VIEW)} ENGINE = AggregatingMergeTree "
        "PARTITION BY customer % 4 ORDER BY customer AS SELECT customer, "
        f"sumState(amount) AS spent, uniqState(id) AS orders FROM {qq(ORDERS)} GROUP BY customer",
        f"CREATE DICTIONARY {qq(DICT)} (k UInt32, name String) PRIMARY KEY k "
        f"SOURCE(CLICKHOUSE(TABLE {literal(SELECT)} DB {literal(DB)})) "
        "LAYOUT(HASHED()) LIFETIME(0)",
        f"CREATE DICTIONARY {qq(HIDDEN)} (k UInt32, name String) PRIMARY KEY k "
        "SOURCE(CLICKHOUSE(HOST 'elsewhere' PORT 9000 USER 'u' PASSWORD 'secret' TABLE 't' "
        "DB 'd')) LAYOUT(HASHED()) LIFETIME(0)",
    ]
    for sql in statements:
        source.command(sql)
    # A second batch after the views exist: the materialized views receive it.
    source.command(
        f"INSERT INTO {qq(ORDERS)} (id, customer, amount, at, tags, note) SELECT 50000 + number, "
        "number % 97, 3, toDateTime('2026-03-01 00:00:00', 'UTC') + number, [], NULL "
        "FROM numbers(5000)"
    )
    # Aggregating and Summing tables fold rows when parts merge: merge the source first
    # (docs/clickhouse-sync.md, the caveat), so both sides count the same rows.
    source.command(f"OPTIMIZE TABLE {qq(INNER_VIEW)} FINAL")
    # The destination holds an older, different version of some objects.
    dest.command(f"CREATE TABLE {qq(SELECT)} (k UInt32, name String) ENGINE = Memory")
    dest.command(f"INSERT INTO {qq(SELECT)} VALUES (1, 'old')")
    dest.command(f"CREATE VIEW {qq(BIG)} AS SELECT 1 AS id, 2 AS amount")


def env_for(source: ClickHouseServer, dest: ClickHouseServer) -> dict[str, str]:
    env = {"PYTASK_DATABASE": DB, "PYTASK_COPY_MODE": "auto", "PYTASK_PARALLEL": "2"}
    for role, server in (("SOURCE", source), ("DEST", dest)):
        env |= pytask_env(role, server)
        if server.native_host is not None and server.native_port is not None:
            env[f"PYTASK_{role}_NATIVE_HOST"] = server.native_host
            env[f"PYTASK_{role}_NATIVE_PORT"] = str(server.native_port)
    return env


def pytask(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a pytask command in-process; it must succeed; its result."""
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as scratch:
        result_file = Path(scratch) / "result.json"
        code = run([*argv, "--result-file", str(result_file)], env, io.StringIO(), err)
        assert code == 0, err.getvalue()[-3000:]
        result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def sync(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The DAG's steps in order, as its tasks run them; each step's result."""
    results = {"plan": pytask(["plan"], env)}
    outputs = results["plan"]["outputs"]
    planned = env | {
        "PYTASK_TABLES": json.dumps(outputs["tables"]),
        "PYTASK_VIEWS": json.dumps(outputs["views"]),
    }
    results["prepare"] = pytask(["prepare"], planned)
    for table in outputs["tables"]:
        results[f"copy {table}"] = pytask(["copy", "--table", table], env)
    for step in ("verify", "swap", "views", "cleanup"):
        results[step] = pytask([step], planned)
    return results


def state(client: Any) -> dict[str, Any]:
    """What a reader of the database sees: per object its DDL, UUID, and for tables and views
    the count and checksum over every stored column (or every result column)."""
    objects = client.query(
        "SELECT name, engine, create_table_query, toString(uuid) FROM system.tables "
        "WHERE database = {d:String} AND NOT startsWith(name, '.inner')",
        parameters={"d": DB},
    ).result_rows
    out: dict[str, Any] = {}
    for name, engine, ddl, uuid in objects:
        columns = client.query(
            "SELECT name, type FROM system.columns WHERE database = {d:String} "
            "AND table = {t:String} AND default_kind NOT IN ('ALIAS', 'EPHEMERAL') "
            "ORDER BY position",
            parameters={"d": DB, "t": name},
        ).result_rows
        print_ = None
        if engine != "Dictionary":
            # an aggregate state by the value it finalizes to (its bytes may differ)
            hashed = ", ".join(
                f"finalizeAggregation({q(c)})" if t.startswith("AggregateFunction") else q(c)
                for c, t in columns
            )
            print_ = client.query(
                f"SELECT count(), sumWithOverflow(cityHash64({hashed})) FROM {qq(name)}"
            ).result_rows[0]
        out[name] = {"engine": engine, "ddl": ddl, "uuid": uuid, "print": print_}
    return out


@pytest.fixture(scope="module")
def synced(
    clickhouse_pair: tuple[ClickHouseServer, ClickHouseServer],
) -> Iterator[tuple[Any, Any, dict[str, str], dict[str, dict[str, Any]]]]:
    source_server, dest_server = clickhouse_pair
    source, dest = source_server.client(), dest_server.client()
    seed(source, dest)
    env = env_for(source_server, dest_server)
    yield source, dest, env, sync(env)
    source.close()
    dest.close()


def test_the_plan_lists_tables_views_and_what_is_left_out(synced: Any) -> None:
    *_, results = synced
    outputs = results["plan"]["outputs"]
    assert sorted(outputs["tables"]) == sorted(TABLES)
    views = outputs["views"]
    assert sorted(views) == sorted(VIEWS)
    assert views.index(BIG) < views.index(BIGGEST)  # a view over a view after it
    kinds = {v["name"]: v["kind"] for v in outputs["view_details"]}
    assert kinds[INNER_VIEW] == "materialized view (inner)"
    assert kinds[TO_VIEW] == "materialized view (TO)"
    assert kinds[DICT] == "dictionary"
    reasons = {s["name"]: s["reason"] for s in outputs["skipped"]}
    assert "[HIDDEN]" in reasons[HIDDEN]
    assert any(n.startswith(".inner") for n in reasons)


def test_the_destination_equals_the_source(synced: Any) -> None:
    source, dest, _, results = synced
    want, got = state(source), state(dest)
    assert sorted(got) == sorted(set(want) - {HIDDEN})
    for name, seen in got.items():
        assert seen["ddl"] == want[name]["ddl"], name  # same database name: identical DDL
        assert seen["print"] == want[name]["print"], name
    assert got[ORDERS]["print"][0] == 55000
    # the views answer the same
    for view in (BIG, BIGGEST):
        query = f"SELECT * FROM {qq(view)} ORDER BY ALL"
        assert source.query(query).result_rows == dest.query(query).result_rows
    query = (
        f"SELECT customer, sumMerge(spent), uniqMerge(orders) FROM {qq(INNER_VIEW)} "
        "GROUP BY customer ORDER BY customer"
    )
    assert source.query(query).result_rows == dest.query(query).result_rows
    # the dictionary answers from the copied table
    assert dest.query(f"SELECT name FROM {qq(DICT)} WHERE k = 5").result_rows == [("c5",)]
    # partitioned tables went partition by partition, each verified
    assert results[f"copy {ORDERS}"]["counts"]["partitions_copied"] == MONTHS
    assert results["views"]["counts"]["failed"] == 0
    # the database beside it is untouched, on both sides
    for client in (source, dest):
        assert client.query("SELECT count(), sum(k) FROM canary.t").result_rows == [(10, 45)]
    # nothing of the sync's own is left behind
    assert not dest.query(
        "SELECT name FROM system.databases WHERE name = {s:String}", parameters={"s": STAGING}
    ).result_rows


def test_a_second_sync_changes_nothing(synced: Any) -> None:
    _, dest, env, _ = synced
    before = state(dest)
    results = sync(env)
    after = state(dest)
    views = {v: after[v] for v in VIEWS}
    assert {v: s["uuid"] for v, s in views.items()} == {v: before[v]["uuid"] for v in VIEWS}
    assert results["views"]["counts"].get("kept") == len(VIEWS)
    for name in after:
        assert (after[name]["ddl"], after[name]["print"]) == (
            before[name]["ddl"],
            before[name]["print"],
        ), name


def test_a_killed_copy_resumes_with_only_the_missing_partitions(synced: Any) -> None:
    source, dest, env, _ = synced
    planned = env | {"PYTASK_TABLES": json.dumps([ORDERS])}
    pytask(["prepare"], planned)
    ledger = f"{q(STAGING)}.`__polyetl_partitions`"
    killed = subprocess.run(
        [sys.executable, "-m", "pytask", "copy", "--table", ORDERS, "--parallel", "1"],
        env={**os.environ, **env, "PYTASK_COPY_CRASH_AFTER": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == 137, killed.stderr[-2000:]
    recorded = (
        f"SELECT partition_id, run_id FROM {ledger} FINAL "
        f"WHERE valid AND object = {literal(ORDERS)}"
    )
    first = dict(dest.query(recorded).result_rows)
    assert len(first) == 1
    result = pytask(["copy", "--table", ORDERS], env)
    counts = result["counts"]
    assert (counts["partitions_resumed"], counts["partitions_copied"]) == (1, MONTHS - 1)
    second = dict(dest.query(recorded).result_rows)
    (kept,) = first
    assert second[kept] == first[kept]  # recorded by the killed run, not copied again
    assert {r for p, r in second.items() if p != kept} == {result["outputs"]["run_id"]}
    pytask(["verify"], planned)
    # A staging partition that no longer matches is named by verify, and only it is redone.
    dest.command(
        f"ALTER TABLE {q(STAGING)}.{q(ORDERS)} DELETE WHERE id = 1 SETTINGS mutations_sync = 2"
    )
    error = io.StringIO()
    code = run(["verify"], planned, stdout=io.StringIO(), stderr=error)
    assert code == 65
    assert 'partition \\"202601\\"' in error.getvalue() or 'partition "202601"' in error.getvalue()
    again = pytask(["copy", "--table", ORDERS], env)["counts"]
    assert (again["partitions_copied"], again["partitions_resumed"]) == (1, MONTHS - 1)
    pytask(["verify"], planned)
    assert source.query(f"SELECT count() FROM {qq(ORDERS)}").result_rows[0][0] == 55000
    pytask(["cleanup"], planned)
