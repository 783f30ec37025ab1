"""The chDB-backed ClickHouse HTTP endpoint (images/chdb-http/chdb_http.py) speaks the HTTP
interface the way the clients need: checked with raw HTTP and with clickhouse-connect.

It is test infrastructure: these tests pin down what it promises, so a test that passes
against it would pass against a real server for the same reasons. They run against a
polyetl/chdb-http container running this tree's chdb_http.py (``chdb_endpoint``,
tests/support/containers.py), what the tests and the local cluster run where the official
image can't be pulled; the test of SIGTERM and restart runs the endpoint as a process.

Streaming is checked on the wire, with a raw socket (``Answer``): a large result in a format
whose blocks concatenate comes in chunks, a small one or one asked for whole with a
Content-Length; an error after the answer has begun ends its body and cuts the connection
before the last chunk; INSERT bodies stream into the engine, decompressed on the fly, frame
after frame; a violated constraint, a client gone mid-body or a body cut inside a frame
inserts nothing; a reader that stalls never blocks the others, so one endpoint can be the
source and the destination of a streamed copy.
"""

from __future__ import annotations

import datetime
import gzip
import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any, BinaryIO

import clickhouse_connect
import lz4.frame  # type: ignore[import-untyped]  # clickhouse-connect's codec
import pytest
from backports import zstd  # clickhouse-connect's codec (the standard library's from 3.14)

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


# ---------------------------------------------------------------------------------------------
# Streaming, on the wire


