"""JSON log lines: the agreed keys, fields on top, reserved keys protected."""

from __future__ import annotations

import io
import json
import re

from pytask.config import LogLevel
from pytask.logs import configure, format_ts

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_line_has_the_contract_keys_and_fields() -> None:
    stream = io.StringIO()
    log = configure(LogLevel.DEBUG, stream)
    log.warning("copied table", extra={"table": "events", "rows": 10})
    line = json.loads(stream.getvalue())
    assert line["level"] == "warn"
    assert line["msg"] == "copied table"
    assert line["tool"] == "pytask"
    assert TS.match(line["ts"])
    assert (line["table"], line["rows"]) == ("events", 10)


def test_fields_cannot_overwrite_reserved_keys() -> None:
    stream = io.StringIO()
    log = configure(LogLevel.INFO, stream)
    log.info("real message", extra={"tool": "impostor", "ts": "yesterday"})
    line = json.loads(stream.getvalue())
    assert line["tool"] == "pytask"
    assert TS.match(line["ts"])


def test_level_filters() -> None:
    stream = io.StringIO()
    log = configure(LogLevel.WARN, stream)
    log.info("hidden")
    log.error("shown")
    assert [json.loads(x)["msg"] for x in stream.getvalue().splitlines()] == ["shown"]


def test_one_object_per_line_even_with_newlines_in_message() -> None:
    stream = io.StringIO()
    configure(LogLevel.INFO, stream).info("two\nlines")
    assert len(stream.getvalue().splitlines()) == 1


def test_format_ts_utc_millis() -> None:
    assert format_ts(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"
