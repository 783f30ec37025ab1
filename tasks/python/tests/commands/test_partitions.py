"""`pytask copy` of a partitioned table between two ClickHouse engines (chDB-backed endpoints):
a partition that fails never costs the ones beside it — they are verified and kept, the run
fails naming the bad one, and the re-run copies only that one. (The kill-and-resume and the
hostile names are in the root's tests/integration/test_clickhouse_sync.py.)"""

from __future__ import annotations

import json

import pytest

from support.chdb_http import ChdbEndpoint, pytask_env
from tests.inprocess import ok, pytask_lines

pytestmark = pytest.mark.clickhouse

DB = "parts"


def test_a_failed_partition_is_named_and_only_it_is_copied_again(
    servers: tuple[ChdbEndpoint, ChdbEndpoint],
) -> None:
    source_ep, dest_ep = servers
    source, dest = source_ep.client(), dest_ep.client()
    for client in (source, dest):
        client.command(f"DROP DATABASE IF EXISTS {DB} SYNC")
    source.command(f"CREATE DATABASE {DB} ENGINE = Atomic")
    source.command(
        f"CREATE TABLE {DB}.t (k UInt32, v String) ENGINE = MergeTree PARTITION BY k % 4 ORDER BY k"
    )
    source.command(f"INSERT INTO {DB}.t SELECT number, toString(number) FROM numbers(4000)")
    env = {
        "PYTASK_DATABASE": DB,
        "PYTASK_TABLES": json.dumps(["t"]),
        "PYTASK_COPY_MODE": "client",
        **pytask_env("SOURCE", source_ep),
        **pytask_env("DEST", dest_ep),
    }
    ok(["prepare"], env)
    # The destination refuses the rows of one partition (as a full disk or a bad row would).
    dest.command(f"ALTER TABLE {DB}__polyetl_staging.t ADD CONSTRAINT no_two CHECK k % 4 != 2")

    code, result, lines = pytask_lines(["copy", "--table", "t"], env)

    assert (code, result) == (65, None)
    assert '1 partition(s) failed ("2": ' in lines[-1]["error"]
    assert "the 3 verified ones are kept" in lines[-1]["error"]
    recorded = dest.query(
        f"SELECT partition_id FROM {DB}__polyetl_staging.__polyetl_partitions FINAL "
        "WHERE valid ORDER BY partition_id"
    ).result_rows
    assert recorded == [("0",), ("1",), ("3",)]

    dest.command(f"ALTER TABLE {DB}__polyetl_staging.t DROP CONSTRAINT no_two")
    counts = ok(["copy", "--table", "t"], env)["counts"]
    assert (counts["partitions_copied"], counts["partitions_resumed"]) == (1, 3)
    assert counts["rows"] == 4000
    assert ok(["verify"], env)["counts"] == {"tables": 1, "rows": 4000}
