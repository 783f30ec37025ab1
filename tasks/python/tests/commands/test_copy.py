"""`pytask copy --mode client`: the source's answer (Native) is sent on as the destination's
request body, in large pieces as it comes, never decoded — and that holds when source and
destination are one server, where the chDB endpoint must let the INSERT in while the SELECT
feeding it still streams. (The copy between two servers, partitions and resume are in
test_sync_flow.py and test_partitions.py.)"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from pytask.clickhouse.partitions import COPY_SETTINGS, Column, Data, Transfer
from pytask.commands.copy import PIECE, stream_mover
from support.chdb_http import ChdbEndpoint, pytask_env
from tests.inprocess import ok

ROWS = 1_000_000


class Source:
    """A source client whose answer is ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.selects: list[tuple[str, str]] = []

    def raw_stream(self, query: str, fmt: str) -> io.BytesIO:
        self.selects.append((query, fmt))
        return io.BytesIO(self.data)


class Dest:
    """A destination client that keeps each piece of the insert's body as it was sent."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.inserts: list[dict[str, Any]] = []

    def raw_insert(self, table: str, **kwargs: Any) -> None:
        self.pieces.extend(kwargs.pop("insert_block"))
        self.inserts.append({"table": table, **kwargs})


def test_the_source_bytes_go_on_whole_in_large_pieces_not_lines() -> None:
    # Native data is binary: full of 0x0A bytes, where iterating a response would cut it
    data = b"\n" * (PIECE + 5) + bytes(range(256)) * 9000
    source, dest = Source(data), Dest()
    columns = [Column("id", "UInt64"), Column("a b", "String")]
    move = Transfer(source, dest, Data.table("db", "t"), Data.table("db__staging", "t"), columns)

    stream_mover(move, "3")

    assert source.selects == [
        ("SELECT `id`, `a b` FROM `db`.`t` WHERE _partition_id = '3'", "Native")
    ]
    assert b"".join(dest.pieces) == data
    whole, rest = divmod(len(data), PIECE)
    assert [len(p) for p in dest.pieces] == [PIECE] * whole + [rest]
    assert dest.inserts == [
        {
            "table": "`db__staging`.`t`",
            "column_names": ["`id`", "`a b`"],
            "fmt": "Native",
            "settings": COPY_SETTINGS,
        }
    ]


@pytest.mark.clickhouse
def test_client_copy_within_one_server(chdb_endpoint: ChdbEndpoint) -> None:
    """Source and destination one endpoint: the INSERT arrives while the SELECT whose answer it
    carries still streams. An endpoint that held the engine for the SELECT until its end would
    never take the INSERT's data, and the copy would never end: it runs in a process of its
    own, given two minutes."""
    db = "onehost"
    client = chdb_endpoint.client()
    for name in (db, f"{db}__polyetl_staging"):
        client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.command(f"CREATE DATABASE {db} ENGINE = Atomic")
    client.command(
        f"CREATE TABLE {db}.t (id UInt64, s String, xs Array(UInt32)) "
        "ENGINE = MergeTree ORDER BY id"
    )
    # ~60 MB of Native: more than the sockets, the endpoint's queue and the pieces in flight
    # hold, so an endpoint that kept the SELECT streaming would never read the INSERT
    client.command(
        f"INSERT INTO {db}.t SELECT number, repeat(toString(number % 10), 50), [number % 10] "
        f"FROM numbers({ROWS})"
    )
    env = {
        "PYTASK_DATABASE": db,
        "PYTASK_TABLES": json.dumps(["t"]),
        "PYTASK_COPY_MODE": "client",
        **pytask_env("SOURCE", chdb_endpoint),
        **pytask_env("DEST", chdb_endpoint),
    }
    ok(["prepare"], env)

    done = subprocess.run(
        [sys.executable, "-m", "pytask", "copy", "--table", "t"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["counts"] == {"rows": ROWS}
    assert ok(["verify"], env)["counts"] == {"tables": 1, "rows": ROWS}
