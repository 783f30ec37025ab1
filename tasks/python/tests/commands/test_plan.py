"""`pytask plan` against a real ClickHouse engine (the chDB-backed endpoint): patterns, the
treatment of views and dictionaries, counts. Hostile names are in tests/clickhouse/test_names.py;
the views' recreation in the root's tests/integration/test_clickhouse_sync.py."""

from __future__ import annotations

import json

import pytest

from support.chdb_http import ChdbEndpoint
from tests.inprocess import pytask_lines, source_env

pytestmark = pytest.mark.clickhouse


@pytest.fixture(scope="module")
def shop(chdb_endpoint: ChdbEndpoint) -> str:
    client = chdb_endpoint.client()
    client.command("DROP DATABASE IF EXISTS shop")
    client.command("CREATE DATABASE shop ENGINE = Atomic")
    client.command("CREATE TABLE shop.orders (id UInt64, v Float64) ENGINE = MergeTree ORDER BY id")
    client.command("INSERT INTO shop.orders SELECT number, number / 2 FROM numbers(1000)")
    client.command("CREATE TABLE shop.orders_tmp (id UInt64) ENGINE = Memory")
    client.command(
        "CREATE TABLE shop.customers (id UInt64, name String) "
        "ENGINE = ReplacingMergeTree ORDER BY id"
    )
    client.command("INSERT INTO shop.customers VALUES (1, 'a'), (2, 'b')")
    client.command("CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE v > 100")
    client.command(
        "CREATE MATERIALIZED VIEW shop.orders_by_id ENGINE = MergeTree ORDER BY id "
        "AS SELECT id FROM shop.orders"
    )
    client.close()
    return "shop"


def test_plan_selects_tables_and_explains_skips(chdb_endpoint: ChdbEndpoint, shop: str) -> None:
    code, result, lines = pytask_lines(
        ["plan", "--database", shop, "--skip", "*_tmp"], source_env(chdb_endpoint)
    )
    assert code == 0, lines
    assert result is not None
    outputs = result["outputs"]
    assert outputs["tables"] == ["customers", "orders"]
    reasons = {s["name"]: s["reason"] for s in outputs["skipped"]}
    # the materialized view's inner table (".inner_id.<uuid>") goes with its view
    assert any(n.startswith(".inner") and r.startswith("inner table") for n, r in reasons.items())
    assert reasons["orders_tmp"] == "not selected by the patterns"
    # views and materialized views are recreated, in dependency order, not skipped
    assert outputs["views"] == ["big_orders", "orders_by_id"]
    kinds = {v["name"]: v["kind"] for v in outputs["view_details"]}
    assert kinds == {"big_orders": "view", "orders_by_id": "materialized view (inner)"}
    assert result["counts"]["rows"] >= 1002
    assert outputs["staging_database"] == "shop__polyetl_staging"
    assert chdb_endpoint.password not in json.dumps(lines)


def test_regex_patterns_from_env(chdb_endpoint: ChdbEndpoint, shop: str) -> None:
    env = source_env(
        chdb_endpoint,
        PYTASK_DATABASE=shop,
        PYTASK_INCLUDE='["cust.*"]',
        PYTASK_PATTERN_SYNTAX="regex",
    )
    code, result, _ = pytask_lines(["plan"], env)
    assert code == 0
    assert result is not None
    assert result["outputs"]["tables"] == ["customers"]


def test_nothing_selected_is_nothing_to_do(chdb_endpoint: ChdbEndpoint, shop: str) -> None:
    code, result, _ = pytask_lines(
        ["plan", "--database", shop, "--include", "nope*"], source_env(chdb_endpoint)
    )
    assert code == 99
    assert result is not None
    assert result["status"] == "nothing_to_do"


def test_missing_database_is_permanent(chdb_endpoint: ChdbEndpoint) -> None:
    code, _, lines = pytask_lines(["plan", "--database", "no_such_db"], source_env(chdb_endpoint))
    assert code == 65
    assert "no_such_db" in lines[-1]["error"]
