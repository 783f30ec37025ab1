"""A ClickHouse HTTP endpoint backed by chDB: where no ClickHouse server can be had.

No modern ClickHouse server can be installed on our build machines, but chDB (PyPI `chdb`)
embeds the real ClickHouse engine. This serves that engine over ClickHouse's HTTP interface,
so clickhouse-connect, curl and the other languages' HTTP clients talk to it exactly as to a
server. Tests use a real server whenever one is reachable and this otherwise (started by
tests/support/chdb_http.py); the image `polyetl/chdb-http` (this directory) runs it in the
kind cluster behind the ClickHouse Service names, where the official image can't be pulled
(k8s/overlays/local). Only the standard library and chDB: the image installs nothing else.

What it implements of the HTTP interface (https://clickhouse.com/docs/interfaces/http):

* `INSERT … SELECT … FROM input('structure') FORMAT <fmt>` with the data in the body;
* `GET /ping` → `Ok.`; `GET|POST /?query=…`; the query in the URL, the body, or both (the
  body is appended to the URL's query, as ClickHouse does); `INSERT … FORMAT <fmt>` with the
  data in the body, any input format the engine reads (Native, RowBinary, JSONEachRow, TSV,
  CSV, Parquet, Arrow, …), chunked request bodies, and `Content-Encoding` gzip, deflate,
  zstd, lz4 on request bodies;
* streaming both ways, memory bounded whatever the size: an INSERT's data goes into the
  engine as it arrives, decompressed on the way, through a named pipe the statement reads;
  a SELECT's result in a format whose blocks concatenate (Native, RowBinary, TSV, CSV,
  JSONEachRow, …: STREAMED_FORMATS) is sent in chunks (chunked transfer encoding) as the
  engine produces it — a result of one block, or one asked for with `wait_end_of_query=1`
  (as clickhouse-connect's `query()` does), comes whole with a Content-Length; other formats
  (JSON, Parquet, …) are answered whole. An error after the answer has begun ends its body
  with the error's text and cuts the connection before the last chunk, as ClickHouse does;
* output in the query's `FORMAT`, else `default_format`, else TabSeparated;
* `database`, `query_id`, `param_<name>` (server-side `{name:Type}` parameters) and any other
  URL parameter as a query setting (applied with `SET`, restored after the request);
* credentials from `X-ClickHouse-User`/`X-ClickHouse-Key`, basic auth or `user`/`password`;
* errors the ClickHouse way: `Code: N. DB::Exception: …` body, `X-ClickHouse-Exception-Code`
  header, HTTP 400 for syntax errors, 404 for unknown tables/databases, 403 for bad
  credentials, 500 otherwise; `X-ClickHouse-Summary`, `-Query-Id`, `-Format`, `-Timezone`.

What it does not do, honestly: the native TCP protocol (so `remote()`/`remoteSecure()` to
another endpoint cannot work — tests of server-side copy say so and use client-side mode),
TLS, response compression (clients accept plain responses), concurrent query execution
(one chDB session per process: requests are served by threads but run one at a time — a
result being streamed to a client goes to a temporary file at once when another request
waits, and an INSERT holds the engine from its data's first piece to its last, so a client
must not wait on another request to this endpoint in the middle of sending an INSERT's
data), and progress headers while a query runs.

    python chdb_http.py [--host 127.0.0.1] [--port 8123] --data-dir DIR [--user NAME]

The user and password follow the official ClickHouse image's variables, so one pod spec fits
both: `--user` defaults to $CLICKHOUSE_USER (else `default`), the password is
$CLICKHOUSE_PASSWORD (empty when unset) — never a flag, which `ps` would show.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Full, Queue
from typing import IO, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from chdb import session as chdb_session

# URL parameters that steer the transport, not the query: accepted and ignored.
TRANSPORT_PARAMS = {
    "query",
    "database",
    "default_format",
    "query_id",
    "user",
    "password",
    "session_id",
    "session_timeout",
    "session_check",
    "compress",
    "decompress",
    "enable_http_compression",
    "http_zlib_compression_level",
    "wait_end_of_query",
    "send_progress_in_http_headers",
    "http_headers_progress_interval_ms",
    "buffer_size",
    "client_protocol_version",
    "http_response_buffer_size",
    "cancel_http_readonly_queries_on_client_close",
}
# `FORMAT <name>` ending an INSERT's head (then a newline or the data), and the head's
# clauses: found outside quoted names and strings by split_insert().
FORMAT_TOKEN = re.compile(r"FORMAT\s+(\w+)[ \t]*\r?\n?", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INPUT_FUNCTION = re.compile(r"\binput\(\s*('(?:[^'\\]|\\.)*')\s*\)", re.IGNORECASE)
FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
ERROR_CODE = re.compile(r"Code:\s*(\d+)")
CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
}
HTTP_STATUS_BY_CODE = {62: 400, 81: 404, 60: 404, 516: 403, 192: 403, 194: 403}
AUTHENTICATION_FAILED = 516
CANNOT_DECOMPRESS = 271
# Output formats whose blocks, written one after another, are the whole result written at
# once (no header, footer or statistics): results in these stream out as they are produced.
STREAMED_FORMATS = frozenset(
    {
        "Native",
        "RowBinary",
        "TabSeparated",
        "TSV",
        "TabSeparatedRaw",
        "TSVRaw",
        "CSV",
        "JSONEachRow",
        "JSONCompactEachRow",
        "JSONStringsEachRow",
        "JSONCompactStringsEachRow",
    }
)
SET_STATEMENT = re.compile(r"\s*SET\b", re.IGNORECASE)
READ_QUERY = re.compile(r"\s*(?:\(\s*)*(?:SELECT|WITH)\b", re.IGNORECASE)
PIECE = 1 << 20  # bytes of a request body handed to the engine at a time (gathered up to it)
HEAD_BYTES = 65536  # of a body holding the statement: where its INSERT … FORMAT clause must end
MAX_LINE = 65537  # a chunk-size or trailer line of a chunked body
QUEUED_CHUNKS = 8  # result chunks (~0.5 MB each) queued for the client before the engine waits
SPOOL_IN_MEMORY = 8 << 20  # a result spilled to a temporary file: on disk beyond this


def backquote(name: str) -> str:
    """A name as one quoted identifier (backslash and backtick escaped)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _skip_quoted(text: str, start: int) -> int:
    """The index after the quoted name or string starting at ``start`` (escapes honoured)."""
    closing, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\" or (text[i] == closing and text[i + 1 : i + 2] == closing):
            i += 2
        elif text[i] == closing:
            return i + 1
        else:
            i += 1
    return len(text)


