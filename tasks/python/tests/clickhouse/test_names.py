"""Hostile database and table names are refused as usage errors (pytask.clickhouse.names),
by every command that takes one, before any query."""

from __future__ import annotations

import json

import pytest

from support.chdb_http import ChdbEndpoint
from tests.inprocess import pytask, pytask_lines
from tests.sync_servers import env_for


@pytest.mark.parametrize("name", ["shop`; DROP DATABASE shop; --", "../etc", "a b", "x'y", "1abc"])
def test_hostile_names_are_refused_before_any_query(name: str) -> None:
    # The source points at a closed port: had plan queried anything, it would fail transient.
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9"}
    code, result, lines = pytask_lines(["plan", "--database", name], env)
    assert (code, result) == (64, None)
    assert lines[-1]["error_kind"] == "usage"
    assert json.dumps(name)[1:-1] in lines[-1]["error"]


@pytest.mark.clickhouse
@pytest.mark.parametrize("bad", ["sales`; DROP DATABASE sales", "sales.x", "../sales"])
def test_hostile_table_names_are_refused(
    bad: str, servers: tuple[ChdbEndpoint, ChdbEndpoint]
) -> None:
    env = env_for(*servers)
    code, result, err = pytask(["copy", "--table", bad], env)
    assert (code, result) == (64, None), err
    code, _, err = pytask(["swap", "--tables", f"events,{bad}"], env)
    assert code == 64, err
