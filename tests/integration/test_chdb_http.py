"""The chDB-backed ClickHouse HTTP endpoint (images/chdb-http/chdb_http.py) speaks the HTTP
interface the way the clients need: checked with raw HTTP and with clickhouse-connect.

It is test infrastructure: these tests pin down what it promises, so a test that passes
against it would pass against a real server for the same reasons. They run against a
polyetl/chdb-http container running this tree's chdb_http.py (``chdb_endpoint``,
tests/support/containers.py), what the tests and the local cluster run where the official
image can't be pulled; the test of SIGTERM and restart runs the endpoint as a process.
"""

from __future__ import annotations

import datetime
import gzip
import json
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chdb_http import ChdbEndpoint, start_chdb_endpoint, stop_chdb_endpoint

pytestmark = pytest.mark.clickhouse


def http(
    endpoint: ChdbEndpoint,
    path: str = "/",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        endpoint.url + path, data=body, method="POST" if body is not None else "GET"
    )
    if auth:
        request.add_header("X-ClickHouse-User", endpoint.user)
        request.add_header("X-ClickHouse-Key", endpoint.password)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def client(chdb_endpoint: ChdbEndpoint) -> Iterator[Any]:
    c = chdb_endpoint.client()
    c.command("CREATE DATABASE IF NOT EXISTS t ENGINE = Atomic")
    yield c
    c.close()


def test_ping_and_select(chdb_endpoint: ChdbEndpoint) -> None:
    assert http(chdb_endpoint, "/ping", auth=False)[2] == b"Ok.\n"
    status, headers, body = http(chdb_endpoint, "/?query=SELECT%20number%20FROM%20numbers(3)")
    assert (status, body) == (200, b"0\n1\n2\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"] == "3"


def test_formats_from_clause_or_default_format(chdb_endpoint: ChdbEndpoint) -> None:
    _, headers, body = http(chdb_endpoint, "/", b"SELECT 1 AS x FORMAT JSONEachRow")
    assert (body, headers["X-ClickHouse-Format"]) == (b'{"x":1}\n', "JSONEachRow")
    _, _, body = http(chdb_endpoint, "/?default_format=CSVWithNames", b"SELECT 'a' AS s")
    assert body == b'"s"\n"a"\n'


def test_query_in_url_with_data_in_body_and_compressed_chunked_body(
    chdb_endpoint: ChdbEndpoint, client: Any
) -> None:
    client.command(
        "CREATE OR REPLACE TABLE t.kv (k String, v UInt32) ENGINE = MergeTree ORDER BY k"
    )
    q = urllib.parse.quote("INSERT INTO t.kv FORMAT JSONEachRow")
    status, _, body = http(chdb_endpoint, f"/?query={q}", b'{"k":"a","v":1}\n{"k":"b","v":2}\n')
    assert status == 200, body
    # the statement and its data both in a gzip body
    payload = gzip.compress(b"INSERT INTO t.kv FORMAT TabSeparated\nc\t3\nd\t4\n")
    status, _, body = http(chdb_endpoint, "/", payload, {"Content-Encoding": "gzip"})
    assert status == 200, body

    # a chunked body, as streaming clients send it
    def chunks() -> Iterator[bytes]:
        yield b"INSERT INTO t.kv FORMAT CSV\n"
        yield b'"e",5\n'
        yield b'"f",6\n'

    request = urllib.request.Request(chdb_endpoint.url + "/", data=chunks(), method="POST")
    request.add_header("X-ClickHouse-User", chdb_endpoint.user)
    request.add_header("X-ClickHouse-Key", chdb_endpoint.password)
    request.add_header("Transfer-Encoding", "chunked")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    assert client.query(
        "SELECT groupArray(k), sum(v) FROM (SELECT * FROM t.kv ORDER BY k)"
    ).result_rows == [(["a", "b", "c", "d", "e", "f"], 21)]