def split_insert(head: str) -> tuple[str, str, str, int] | None:
    """For ``INSERT INTO t [(cols)] [SETTINGS …] FORMAT f`` followed by data: the statement
    before the clauses, the format, the SETTINGS clause (re-placed after the SELECT this
    becomes) and where the data starts. None for anything else (an INSERT … SELECT or
    VALUES, any other statement). Names may hold anything: quotes are skipped, not parsed.

    >>> split_insert("INSERT INTO `a FORMAT b`.`t` (`x`) FORMAT Native\\nDATA")[:3]
    ('INSERT INTO `a FORMAT b`.`t` (`x`)', 'Native', '')
    """
    if not re.match(r"\s*INSERT\s", head, re.IGNORECASE):
        return None
    settings_at = None
    i = 0
    while i < len(head):
        char = head[i]
        if char in "`\"'":
            i = _skip_quoted(head, i)
            continue
        word = WORD.match(head, i)
        if word is None:
            i += 1
            continue
        upper = word.group().upper()
        if upper in ("SELECT", "VALUES", "WITH"):
            return None
        if upper == "SETTINGS" and settings_at is None:
            settings_at = i
        if upper == "FORMAT":
            clause = FORMAT_TOKEN.match(head, i)
            if clause is None:
                return None
            cut = settings_at if settings_at is not None else i
            settings = head[settings_at:i].rstrip() if settings_at is not None else ""
            return (
                head[:cut].rstrip(),
                clause.group(1),
                f" {settings}" if settings else "",
                (clause.end()),
            )
        i = word.end()
    return None


class QueryError(Exception):
    """An error with a ClickHouse error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def query_error(exc: Exception) -> QueryError:
    """``exc`` as a QueryError: chDB raises its own error types, all carrying "Code: N"."""
    if isinstance(exc, QueryError):
        return exc
    text = str(exc)
    match = ERROR_CODE.search(text)
    return QueryError(int(match.group(1)) if match else 1001, text)


class BodyError(Exception):
    """The request body could not be read (the client went away mid-body, or broke the chunked
    framing): the connection is closed without an answer."""


class Decompressor(Protocol):
    """One frame (or gzip member) of a request body's Content-Encoding, decoded as it comes."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, /) -> bytes: ...


