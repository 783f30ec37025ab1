"""`pytask plan` against a real ClickHouse engine (the chDB-backed endpoint): patterns, the
treatment of views and dictionaries, counts — and refusals before any query runs."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pytask.cli import run

from tests.support.chdb_http import ChdbEndpoint

pytestmark = pytest.mark.clickhouse


def source_env(endpoint: ChdbEndpoint, **extra: str) -> dict[str, str]:
    return {
        "PYTASK_SOURCE_HOST": endpoint.host,
        "PYTASK_SOURCE_PORT": str(endpoint.port),
        "PYTASK_SOURCE_USER": endpoint.user,
        "PYTASK_SOURCE_PASSWORD": endpoint.password,
        **extra,
    }


def pytask(
    argv: list[str], env: dict[str, str]
) -> tuple[int, dict[str, Any] | None, list[dict[str, Any]]]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, env, out, err)
    result = json.loads(out.getvalue()) if out.getvalue().strip() else None
    return code, result, [json.loads(line) for line in err.getvalue().splitlines()]


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
    code, result, lines = pytask(
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
    assert reasons["big_orders"].startswith("view:")
    assert reasons["orders_by_id"].startswith("materialized view:")
    assert result["counts"]["rows"] >= 1002
    assert outputs["staging_database"] == "shop__polyetl_staging"
    assert chdb_endpoint.password not in json.dumps(lines)


def test_regex_patterns_from_env(chdb_endpoint: ChdbEndpoint, shop: str) -> None:
    env = source_env(
        chdb_endpoint, PYTASK_DATABASE=shop, PYTASK_INCLUDE="cust.*", PYTASK_PATTERN_SYNTAX="regex"
    )
    code, result, _ = pytask(["plan"], env)
    assert code == 0
    assert result is not None
    assert result["outputs"]["tables"] == ["customers"]


def test_nothing_selected_is_nothing_to_do(chdb_endpoint: ChdbEndpoint, shop: str) -> None:
    code, result, _ = pytask(
        ["plan", "--database", shop, "--include", "nope*"], source_env(chdb_endpoint)
    )
    assert code == 99
    assert result is not None
    assert result["status"] == "nothing_to_do"


@pytest.mark.parametrize("name", ["shop`; DROP DATABASE shop; --", "../etc", "a b", "x'y", "1abc"])
def test_hostile_names_are_refused_before_any_query(name: str) -> None:
    # The source points at a closed port: had plan queried anything, it would fail transient.
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9"}
    code, result, lines = pytask(["plan", "--database", name], env)
    assert (code, result) == (64, None)
    assert lines[-1]["error_kind"] == "usage"
    assert json.dumps(name)[1:-1] in lines[-1]["error"]


def test_unreachable_server_is_transient() -> None:
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9"}
    code, _, lines = pytask(["plan", "--database", "shop"], env)
    assert code == 75, lines
    assert "http://127.0.0.1:9" in lines[-1]["error"]


def test_missing_database_is_permanent(chdb_endpoint: ChdbEndpoint) -> None:
    code, _, lines = pytask(["plan", "--database", "no_such_db"], source_env(chdb_endpoint))
    assert code == 65
    assert "no_such_db" in lines[-1]["error"]


def test_tls_flags_beat_env_and_verification_is_on_by_default(chdb_endpoint: ChdbEndpoint) -> None:
    # The endpoint speaks plain HTTP: asking for HTTPS must fail to connect (transient), and
    # the error names the https address, proving the flag took effect over the env.
    env = source_env(chdb_endpoint, PYTASK_SOURCE_SECURE="false")
    code, _, lines = pytask(["plan", "--database", "shop", "--source-secure"], env)
    assert code == 75, lines
    assert f"https://{chdb_endpoint.host}:{chdb_endpoint.port}" in lines[-1]["error"]
    code, _, lines = pytask(
        ["plan", "--database", "shop"], {**env, "PYTASK_SOURCE_VERIFY": "maybe"}
    )
    assert code == 64
    assert 'expected PYTASK_SOURCE_VERIFY to be true or false, got: "maybe"' in lines[-1]["error"]


def test_bad_choices_name_the_flag_or_the_env_variable_they_came_from() -> None:
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9", "PYTASK_DEST_HOST": "x"}
    code, _, lines = pytask(["plan", "--database", "shop", "--pattern-syntax", "fuzzy"], env)
    assert code == 64
    assert lines[-1]["error"] == 'expected --pattern-syntax to be one of glob, regex, got: "fuzzy"'
    code, _, lines = pytask(
        ["copy", "--database", "shop", "--table", "t"], {**env, "PYTASK_COPY_MODE": "teleport"}
    )
    assert code == 64
    assert lines[-1]["error"].startswith(
        "expected PYTASK_COPY_MODE to be one of auto, server, client"
    )
