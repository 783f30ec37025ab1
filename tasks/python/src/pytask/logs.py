"""JSON log lines on stderr, with the keys every task image shares.

Airflow shows a pod's output as the task log and log pipelines parse it, so each line is one
JSON object: ``ts``, ``level``, ``msg``, ``tool`` plus the event's fields. Fields come from
the standard ``extra=`` argument, so commands log with plain :mod:`logging`::

    log.info("copied table", extra={"table": "events", "rows": 10})
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from pytask import TOOL
from pytask.config import LogLevel

RESERVED = ("ts", "level", "msg", "tool")
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}
_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


def format_ts(created: float) -> str:
    """RFC 3339 UTC with milliseconds.

    >>> format_ts(0.5)
    '1970-01-01T00:00:00.500Z'
    """
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object; reserved keys are never overwritten by fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": format_ts(record.created),
            "level": _LEVEL_NAMES.get(record.levelno, "error"),
            "msg": record.getMessage(),
            "tool": TOOL,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in line:
                line[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            line.setdefault("traceback", self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


def configure(level: LogLevel, stream: IO[str] | None = None) -> logging.Logger:
    """Route the ``pytask`` logger (and libraries' warnings) to JSON lines on ``stream``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logger = logging.getLogger(TOOL)
    logger.setLevel(_LEVELS[level])
    return logger