def decoders() -> dict[str, Callable[[], Decompressor]]:
    """Per Content-Encoding, a factory of incremental decompressors (one per frame)."""
    table: dict[str, Callable[[], Decompressor]] = {
        "gzip": lambda: zlib.decompressobj(wbits=31),
        "x-gzip": lambda: zlib.decompressobj(wbits=31),
        "deflate": zlib.decompressobj,
    }
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415 - optional

        table["zstd"] = lambda: zstandard.ZstdDecompressor().decompressobj()
    except ImportError:
        pass
    try:
        import lz4.frame  # type: ignore[import-untyped]  # noqa: PLC0415 - optional codec

        table["lz4"] = lz4.frame.LZ4FrameDecompressor
    except ImportError:
        pass
    return table


DECODERS = decoders()  # built once: the optional codecs are imported at start-up


def read_pieces(rfile: io.BufferedIOBase, chunked: bool, length: int) -> Iterator[bytes]:
    """A request body as it arrives, in pieces of about PIECE bytes (the small chunks of a
    chunked body gathered, so the engine is fed few large pieces whatever the client sends)."""
    if chunked:
        return _chunked_pieces(rfile)
    return _sized_pieces(rfile, length)


def _sized_pieces(rfile: io.BufferedIOBase, length: int) -> Iterator[bytes]:
    while length > 0:
        piece = rfile.read(min(length, PIECE))
        if not piece:
            raise BodyError("the request body ended before its Content-Length")
        length -= len(piece)
        yield piece


def _chunked_pieces(rfile: io.BufferedIOBase) -> Iterator[bytes]:
    gathered = bytearray()
    while size := _chunk_size(rfile):
        while size > 0:
            part = rfile.read(min(size, PIECE))
            if not part:
                raise BodyError("the chunked request body ended inside a chunk")
            size -= len(part)
            if not gathered and len(part) >= PIECE:
                yield part
                continue
            gathered += part
            if len(gathered) >= PIECE:
                yield bytes(gathered)
                gathered.clear()
        rfile.readline(MAX_LINE)  # the chunk's CRLF
    while rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):  # trailers
        pass
    if gathered:
        yield bytes(gathered)


def _chunk_size(rfile: io.BufferedIOBase) -> int:
    line = rfile.readline(MAX_LINE)
    if not line:
        raise BodyError("the chunked request body ended before its last chunk")
    try:
        return int(line.split(b";")[0].strip() or b"0", 16)
    except ValueError as exc:
        raise BodyError(f"bad chunk size line {line[:40]!r}") from exc


