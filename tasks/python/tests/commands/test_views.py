"""`pytask views` between two ClickHouse engines (chDB-backed endpoints): dependency order,
and one view that can't be recreated never blocks the others. The full sync with every kind of
view is in the root's tests/integration/test_clickhouse_sync.py."""

from __future__ import annotations

import json

import pytest

from support.chdb_http import ChdbEndpoint, pytask_env
from tests.inprocess import ok, pytask_lines

pytestmark = pytest.mark.clickhouse

DB = "views db"


@pytest.fixture
def env(servers: tuple[ChdbEndpoint, ChdbEndpoint]) -> dict[str, str]:
    source_ep, dest_ep = servers
    source, dest = source_ep.client(), dest_ep.client()
    for client in (source, dest):
        client.command(f"DROP DATABASE IF EXISTS `{DB}` SYNC")
        client.command(f"CREATE DATABASE `{DB}` ENGINE = Atomic")
        client.command(f"CREATE TABLE `{DB}`.t (k UInt32) ENGINE = MergeTree ORDER BY k")
        client.command(f"INSERT INTO `{DB}`.t SELECT number FROM numbers(10)")
    # `u` exists on the source only: `c`, a materialized view into it, can't be recreated on
    # the destination (a plain view over a missing table could: ClickHouse creates it).
    source.command(f"CREATE TABLE `{DB}`.u (k UInt32) ENGINE = Memory")
    for what in [
        f"VIEW `{DB}`.a AS SELECT k FROM `{DB}`.t WHERE k > 2",
        f"VIEW `{DB}`.`b over a` AS SELECT count() AS n FROM `{DB}`.a",
        f"MATERIALIZED VIEW `{DB}`.c TO `{DB}`.u AS SELECT k FROM `{DB}`.t",
        f"VIEW `{DB}`.`d over c` AS SELECT count() AS n FROM `{DB}`.c",
    ]:
        source.command(f"CREATE {what}")
    return {
        "PYTASK_DATABASE": DB,
        "PYTASK_VIEWS": json.dumps(["d over c", "c", "b over a", "a"]),  # not in order
        **pytask_env("SOURCE", source_ep),
        **pytask_env("DEST", dest_ep),
    }


def test_a_view_that_fails_blocks_only_those_that_read_it(
    env: dict[str, str], servers: tuple[ChdbEndpoint, ChdbEndpoint]
) -> None:
    dest = servers[1].client()
    code, result, lines = pytask_lines(["views"], env)
    assert (code, result) == (65, None)
    error = lines[-1]["error"]
    assert '2 of 4 view(s) not recreated: "c":' in error
    assert '"d over c": reads "c", which failed' in error
    names = {
        n
        for (n,) in dest.query(
            "SELECT name FROM system.tables WHERE database = {d:String}", parameters={"d": DB}
        ).result_rows
    }
    assert names == {"t", "a", "b over a"}  # created in order: b reads a
    assert dest.query(f"SELECT n FROM `{DB}`.`b over a`").result_rows == [(7,)]

    # Once what `c` reads exists there, a re-run creates c and d and keeps the others.
    dest.command(f"CREATE TABLE `{DB}`.u (k UInt32) ENGINE = Memory")
    counts = ok(["views"], env)["counts"]
    assert counts == {"views": 4, "kept": 2, "created": 2, "failed": 0}
