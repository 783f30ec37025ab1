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
(one chDB session per process: requests are served by threads but run one at a time), and
progress headers while a query runs.

    python chdb_http.py [--host 127.0.0.1] [--port 8123] --data-dir DIR [--user NAME]

The user and password follow the official ClickHouse image's variables, so one pod spec fits
both: `--user` defaults to $CLICKHOUSE_USER (else `default`), the password is
$CLICKHOUSE_PASSWORD (empty when unset) — never a flag, which `ps` would show.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
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


def decoders() -> dict[str, Callable[[bytes], bytes]]:
    table: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.decompress,
        "x-gzip": gzip.decompress,
        "deflate": zlib.decompress,
    }
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415 - optional

        table["zstd"] = lambda data: zstandard.ZstdDecompressor().decompress(
            data, max_output_size=1 << 34
        )
    except ImportError:
        pass
    try:
        import lz4.frame  # type: ignore[import-untyped]  # noqa: PLC0415 - optional codec

        table["lz4"] = lz4.frame.decompress
    except ImportError:
        pass
    return table


DECODERS = decoders()  # built once: the optional codecs are imported at start-up


class Engine:
    """One chDB session, used by one request at a time."""

    def __init__(self, data_dir: Path) -> None:
        self.session = chdb_session.Session(str(data_dir))  # type: ignore[no-untyped-call]
        self.lock = threading.Lock()
        self.tmp = Path(tempfile.mkdtemp(prefix="chdb-http-"))

    def close(self, timeout: float) -> bool:
        """Close the session once the running query (if any) ends; False if it did not end in
        ``timeout`` seconds (the session is then left to the process's exit)."""
        if not self.lock.acquire(timeout=timeout):
            return False
        try:
            self.session.close()  # type: ignore[no-untyped-call]
        finally:
            self.lock.release()
            shutil.rmtree(self.tmp, ignore_errors=True)
        return True

    def _query(self, sql: str, fmt: str, params: dict[str, str] | None = None) -> Any:
        return self.session.query(sql, fmt, params=params)  # type: ignore[no-untyped-call]

    def run(
        self,
        *,
        query: str,
        body: bytes,
        fmt: str,
        database: str | None,
        settings: dict[str, str],
        params: dict[str, str],
    ) -> tuple[bytes, str, dict[str, int]]:
        with self.lock:
            restore = self._apply(database, settings)
            try:
                sql, data_file = self._statement(query, body)
                try:
                    out_fmt = m.group(1) if (m := FORMAT_CLAUSE.search(sql)) else fmt
                    result = self._query(sql, out_fmt, params=params or None)
                finally:
                    if data_file is not None:
                        data_file.unlink(missing_ok=True)
            except Exception as exc:  # chDB raises its own error types; all carry "Code: N"
                text = str(exc)
                match = ERROR_CODE.search(text)
                raise QueryError(int(match.group(1)) if match else 1001, text) from exc
            finally:
                self._restore(restore)
        if result is None:
            return b"", out_fmt, {}
        data = result.bytes() if hasattr(result, "bytes") else bytes(result)
        summary = {
            "read_rows": int(result.rows_read()),
            "read_bytes": int(result.bytes_read()),
            "written_rows": int(getattr(result, "rows_written", lambda: 0)()),
            "written_bytes": int(getattr(result, "bytes_written", lambda: 0)()),
            "elapsed_ns": int(result.elapsed() * 1e9),
        }
        return data, out_fmt, summary

    def _statement(self, query: str, body: bytes) -> tuple[str, Path | None]:
        """The SQL to run; for `INSERT … FORMAT f <data>`, the data goes through a file."""
        head = query
        data = body
        if not query.strip():
            head, data = self._split_body(body)
        with_input = INPUT_FUNCTION.search(head)
        trailing = FORMAT_CLAUSE.search(head)
        if with_input and trailing and data:
            # INSERT … SELECT … FROM input('structure') FORMAT f <data>: the data becomes a file.
            path = self.tmp / f"input-{uuid.uuid4().hex}"
            path.write_bytes(data)
            sql = head[: trailing.start()]
            sql = INPUT_FUNCTION.sub(
                lambda m: f"file('{path}', '{trailing.group(1)}', {m.group(1)})", sql, count=1
            )
            return sql, path
        insert = split_insert(head)
        if insert is None:
            return (head + ("\n" + data.decode() if data else "")).strip(), None
        statement, fmt, settings, end = insert
        data = head[end:].encode() + data if head[end:].strip() else data
        path = self.tmp / f"insert-{uuid.uuid4().hex}"
        path.write_bytes(data)
        # The table's own structure reads the data (use_structure_from_insertion_table_in_
        # table_functions): the statement's table and column list are passed on verbatim,
        # whatever names they quote.
        sql = f"{statement} SELECT * FROM file('{path}', '{fmt}'){settings}"
        return sql, path

    @staticmethod
    def _split_body(body: bytes) -> tuple[str, bytes]:
        # latin-1 maps byte i to character i, so the clause's end indexes the bytes too.
        text = body[:65536].decode("latin-1")
        insert = split_insert(text)
        if insert is None:
            return body.decode(), b""
        end = insert[3]
        return body[:end].decode(), body[end:]

    def _apply(self, database: str | None, settings: dict[str, str]) -> list[str]:
        restore: list[str] = []
        if database:
            current = (
                self._query("SELECT currentDatabase()", "TabSeparated").bytes().decode().strip()
            )
            self._query(f"USE {backquote(database)}", "TabSeparated")
            restore.append(f"USE {backquote(current)}")
        for name, value in settings.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise QueryError(115, f"Code: 115. DB::Exception: Unknown setting {name}")
            old = (
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
        return restore

    def _restore(self, statements: list[str]) -> None:
        for statement in reversed(statements):
            self._query(statement, "TabSeparated")


class Handler(BaseHTTPRequestHandler):
    server: EndpointServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("CHDB_HTTP_LOG"):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding and encoding != "identity":
            decode = DECODERS.get(encoding)
            if decode is None:
                raise QueryError(
                    1002, f"Code: 1002. DB::Exception: Unknown Content-Encoding: {encoding}"
                )
            body = decode(body)
        return body

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
        query_id = uuid.uuid4().hex
        try:
            if url.path.rstrip("/") in ("/ping",):
                self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
                return
            self._check_path(url.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            query_id = params.get("query_id") or query_id
            body = self._read_body() if self.command == "POST" else b""
            self._authenticate(params)
            query = params.get("query", "")
            binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            settings = {
                k: v
                for k, v in params.items()
                if k not in TRANSPORT_PARAMS and not k.startswith("param_")
            }
            data, fmt, summary = self.server.engine.run(
                query=query,
                body=body,
                fmt=params.get("default_format") or "TabSeparated",
                database=params.get("database") or self.headers.get("X-ClickHouse-Database"),
                settings=settings,
                params=binds,
            )
            self._send(
                200,
                data,
                {
                    "Content-Type": CONTENT_TYPES.get(
                        fmt,
                        "text/plain; charset=UTF-8"
                        if fmt.startswith(("TabSep", "TSV"))
                        else "application/octet-stream",
                    ),
                    "X-ClickHouse-Format": fmt,
                    "X-ClickHouse-Summary": json.dumps({k: str(v) for k, v in summary.items()}),
                    "X-ClickHouse-Query-Id": query_id,
                },
            )
        except QueryError as exc:
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

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(
            status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        )
        for name, value in {
            **headers,
            "X-ClickHouse-Server-Display-Name": "chdb-http",
            "X-ClickHouse-Timezone": "UTC",
            "Content-Length": str(len(data)),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


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