def decoded(pieces: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """``pieces`` of a body in Content-Encoding ``encoding``, decompressed as they come; one
    frame (gzip member) after another."""
    new = DECODERS[encoding]
    decompressor, begun = new(), False
    for piece in pieces:
        data = piece
        while data:
            try:
                out = decompressor.decompress(data)
            except Exception as exc:  # zlib.error, lz4's RuntimeError, zstandard.ZstdError
                raise QueryError(
                    CANNOT_DECOMPRESS,
                    f"Code: {CANNOT_DECOMPRESS}. DB::Exception: Cannot decompress the request "
                    f"body ({encoding}): {exc}. (CANNOT_DECOMPRESS)",
                ) from exc
            begun = True
            if out:
                yield out
            if not decompressor.eof:
                break
            data, decompressor, begun = decompressor.unused_data, new(), False
    if begun:
        raise QueryError(
            CANNOT_DECOMPRESS,
            f"Code: {CANNOT_DECOMPRESS}. DB::Exception: The request body ({encoding}) ends "
            "inside a compressed frame. (CANNOT_DECOMPRESS)",
        )


class Body:
    """A request's body, read from the connection (and decoded) piece by piece as it is
    consumed: an INSERT's data reaches the engine as it arrives, never whole in memory."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._front = b""  # read ahead by head(), to be read again
        self.broken = False  # reading it failed: what is left of it can't be read

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes (fewer when the body is shorter), kept to be read again."""
        if len(self._front) < size:
            gathered = bytearray(self._front)
            while len(gathered) < size and (piece := self._next()) is not None:
                gathered += piece
            self._front = bytes(gathered)
        return self._front[:size]

    def skip(self, size: int) -> None:
        """Drop the first ``size`` bytes, already read by head()."""
        self._front = self._front[size:]

    def __iter__(self) -> Iterator[bytes]:
        if self._front:
            front, self._front = self._front, b""
            yield front
        while (piece := self._next()) is not None:
            yield piece

    def _next(self) -> bytes | None:
        # next(), not `yield from`: an iteration of the body given up must not close the
        # reader of the connection (a generator closes the one it delegates to)
        try:
            return next(self._pieces, None)
        except (BodyError, QueryError):
            self.broken = True
            raise

    def read(self) -> bytes:
        return b"".join(self)

    def drain(self) -> None:
        """Read the rest and drop it: the connection can then carry the answer, and the next
        request."""
        for _ in self:
            pass


@dataclass
class Request:
    """One query and how to run it."""

    query: str
    body: Body
    fmt: str
    database: str | None
    settings: dict[str, str]
    params: dict[str, str]
    whole: bool  # answer with the whole result at once (wait_end_of_query=1, HTTP/1.0)


@dataclass
class Statement:
    """What a request runs, worked out before it takes the engine (so reading the body never
    keeps the engine from others — but for an INSERT's data, which streams into it)."""

    sql: str
    fmt: str  # the result's format
    data: Iterable[bytes] | None = None  # an INSERT's data: fed to the SQL through `feed`
    feed: Path | None = None  # the named pipe the SQL reads `data` from (Feed)


@dataclass
class Reply:
    """A query's answer: ``body`` all of it (bytes or a rewound file) — or, with ``rest``, its
    beginning, the rest still coming from the engine."""

    fmt: str
    summary: dict[str, int]
    body: bytes | IO[bytes] = b""
    rest: ResultStream | None = None


FIGURES = ("read_rows", "read_bytes", "written_rows", "written_bytes", "elapsed_ns")


def add_figures(summary: dict[str, int], result: Any) -> None:
    """Add a result's (or a result chunk's) figures to X-ClickHouse-Summary's."""
    summary["read_rows"] += int(result.rows_read())
    summary["read_bytes"] += int(result.bytes_read())
    summary["written_rows"] += int(getattr(result, "rows_written", lambda: 0)())
    summary["written_bytes"] += int(getattr(result, "bytes_written", lambda: 0)())
    summary["elapsed_ns"] += int(result.elapsed() * 1e9)


def summary_of(results: Iterable[Any]) -> dict[str, int]:
    summary = dict.fromkeys(FIGURES, 0)
    for result in results:
        add_figures(summary, result)
    return summary


class Feed:
    """An INSERT's data written, as it arrives, into a named pipe the engine reads it from
    (`INSERT … SELECT * FROM file('<pipe>', '<format>')`), by a thread of its own while the
    statement runs: no more of it in memory than a piece.

    Not chDB's streaming insert (`send_insert`): chDB 4.4's loses the errors of the insert's
    sink — a violated constraint is reported as a success, with nothing inserted. If the body
    breaks off (the client gone, undecodable bytes), the statement is killed before the engine
    sees the data end, so nothing of what it read is committed, as ClickHouse does."""

    def __init__(self, engine: Engine, path: Path, data: Iterable[bytes]) -> None:
        self.engine, self.path = engine, path
        self.error: BodyError | QueryError | None = None
        os.mkfifo(path, 0o600)
        self._data = iter(data)
        self._thread = threading.Thread(target=self._write, name="chdb-http-feed", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY)  # once the engine opens it (or finish() does)
            try:
                for piece in self._data:
                    view = memoryview(piece)
                    while view:
                        view = view[os.write(fd, view) :]
            except BrokenPipeError:  # the engine stopped reading: its statement failed
                for _ in self._data:  # the rest of the body, read and dropped
                    pass
            except (BodyError, QueryError):
                self.engine.kill(self.path.name)  # before the pipe ends
                raise
            finally:
                os.close(fd)
        except (BodyError, QueryError) as exc:
            self.error = exc

    def finish(self) -> None:
        """Once the statement is over: wait for the writer, reading (and dropping) what the
        engine did not — the rest of the body — and remove the pipe."""
        try:
            if self._thread.is_alive():
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                try:
                    while self._thread.is_alive():
                        readable, _, _ = select.select([fd], [], [], 0.05)
                        if readable and not os.read(fd, PIECE):  # no writer yet, or no more
                            self._thread.join(0.01)
                finally:
                    os.close(fd)
            self._thread.join()
        finally:
            self.path.unlink(missing_ok=True)


def spooled(directory: Path) -> IO[bytes]:
    """A temporary file, in memory up to SPOOL_IN_MEMORY bytes."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=str(directory))


def copy_file(source: IO[bytes], write: Callable[[bytes], Any]) -> None:
    while block := source.read(PIECE):
        write(block)


class Engine:
    """One chDB session, used by one request at a time.

    A request waits for the engine (``acquire``); one that streams a result out keeps it until
    the result ends — unless another request waits, when the rest of the result goes to a
    temporary file at once and the engine is let go (ResultStream): a slow reader, or a
    client reading a result from here into an INSERT to here, never blocks the others."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.session = chdb_session.Session(str(data_dir))  # type: ignore[no-untyped-call]
        self._killer: Any = None  # a second session, to KILL a statement the first one runs
        self.lock = threading.Lock()
        self.tmp = Path(tempfile.mkdtemp(prefix="chdb-http-"))
        self._waiting = 0
        self._count = threading.Lock()
        # Each setting's value before a request SETs it, looked up once (system.settings is a
        # scan of every setting: milliseconds, twice per request with clickhouse-connect's
        # settings); forgotten when a statement SETs anything itself.
        self._baseline: dict[str, str] = {}

    @property
    def wanted(self) -> bool:
        """Whether a request waits for the engine."""
        return self._waiting > 0

    def acquire(self, timeout: float = -1) -> bool:
        with self._count:
            self._waiting += 1
        try:
            return self.lock.acquire(timeout=timeout)
        finally:
            with self._count:
                self._waiting -= 1

    def close(self, timeout: float) -> bool:
        """Close the session once the running query (if any) ends; False if it did not end in
        ``timeout`` seconds (the session is then left to the process's exit)."""
        if not self.acquire(timeout=timeout):
            return False
        try:
            if self._killer is not None:
                self._killer.close()
            self.session.close()  # type: ignore[no-untyped-call]
        finally:
            self.lock.release()
            shutil.rmtree(self.tmp, ignore_errors=True)
        return True

    def kill(self, marker: str) -> None:
        """Cancel the running statement whose text holds ``marker`` (from a session of its
        own: the engine's is busy running it). Best effort."""
        with contextlib.suppress(Exception):
            if self._killer is None:
                self._killer = chdb_session.Session(str(self.data_dir))  # type: ignore[no-untyped-call]
            self._killer.query(
                f"KILL QUERY WHERE query LIKE '%{marker}%' AND query NOT LIKE 'KILL%' ASYNC",
                "TabSeparated",
            )

    def _query(self, sql: str, fmt: str, params: dict[str, str] | None = None) -> Any:
        return self.session.query(sql, fmt, params=params)  # type: ignore[no-untyped-call]

    def run(self, request: Request) -> Reply:
        """Run the request's statement. A reply with ``rest`` holds the engine until its
        ResultStream is sent or closed."""
        statement = self._statement(request)
        self.acquire()
        reply: Reply | None = None
        restore: list[str] = []
        try:
            self._apply(request.database, request.settings, restore)
            reply = self._execute(statement, request, restore)
        except BodyError:
            raise
        except Exception as exc:
            raise query_error(exc) from exc
        finally:
            if reply is None or reply.rest is None:
                try:
                    self.undo(restore)
                finally:
                    self.lock.release()
        return reply

    def _execute(self, statement: Statement, request: Request, restore: list[str]) -> Reply:
        if SET_STATEMENT.match(statement.sql):
            self._baseline.clear()
        params = request.params or None
        if statement.data is not None and statement.feed is not None:
            return self._fed(statement, Feed(self, statement.feed, statement.data), params)
        if statement.fmt in STREAMED_FORMATS and READ_QUERY.match(statement.sql):
            stream: Any = self.session.send_query(statement.sql, statement.fmt, params=params)
            rest = ResultStream(self, stream, restore)
            return rest.begin(statement.fmt, whole=request.whole)
        return self._whole(self._query(statement.sql, statement.fmt, params=params), statement)

    def _fed(self, statement: Statement, feed: Feed, params: dict[str, str] | None) -> Reply:
        """A statement reading the request's data from the pipe ``feed`` fills."""
        try:
            result = self._query(statement.sql, statement.fmt, params=params)
        except Exception as exc:
            feed.finish()
            raise feed.error or exc from exc
        feed.finish()
        if feed.error is not None:  # broken off, yet the statement ended well: the kill failed
            raise feed.error
        return self._whole(result, statement)

    @staticmethod
    def _whole(result: Any, statement: Statement) -> Reply:
        if result is None:
            return Reply(statement.fmt, {})
        data = result.bytes() if hasattr(result, "bytes") else bytes(result)
        return Reply(statement.fmt, summary_of([result]), data)

    def _statement(self, request: Request) -> Statement:
        """The SQL to run; the body's part in it read as far as needed — an INSERT's data only
        up to its first piece (the rest streams in), the data of `input()` into a file."""
        head, body = request.query, request.body
        if not head.strip():
            # the statement in the body: latin-1 maps byte i to character i, so the clause's
            # end indexes the bytes too
            text = body.head(HEAD_BYTES).decode("latin-1")
            insert = split_insert(text)
            if insert is None:
                return self._select(body.read().decode(), request.fmt)
            body.skip(insert[3])
            return self._insert_statement(insert, b"", request)
        with_input = INPUT_FUNCTION.search(head)
        trailing = FORMAT_CLAUSE.search(head)
        if with_input and trailing and body.head(1):
            # INSERT … SELECT … FROM input('structure') FORMAT f <data>: the data is fed.
            path = self._feed_path()
            sql = INPUT_FUNCTION.sub(
                lambda m: f"file('{path}', '{trailing.group(1)}', {m.group(1)})",
                head[: trailing.start()],
                count=1,
            )
            return Statement(sql=sql, fmt=request.fmt, data=body, feed=path)
        insert = split_insert(head)
        if insert is None:
            data = body.read()
            return self._select(
                (head + ("\n" + data.decode() if data else "")).strip(), request.fmt
            )
        inline = head[insert[3] :]
        return self._insert_statement(insert, inline.encode() if inline.strip() else b"", request)

    @staticmethod
    def _select(sql: str, fmt: str) -> Statement:
        """Any statement but an INSERT with data: its result in its FORMAT clause's format."""
        return Statement(sql=sql, fmt=m.group(1) if (m := FORMAT_CLAUSE.search(sql)) else fmt)

    def _insert_statement(
        self, insert: tuple[str, str, str, int], inline: bytes, request: Request
    ) -> Statement:
        statement, fmt, settings, _ = insert
        path = self._feed_path()
        # The table's own structure reads the data (use_structure_from_insertion_table_in_
        # table_functions): the statement's table and column list are passed on verbatim,
        # whatever names they quote.
        sql = f"{statement} SELECT * FROM file('{path}', '{fmt}'){settings}"
        request.body.head(1)  # the first piece: the engine is taken only once data arrives
        data = itertools.chain((inline,) if inline else (), request.body)
        return Statement(sql=sql, fmt=request.fmt, data=data, feed=path)

    def _feed_path(self) -> Path:
        return self.tmp / f"feed-{uuid.uuid4().hex}"

    def _apply(self, database: str | None, settings: dict[str, str], restore: list[str]) -> None:
        """USE the database and SET the settings, adding to ``restore`` how to undo each."""
        if database:
            current = (
                self._query("SELECT currentDatabase()", "TabSeparated").bytes().decode().strip()
            )
            self._query(f"USE {backquote(database)}", "TabSeparated")
            restore.append(f"USE {backquote(current)}")
        for name, value in settings.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise QueryError(115, f"Code: 115. DB::Exception: Unknown setting {name}")
            old = self._baseline.get(name)
            if old is None:
                old = self._baseline[name] = (
                    self._query(
                        f"SELECT value FROM system.settings WHERE name = '{name}'", "TabSeparated"
                    )
                    .bytes()
                    .decode()
                    .strip()
                )
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            self._query(f"SET {name} = '{quoted}'", "TabSeparated")
            restore.append(f"SET {name} = '{old}'")

    def undo(self, statements: list[str]) -> None:
        """Run ``statements`` (what _apply added), last first."""
        for statement in reversed(statements):
            self._query(statement, "TabSeparated")
        statements.clear()


class ResultStream:
    """A SELECT's result in a format whose chunks concatenate (STREAMED_FORMATS), fetched from
    the engine while it is sent.

    It holds the engine from its start until the result ends: its settings stay applied,
    and chDB runs nothing else while a result streams. The first chunks are fetched before
    the answer's headers (so an error at the start gets its status code). A small result is
    answered whole, with a Content-Length; a larger one in chunks, sent by a thread of its own
    behind a queue of a few chunks, while this one fetches: once another request waits for
    the engine, the rest is fetched into a temporary file at once, the engine let go, and the
    file sent after what was queued."""

    def __init__(self, engine: Engine, stream: Any, restore: list[str]) -> None:
        self.engine = engine
        self._stream = stream
        self._restore = restore
        self._ended = False
        self._released = False
        self._results = self._fetch()

    def begin(self, fmt: str, *, whole: bool) -> Reply:
        """The reply: the whole result if it is one chunk, or ``whole`` is asked for (then in
        a temporary file, in memory while small); else its first chunks, and this for the
        rest."""
        try:
            if whole:
                summary = dict.fromkeys(FIGURES, 0)
                spool = spooled(self.engine.tmp)
                try:
                    for result in self._results:
                        spool.write(result.bytes())
                        add_figures(summary, result)
                except BaseException:
                    spool.close()
                    raise
                spool.seek(0)
                return Reply(fmt, summary, spool)
            first = list(itertools.islice(self._results, 2))
        except BaseException:
            self._stop()
            raise
        reply = Reply(fmt, summary_of(first), b"".join(r.bytes() for r in first))
        if len(first) == 2:
            reply.rest = self
        return reply

    def _fetch(self) -> Iterator[Any]:
        while not self._ended:
            try:
                result = self._stream.fetch()
            except Exception as exc:
                self._ended = True
                raise query_error(exc) from exc
            if result is None:
                self._ended = True
                return
            yield result

    def _stop(self) -> None:
        if not self._ended:
            self._ended = True
            self._stream.cancel()

    def send(self, write: Callable[[bytes], None], head: bytes) -> None:
        """Write ``head``, then the rest of the result as it is fetched, through ``write``
        (called from another thread). Raises QueryError for an error in the middle of the
        result (after writing what came before it), OSError when the client went away."""
        queue: Queue[bytes | IO[bytes] | None] = Queue(maxsize=QUEUED_CHUNKS)
        failed: list[OSError] = []

        def sender() -> None:
            while (item := queue.get()) is not None:
                if failed:
                    continue  # the client is gone: only drain
                try:
                    if isinstance(item, bytes):
                        write(item)
                    else:
                        copy_file(item, write)
                except OSError as exc:
                    failed.append(exc)

        thread = threading.Thread(target=sender, name="chdb-http-sender", daemon=True)
        thread.start()
        spill: IO[bytes] | None = None
        error: QueryError | None = None
        try:
            queue.put(head)
            try:
                for result in self._results:
                    if failed:
                        break
                    chunk = result.bytes()
                    if spill is None and not self._queued(queue, chunk, failed):
                        spill = spooled(self.engine.tmp)
                    if spill is not None:
                        spill.write(chunk)
            except QueryError as exc:
                error = exc
            finally:
                self.close()
            if spill is not None:
                spill.seek(0)
                queue.put(spill)
        finally:
            queue.put(None)
            thread.join()
            if spill is not None:
                spill.close()
        if failed:
            raise failed[0]
        if error is not None:
            raise error

    def _queued(
        self, queue: Queue[bytes | IO[bytes] | None], chunk: bytes, failed: list[OSError]
    ) -> bool:
        """Queue ``chunk`` for the sender; False (not queued) once another request waits for the
        engine, or the client is gone."""
        while not (self.engine.wanted or failed):
            try:
                queue.put(chunk, timeout=0.05)
            except Full:
                continue
            return True
        return False

    def close(self) -> None:
        """Stop fetching (the rest, if any, is cancelled), undo the request's settings and let
        the engine go. Idempotent."""
        if self._released:
            return
        self._released = True
        try:
            self._stop()
            self.engine.undo(self._restore)
        finally:
            self.engine.lock.release()


class Handler(BaseHTTPRequestHandler):
    server: EndpointServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("CHDB_HTTP_LOG"):
            super().log_message(format, *args)

    def setup(self) -> None:
        super().setup()
        # Each write goes out at once: no Nagle delay (40 ms with the client's delayed ACK)
        # between the headers and a small body, or before a chunked answer's last chunk.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _body(self) -> Body:
        """The request body, to be read as the query consumes it."""
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        length = 0 if chunked else int(self.headers.get("Content-Length") or 0)
        pieces = read_pieces(self.rfile, chunked, length)
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding and encoding != "identity":
            if encoding not in DECODERS:
                body = Body(pieces)
                body.drain()
                raise QueryError(
                    1002, f"Code: 1002. DB::Exception: Unknown Content-Encoding: {encoding}"
                )
            return Body(decoded(pieces, encoding))
        return Body(pieces)

    def _authenticate(self, params: dict[str, str]) -> None:
        user = self.headers.get("X-ClickHouse-User") or params.get("user")
        password = self.headers.get("X-ClickHouse-Key") or params.get("password")
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            user, _, password = decoded.partition(":")
        user = user or "default"
        if (user, password or "") != (self.server.user, self.server.password):
            raise QueryError(
                AUTHENTICATION_FAILED,
                f"Code: 516. DB::Exception: {user}: Authentication failed: password is "
                "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)",
            )

    @staticmethod
    def _check_path(path: str) -> None:
        if path not in ("", "/"):
            raise QueryError(1003, f"Code: 1003. DB::Exception: No handler for {path}")

    def _handle(self) -> None:
        url = urlsplit(self.path)
        if url.path.rstrip("/") in ("/ping",):
            self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or uuid.uuid4().hex
        body = Body(iter(()))
        try:
            try:
                if self.command == "POST":
                    body = self._body()
                self._check_path(url.path)
                self._authenticate(params)
                reply = self.server.engine.run(self._request(params, body))
            except QueryError as exc:
                self._drain(body)
                self._send_error(exc, query_id)
                return
        except BodyError:
            self.close_connection = True  # the body is broken: nothing more can be read
            return
        self._reply(reply, query_id)

    def _drain(self, body: Body) -> None:
        """Read what the query did not, so the next request on the connection follows it."""
        try:
            if not body.broken:
                body.drain()
        except QueryError:
            pass
        if body.broken:  # unreadable, or undecodable: the connection can't go on
            self.close_connection = True

    def _request(self, params: dict[str, str], body: Body) -> Request:
        return Request(
            query=params.get("query", ""),
            body=body,
            fmt=params.get("default_format") or "TabSeparated",
            database=params.get("database") or self.headers.get("X-ClickHouse-Database"),
            settings={
                k: v
                for k, v in params.items()
                if k not in TRANSPORT_PARAMS and not k.startswith("param_")
            },
            params={k[6:]: v for k, v in params.items() if k.startswith("param_")},
            # the whole result before the answer: asked for, or no chunked answer possible
            whole=params.get("wait_end_of_query") == "1" or self.request_version != "HTTP/1.1",
        )

    def _send_error(self, exc: QueryError, query_id: str) -> None:
        message = str(exc)
        if not message.startswith("Code:"):
            message = f"Code: {exc.code}. DB::Exception: {message}"
        status = HTTP_STATUS_BY_CODE.get(exc.code, 500)
        self._send(
            status,
            (message.rstrip() + "\n").encode(),
            {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(exc.code),
                "X-ClickHouse-Query-Id": query_id,
            },
        )

    def _reply(self, reply: Reply, query_id: str) -> None:
        fmt = reply.fmt
        headers = {
            "Content-Type": CONTENT_TYPES.get(
                fmt,
                "text/plain; charset=UTF-8"
                if fmt.startswith(("TabSep", "TSV"))
                else "application/octet-stream",
            ),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Summary": json.dumps({k: str(v) for k, v in reply.summary.items()}),
            "X-ClickHouse-Query-Id": query_id,
        }
        if reply.rest is None:
            self._send(200, reply.body, headers)
            return
        assert isinstance(reply.body, bytes)
        try:
            self._start(200, {**headers, "Transfer-Encoding": "chunked"})
            reply.rest.send(self._write_chunk, reply.body)
            self.wfile.write(b"0\r\n\r\n")
        except QueryError as exc:
            # The status is sent: as ClickHouse does, the error ends the body, and the
            # connection closes without the last chunk (the client sees the answer cut short).
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._write_chunk(f"\n{str(exc).rstrip()}\n".encode())
        except OSError:
            self.close_connection = True
        finally:
            reply.rest.close()  # the engine let go, whatever happened (idempotent)

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(
            status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        )
        for name, value in {
            **headers,
            "X-ClickHouse-Server-Display-Name": "chdb-http",
            "X-ClickHouse-Timezone": "UTC",
        }.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, data: bytes | IO[bytes], headers: dict[str, str]) -> None:
        if isinstance(data, bytes):
            self._start(status, {**headers, "Content-Length": str(len(data))})
            self.wfile.write(data)
            return
        try:
            size = data.seek(0, os.SEEK_END)
            data.seek(0)
            self._start(status, {**headers, "Content-Length": str(size)})
            copy_file(data, self.wfile.write)
        finally:
            data.close()


STOP_TIMEOUT_S = 20.0  # a query still running after this is abandoned at exit


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: Engine, user: str, password: str) -> None:
        super().__init__(address, Handler)
        self.engine = engine
        self.user = user
        self.password = password


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--user", default=os.environ.get("CLICKHOUSE_USER") or "default")
    args = parser.parse_args(argv)
    password = os.environ.get("CLICKHOUSE_PASSWORD", "")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(args.data_dir)
    server = EndpointServer((args.host, args.port), engine, args.user, password)
    # SIGTERM (Kubernetes stopping the pod) ends serve_forever like Ctrl-C does.
    signal.signal(
        signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
    )
    print(f"chdb-http listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    # Stop deterministically: wait for the query in flight, close the session (its data is
    # on disk), then leave without the interpreter's teardown, where chDB's engine shutdown
    # can wait forever on request threads frozen mid-call (seen once in CI: SIGTERM did not
    # end the process within 30 s).
    closed = engine.close(timeout=STOP_TIMEOUT_S)
    print(
        f"chdb-http stopped ({'session closed' if closed else 'query still running'})", flush=True
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if closed else 1)


if __name__ == "__main__":
    main()
