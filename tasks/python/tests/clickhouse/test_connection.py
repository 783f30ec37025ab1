"""Connections to the servers (pytask.clickhouse.connection): an unreachable server is a
transient failure, named by its address."""

from __future__ import annotations

from tests.inprocess import pytask_lines


def test_unreachable_server_is_transient() -> None:
    env = {"PYTASK_SOURCE_HOST": "127.0.0.1", "PYTASK_SOURCE_PORT": "9"}
    code, _, lines = pytask_lines(["plan", "--database", "shop"], env)
    assert code == 75, lines
    assert "http://127.0.0.1:9" in lines[-1]["error"]