def test_errors_the_clickhouse_way(chdb_endpoint: ChdbEndpoint) -> None:
    status, headers, body = http(chdb_endpoint, "/", b"SELEC 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    assert body.startswith(b"Code: 62. DB::Exception: Syntax error")
    status, headers, _ = http(chdb_endpoint, "/", b"SELECT * FROM t.no_such_table")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    status, headers, _ = http(chdb_endpoint, "/", b"SELECT 1", auth=False)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516")


def test_settings_apply_to_one_request_only(chdb_endpoint: ChdbEndpoint) -> None:
    status, _, body = http(
        chdb_endpoint,
        "/?max_result_rows=2&result_overflow_mode=throw",
        b"SELECT number FROM numbers(10)",
    )
    assert status == 500, body
    assert b"TOO_MANY_ROWS_OR_BYTES" in body or b"Limit for result" in body
    status, _, body = http(chdb_endpoint, "/", b"SELECT count() FROM numbers(10)")
    assert (status, body) == (200, b"10\n")


def test_clickhouse_connect_round_trip_with_rich_types(client: Any) -> None:
    client.command(
        "CREATE OR REPLACE TABLE t.rich (id UInt64, name Nullable(String), "
        "tag LowCardinality(String), at DateTime64(3, 'UTC'), xs Array(UInt16), "
        "attrs Map(String, Float64)) ENGINE = MergeTree ORDER BY id"
    )
    at = datetime.datetime(2026, 11, 23, 6, 37, 30, 123000, tzinfo=datetime.UTC)
    rows = [
        (i, None if i % 2 else f"n{i}", "t", at, [i, i + 1], {"x": i / 2}) for i in range(50_000)
    ]
    client.insert("t.rich", rows, column_names=["id", "name", "tag", "at", "xs", "attrs"])
    got = client.query("SELECT * FROM t.rich WHERE id IN (0, 1) ORDER BY id").result_rows
    # the same instant, whether the client hands it back naive (UTC) or aware
    got = [
        (*r[:3], r[3].replace(tzinfo=datetime.UTC) if r[3].tzinfo is None else r[3], *r[4:])
        for r in got
    ]
    assert got == [(0, "n0", "t", at, [0, 1], {"x": 0.0}), (1, None, "t", at, [1, 2], {"x": 0.5})]
    assert client.query("SELECT count(), sum(id) FROM t.rich").result_rows == [
        (50_000, 1_249_975_000)
    ]
    bound = client.query("SELECT count() FROM t.rich WHERE id < {n:UInt64}", parameters={"n": 10})
    assert bound.result_rows == [(10,)]
    assert client.query_arrow("SELECT id FROM t.rich LIMIT 7").num_rows == 7


def test_atomic_exchange_tables(client: Any) -> None:
    client.command("CREATE OR REPLACE TABLE t.live (v UInt8) ENGINE = MergeTree ORDER BY v")
    client.command("CREATE OR REPLACE TABLE t.staged (v UInt8) ENGINE = MergeTree ORDER BY v")
    client.command("INSERT INTO t.staged VALUES (7)")
    client.command("EXCHANGE TABLES t.live AND t.staged")
    assert client.query("SELECT v FROM t.live").result_rows == [(7,)]
    assert client.query("SELECT count() FROM t.staged").result_rows == [(0,)]


def test_sigterm_stops_promptly_and_keeps_the_data(tmp_path: Path) -> None:
    """Kubernetes stops the pod with SIGTERM: the endpoint ends well within the grace period
    even with a client's keep-alive connection still open, and what it wrote is there after a
    restart on the same data directory."""
    data_dir = tmp_path / "data"
    endpoint, proc = start_chdb_endpoint(data_dir)
    try:
        c = endpoint.client()
        c.command("CREATE DATABASE IF NOT EXISTS keep ENGINE = Atomic")
        c.command("CREATE TABLE keep.n (n UInt64) ENGINE = MergeTree ORDER BY n")
        c.command("INSERT INTO keep.n SELECT number FROM numbers(50000)")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # the client's pooled connection stays open
        assert proc.wait(timeout=25) == 0
        assert time.monotonic() - started < 25
    finally:
        if proc.poll() is None:
            proc.kill()
    endpoint, proc = start_chdb_endpoint(data_dir)
    try:
        status, _, body = http(endpoint, "/", b"SELECT count(), sum(n) FROM keep.n")
        assert (status, body) == (200, f"50000\t{sum(range(50000))}\n".encode())
    finally:
        stop_chdb_endpoint(proc)