@dataclass
class Answer:
    """A response as it came over the wire: ``chunks`` as the endpoint framed them (one piece
    for a Content-Length body); ``ended``: the body ended as its framing says (the last,
    zero-size chunk came, or Content-Length bytes), not cut short by the connection's end."""

    status: int
    headers: dict[str, str]  # names in lower case
    chunks: list[bytes]
    ended: bool

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def request_head(
    endpoint: ChdbEndpoint,
    query: str,
    headers: dict[str, str] | None = None,
    *,
    params: dict[str, str] | None = None,
    method: str = "GET",
    version: str = "HTTP/1.1",
) -> bytes:
    """A request's line and headers, credentials included; its body is the caller's."""
    target = "/?" + urllib.parse.urlencode({**(params or {}), "query": query})
    lines = [
        f"{method} {target} {version}",
        f"Host: {endpoint.host}:{endpoint.port}",
        f"X-ClickHouse-User: {endpoint.user}",
        f"X-ClickHouse-Key: {endpoint.password}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(rfile: BinaryIO) -> Answer:
    """One response from ``rfile``, its body read as framed (to the end of the connection when
    it has neither framing, as an HTTP/1.0 answer may)."""
    status = int(rfile.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := rfile.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks, ended = read_chunks(rfile)
        return Answer(status, headers, chunks, ended)
    if "content-length" in headers:
        size = int(headers["content-length"])
        data = rfile.read(size)
        return Answer(status, headers, [data], len(data) == size)
    return Answer(status, headers, [rfile.read()], True)


def read_chunks(rfile: BinaryIO) -> tuple[list[bytes], bool]:
    """A chunked body's chunks, and whether it ended with the last (zero-size) chunk."""
    chunks: list[bytes] = []
    while True:
        line = rfile.readline()
        if not line.strip():  # the connection ended between chunks
            return chunks, False
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return chunks, True
        data = rfile.read(size)
        chunks.append(data)
        if len(data) < size or rfile.readline() != b"\r\n":
            return chunks, False


@contextmanager
def connection(
    endpoint: ChdbEndpoint, timeout: float = 30
) -> Iterator[tuple[socket.socket, BinaryIO]]:
    """A raw connection to the endpoint, and a buffered reader of it."""
    with (
        socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock,
        sock.makefile("rb") as rfile,
    ):
        yield sock, rfile


def exchange(
    endpoint: ChdbEndpoint,
    query: str,
    *,
    params: dict[str, str] | None = None,
    version: str = "HTTP/1.1",
) -> Answer:
    """A GET of ``query``, on a connection of its own, and its answer."""
    with connection(endpoint) as (sock, rfile):
        sock.sendall(request_head(endpoint, query, params=params, version=version))
        return read_answer(rfile)


def scalar(endpoint: ChdbEndpoint, query: str) -> str:
    """The one value ``query`` answers (TabSeparated)."""
    status, _, body = http(endpoint, "/", query.encode())
    assert status == 200, body
    return body.decode().strip()


def answered_within(seconds: float, call: Callable[[], str]) -> str:
    """``call()``'s value, failing when it takes longer than ``seconds`` — or never returns
    (then it is left to its own timeout in a thread of its own)."""
    got: list[str] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            got.append(call())
        except BaseException as exc:  # reported below
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if failed:
        raise failed[0]
    assert got, f"no answer within {seconds} s"
    return got[0]


# A result of many engine blocks (numbers() gives them 65,409 rows at a time): 4.4 MB of Native
BIG_SELECT = (
    "SELECT number AS id, toString(number) AS s FROM numbers(300000) ORDER BY id FORMAT Native"
)


def test_a_big_result_streams_in_chunks_a_small_or_waited_one_comes_whole(
    chdb_endpoint: ChdbEndpoint,
) -> None:
    with connection(chdb_endpoint) as (sock, rfile):
        sock.sendall(request_head(chdb_endpoint, BIG_SELECT))
        streamed = read_answer(rfile)
        # the stream ended properly: the connection carries the next request
        sock.sendall(request_head(chdb_endpoint, "SELECT 42"))
        after = read_answer(rfile)
    assert streamed.status == 200
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in streamed.headers
    assert streamed.ended
    assert len(streamed.chunks) > 1
    assert (after.status, after.body) == (200, b"42\n")

    # the same bytes whole, with a Content-Length: asked for (as clickhouse-connect's query()
    # does), or to an HTTP/1.0 client, which can't read chunks
    waited = exchange(chdb_endpoint, BIG_SELECT, params={"wait_end_of_query": "1"})
    old_client = exchange(chdb_endpoint, BIG_SELECT, version="HTTP/1.0")
    for whole in (waited, old_client):
        assert whole.status == 200
        assert "transfer-encoding" not in whole.headers
        assert int(whole.headers["content-length"]) == len(whole.body)
        assert whole.body == streamed.body
    assert json.loads(waited.headers["x-clickhouse-summary"])["read_rows"] == "300000"

    # a result of one block comes whole
    small = exchange(chdb_endpoint, "SELECT number FROM numbers(10) FORMAT Native")
    assert "transfer-encoding" not in small.headers
    assert int(small.headers["content-length"]) == len(small.body) > 0

    # text formats stream too; a format with a header and a footer (JSON) comes whole
    tsv = exchange(chdb_endpoint, BIG_SELECT.replace("FORMAT Native", "FORMAT TSV"))
    assert tsv.headers["transfer-encoding"] == "chunked"
    assert len(tsv.chunks) > 1
    lines = tsv.body.splitlines()
    assert (len(lines), lines[0], lines[-1]) == (300000, b"0\t0", b"299999\t299999")
    as_json = exchange(chdb_endpoint, BIG_SELECT.replace("FORMAT Native", "FORMAT JSON"))
    assert "transfer-encoding" not in as_json.headers
    assert int(as_json.headers["content-length"]) == len(as_json.body)
    assert json.loads(as_json.body)["rows"] == 300000


def test_an_error_mid_stream_ends_the_body_with_it_and_cuts_the_stream(
    chdb_endpoint: ChdbEndpoint,
) -> None:
    """The status (200) and the first blocks are sent when the error comes: as ClickHouse
    does, the body ends with the error's text and the connection closes without the last
    chunk, so a client can't take the cut answer for a whole one."""
    failing = (
        "SELECT number, throwIf(number = 500000) FROM numbers(600000) "
        "SETTINGS max_block_size = 10000 FORMAT Native"
    )
    with connection(chdb_endpoint) as (sock, rfile):
        sock.sendall(request_head(chdb_endpoint, failing))
        answer = read_answer(rfile)
        assert rfile.read() == b""  # and the connection is closed
    assert answer.status == 200
    assert answer.headers["transfer-encoding"] == "chunked"
    assert not answer.ended
    *data, last = answer.chunks
    assert sum(map(len, data)) > 100_000  # blocks before the error
    # the error's text ends the body, on a line of its own (chDB words it "Streaming query
    # failed: Code: 395. DB::Exception: …")
    assert last.startswith(b"\n")
    assert b"Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero" in last
    assert last.endswith(b"(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)\n")
    # the engine was let go
    assert answered_within(10, lambda: scalar(chdb_endpoint, "SELECT 7")) == "7"


def test_settings_of_a_request_are_undone_after_it(chdb_endpoint: ChdbEndpoint) -> None:
    """A URL setting applies to its request only — streamed or not — and is undone to the
    value in force, which a SET may have changed since. (The endpoint runs one session for
    all requests and looks up the values it undoes to once, until a SET; a server keeps a SET
    for the requests of its session_id.)"""
    session = {"session_id": f"settings-{time.monotonic_ns()}"}
    current = "SELECT getSetting('log_comment')"

    def ask(query: str = current, **settings: str) -> bytes:
        answer = exchange(chdb_endpoint, query, params={**session, **settings})
        assert (answer.status, answer.ended) == (200, True), answer.body
        return answer.body

    original = ask()
    try:
        assert ask(log_comment="per request") == b"per request\n"
        assert ask() == original
        streamed = exchange(
            chdb_endpoint,
            BIG_SELECT.replace("AS s", "AS s, getSetting('log_comment') AS c"),
            params={**session, "log_comment": "streamed"},
        )
        assert (streamed.headers["transfer-encoding"], streamed.ended) == ("chunked", True)
        assert streamed.body.count(b"streamed") == 300000
        assert ask() == original

        ask("SET log_comment = 'set'")
        assert ask() == b"set\n"
        assert ask(log_comment="per request") == b"per request\n"
        assert ask() == b"set\n"  # not the value before the SET
    finally:
        ask(f"SET log_comment = '{original.decode().strip()}'")


ROWS = 200_000
NATIVE_ROWS = f"SELECT number AS id, toString(number) AS s FROM numbers({ROWS})"
CHECKSUM = "SELECT count(), sum(cityHash64(id, s)) FROM ({})"


@pytest.fixture(scope="module")
def native_rows(chdb_endpoint: ChdbEndpoint) -> bytes:
    """NATIVE_ROWS in Native (2.9 MB, four blocks), from the endpoint itself."""
    answer = exchange(
        chdb_endpoint, NATIVE_ROWS + " FORMAT Native", params={"wait_end_of_query": "1"}
    )
    assert answer.status == 200
    return answer.body


def fresh_table(client: Any, name: str, constraint: str = "") -> None:
    client.command(
        f"CREATE OR REPLACE TABLE t.{name} (id UInt64, s String{constraint}) "
        "ENGINE = MergeTree ORDER BY id"
    )


def post(
    endpoint: ChdbEndpoint,
    query: str,
    body: bytes | Iterator[bytes],
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A POST of ``body`` with the query in the URL; an iterator of pieces is sent chunked,
    a piece per chunk."""
    conn = HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    try:
        conn.request(
            "POST",
            "/?" + urllib.parse.urlencode({"query": query}),
            body=body,
            headers={
                "X-ClickHouse-User": endpoint.user,
                "X-ClickHouse-Key": endpoint.password,
                **(headers or {}),
            },
            encode_chunked=not isinstance(body, bytes),
        )
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def fast_gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def two_frames(compress: Callable[[bytes], bytes], data: bytes) -> bytes:
    """``data`` as two compressed frames one after the other, cut mid-block (an odd offset)."""
    cut = len(data) // 2 + 1
    return compress(data[:cut]) + compress(data[cut:])


@dataclass(frozen=True)
class Sent:
    """How an INSERT's body is sent: its Content-Encoding (None: plain), made of the data by
    ``encode``, in chunks of ``chunk`` bytes (None: whole, with a Content-Length)."""

    encoding: str | None
    encode: Callable[[bytes], bytes]
    chunk: int | None


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(Sent("gzip", lambda d: two_frames(fast_gzip, d), 4099), id="gzip"),
        pytest.param(Sent("zstd", lambda d: two_frames(zstd.compress, d), None), id="zstd"),
        pytest.param(Sent("lz4", lambda d: two_frames(lz4.frame.compress, d), 65537), id="lz4"),
        pytest.param(Sent("deflate", zlib.compress, None), id="deflate"),
        pytest.param(Sent(None, lambda d: d, 777), id="plain-in-small-chunks"),
    ],
)
def test_an_insert_body_lands_whole_decompressed_as_it_comes(
    chdb_endpoint: ChdbEndpoint, client: Any, native_rows: bytes, sent: Sent
) -> None:
    """The body is decompressed as it arrives, frame after frame: gzip, zstd and lz4 bodies
    here are two frames (as a client compressing a stream sends), cut mid-block; sent whole or
    in chunks of an odd size, which cut frames and blocks anywhere."""
    fresh_table(client, "landed")
    data = sent.encode(native_rows)
    status, _, body = post(
        chdb_endpoint,
        "INSERT INTO t.landed FORMAT Native",
        data if sent.chunk is None else pieces(data, sent.chunk),
        {"Content-Encoding": sent.encoding} if sent.encoding else None,
    )
    assert status == 200, body
    landed = client.query(CHECKSUM.format("SELECT * FROM t.landed")).result_rows
    assert landed == client.query(CHECKSUM.format(NATIVE_ROWS)).result_rows
    assert landed[0][0] == ROWS


def test_a_body_cut_inside_a_compressed_frame_inserts_nothing(
    chdb_endpoint: ChdbEndpoint, client: Any, native_rows: bytes
) -> None:
    """What came decodes to whole blocks (the first frame), but the body ends inside the
    second: an error, and none of it inserted."""
    fresh_table(client, "cut")
    data = two_frames(fast_gzip, native_rows)
    status, headers, body = post(
        chdb_endpoint, "INSERT INTO t.cut FORMAT Native", data[:-100], {"Content-Encoding": "gzip"}
    )
    assert status == 500, body
    assert headers["x-clickhouse-exception-code"] == "271"
    assert b"CANNOT_DECOMPRESS" in body
    assert scalar(chdb_endpoint, "SELECT count() FROM t.cut") == "0"


def test_a_violated_constraint_is_an_error_and_inserts_nothing(
    chdb_endpoint: ChdbEndpoint, client: Any, native_rows: bytes
) -> None:
    fresh_table(client, "checked", ", CONSTRAINT below CHECK id < 150000")
    status, headers, body = post(chdb_endpoint, "INSERT INTO t.checked FORMAT Native", native_rows)
    assert status == 500, body
    assert headers["x-clickhouse-exception-code"] == "469"
    assert b"VIOLATED_CONSTRAINT" in body
    assert scalar(chdb_endpoint, "SELECT count() FROM t.checked") == "0"
    # rows that meet it go in
    allowed = exchange(
        chdb_endpoint,
        NATIVE_ROWS + " WHERE id < 150000 FORMAT Native",
        params={"wait_end_of_query": "1"},
    )
    status, _, body = post(chdb_endpoint, "INSERT INTO t.checked FORMAT Native", allowed.body)
    assert status == 200, body
    assert scalar(chdb_endpoint, "SELECT count() FROM t.checked") == "150000"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_insert_whose_client_goes_mid_body_inserts_nothing(
    chdb_endpoint: ChdbEndpoint, client: Any, framing: str
) -> None:
    """The client sends half its body (CSV cut at a row's end, which would parse) and closes
    the connection: the statement is cancelled before the engine sees the data end, so none
    of what it read is committed."""
    fresh_table(client, "gone")
    csv = exchange(
        chdb_endpoint, NATIVE_ROWS + " FORMAT CSV", params={"wait_end_of_query": "1"}
    ).body
    half = csv[: csv.index(b"\n", len(csv) // 2) + 1]  # more than the endpoint's 1 MiB piece
    insert = "INSERT INTO t.gone FORMAT CSV"
    if framing == "chunked":
        head = request_head(chdb_endpoint, insert, {"Transfer-Encoding": "chunked"}, method="POST")
        sent = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces(half, 65536))
    else:
        head = request_head(chdb_endpoint, insert, {"Content-Length": str(len(csv))}, method="POST")
        sent = half
    with connection(chdb_endpoint) as (sock, _):
        sock.sendall(head + sent)
        time.sleep(0.5)  # the engine reads what came
    # the count waits for the engine, which the INSERT holds until it is cancelled
    deadline = time.monotonic() + 10
    counts: list[str] = []
    while time.monotonic() < deadline and len(counts) < 5:
        counts.append(scalar(chdb_endpoint, "SELECT count() FROM t.gone"))
        time.sleep(0.2)
    assert counts == ["0"] * 5
    # the whole body goes in
    status, _, body = post(chdb_endpoint, insert, csv)
    assert status == 200, body
    assert scalar(chdb_endpoint, "SELECT count() FROM t.gone") == str(ROWS)


BIG_ROWS = 1_000_000


@pytest.fixture(scope="module")
def big(client: Any) -> Iterator[str]:
    """A table whose Native is ~40 MB: more than the sockets and the endpoint's queue of
    chunks hold, so a result of it can't all be in flight while its reader stalls. Dropped
    after the module, with its copy (the endpoint may be the session's)."""
    client.command(
        "CREATE OR REPLACE TABLE t.big (id UInt64, s String) ENGINE = MergeTree ORDER BY id"
    )
    client.command(
        "INSERT INTO t.big SELECT number, concat('row ', toString(number), ' ', "
        f"repeat('x', 20)) FROM numbers({BIG_ROWS})"
    )
    yield "t.big"
    client.command("DROP TABLE IF EXISTS t.copied SYNC")
    client.command("DROP TABLE t.big SYNC")


def test_a_reader_that_stalls_or_goes_keeps_no_one_waiting(
    chdb_endpoint: ChdbEndpoint, big: str
) -> None:
    """The engine runs one query at a time. A streamed result whose reader stalls goes to a
    temporary file once another request waits, so that one is answered; the stalled reader
    then gets all of its result. A reader that goes away lets the engine go too."""
    select = f"SELECT * FROM {big} ORDER BY id FORMAT Native"
    with connection(chdb_endpoint) as (sock, rfile):
        sock.sendall(request_head(chdb_endpoint, select))
        time.sleep(0.5)  # the answer begins; nothing of it is read
        assert answered_within(10, lambda: scalar(chdb_endpoint, "SELECT 7")) == "7"
        stalled = read_answer(rfile)
    assert (stalled.status, stalled.headers["transfer-encoding"]) == (200, "chunked")
    assert stalled.ended
    waited = exchange(chdb_endpoint, select, params={"wait_end_of_query": "1"})
    assert stalled.body == waited.body

    with connection(chdb_endpoint) as (sock, rfile):
        sock.sendall(request_head(chdb_endpoint, select))
        assert rfile.readline().startswith(b"HTTP/1.1 200")
    assert answered_within(10, lambda: scalar(chdb_endpoint, "SELECT 8")) == "8"


def test_one_endpoint_as_source_and_destination_of_a_streamed_copy(
    chdb_endpoint: ChdbEndpoint, client: Any, big: str
) -> None:
    """`pytask copy --mode client` within one server: the source's answer goes on, a MiB at a
    time, as the body of an INSERT to the same endpoint, which must take it while the SELECT
    still streams. Held back until the SELECT ended, the INSERT would never be read and the
    copy would never end (each client gives up once its connection stalls for 10 to 30 s):
    it must end within 20 s, and takes about one."""
    client.command(f"CREATE OR REPLACE TABLE t.copied AS {big}")

    def connect() -> Any:
        return clickhouse_connect.get_client(
            host=chdb_endpoint.host,
            port=chdb_endpoint.port,
            username=chdb_endpoint.user,
            password=chdb_endpoint.password,
            send_receive_timeout=30,
        )

    source, dest = connect(), connect()

    def copy() -> str:
        def blocks() -> Iterator[bytes]:
            with source.raw_stream(f"SELECT * FROM {big}", fmt="Native") as stream:
                yield from iter(lambda: stream.read(1 << 20), b"")

        dest.raw_insert("t.copied", insert_block=blocks(), fmt="Native")
        return "copied"

    try:
        assert answered_within(20, copy) == "copied"
    finally:
        source.close()
        dest.close()
    checksum = "SELECT count(), sum(cityHash64(id, s)) FROM {}"
    copied = client.query(checksum.format("t.copied")).result_rows
    assert copied == client.query(checksum.format(big)).result_rows
    assert copied[0][0] == BIG_ROWS
