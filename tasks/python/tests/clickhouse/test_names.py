"""Any name ClickHouse allows is accepted and reaches SQL as exactly one identifier
(pytask.clickhouse.names); only what ClickHouse itself forbids is refused, before any query."""

from __future__ import annotations

import json

import pytest

from pytask.clickhouse.names import literal, mentions, parse_head, q, qualified
from support.chdb_http import ChdbEndpoint
from tests.inprocess import pytask, pytask_lines
from tests.sync_servers import env_for

HOSTILE = [
    "a; DROP DATABASE b",
    "x`y",
    "new\nline",
    "select",
    "Таблица с пробелом",  # noqa: RUF001 - Cyrillic on purpose
    "dot.ted",
    "back\\slash",
    "tab\there",
    "q'\"uo",
    "\x01ctl",
    "1abc",
    "`",
    "\\`",
]


@pytest.mark.parametrize("name", ["", "x\0y", "x" * 256, "я" * 128])
def test_what_clickhouse_forbids_is_refused_before_any_query(name: str) -> None:
    # The source points at a closed port: had plan queried anything, it would fail transient.
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9"}
    code, result, lines = pytask_lines(["plan", "--database", name], env)
    assert (code, result) == (64, None)
    assert lines[-1]["error_kind"] == "usage"
    expected = "to name a database, got none" if not name else "1 to 255 bytes, no NUL"
    assert expected in lines[-1]["error"]


@pytest.mark.clickhouse
def test_every_hostile_name_round_trips_through_the_engine(chdb_endpoint: ChdbEndpoint) -> None:
    """Created with q(), read back from system.tables and from SHOW CREATE (parse_head), found
    in a view's stored definition (mentions) — and no other object is touched."""
    client = chdb_endpoint.client()
    database = "d`b; DROP\n"
    client.command(f"DROP DATABASE IF EXISTS {q(database)} SYNC")
    client.command(f"CREATE DATABASE {q(database)} ENGINE = Atomic")
    before = client.query("SELECT database, name FROM system.tables").result_rows
    for name in HOSTILE:
        client.command(f"CREATE TABLE {qualified(database, name)} (k UInt8) ENGINE = Memory")
        ddl = client.query(f"SHOW CREATE TABLE {qualified(database, name)}").result_rows[0][0]
        head = parse_head(ddl)
        assert (head.kind, head.database, head.name) == ("TABLE", database, name)
        view = f"v {name}"
        client.command(
            f"CREATE VIEW {qualified(database, view)} AS SELECT * FROM {qualified(database, name)}"
        )
        stored = client.query(
            "SELECT create_table_query FROM system.tables WHERE database = {d:String} "
            "AND name = {n:String}",
            parameters={"d": database, "n": view},
        ).result_rows[0][0]
        assert mentions(stored, database, name), stored
        assert not any(mentions(stored, database, o) for o in HOSTILE if o != name), stored
    names = client.query(
        f"SELECT name FROM system.tables WHERE database = {literal(database)}"
    ).result_rows
    assert sorted(n for (n,) in names) == sorted(HOSTILE + [f"v {n}" for n in HOSTILE])
    after = client.query("SELECT database, name FROM system.tables").result_rows
    assert set(after) - set(before) == {(database, n) for (n,) in names}
    client.command(f"DROP DATABASE {q(database)} SYNC")


@pytest.mark.clickhouse
@pytest.mark.parametrize("bad", ["", "x\0y"])
def test_bad_table_names_are_refused(bad: str, servers: tuple[ChdbEndpoint, ChdbEndpoint]) -> None:
    env = env_for(*servers)
    code, result, err = pytask(["copy", "--table", bad], env)
    assert (code, result) == (64, None), err
    code, _, err = pytask(["swap"], env | {"PYTASK_TABLES": json.dumps(["events", bad])})
    assert code == 64, err


def test_a_comma_list_is_not_a_table_list() -> None:
    env = {"PYTASK_DEST_HOST": "127.0.0.1", "PYTASK_DATABASE": "d", "PYTASK_TABLES": "a,b"}
    code, _, err = pytask(["swap"], env)
    assert code == 64
    assert "JSON array" in err
