"""Kubernetes label values: at most 63 characters, alphanumerics at both ends."""

from __future__ import annotations

import hashlib
import re

MAX = 63
_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(raw: str) -> str:
    """A valid label value for ``raw``; long values keep a hash of the whole for uniqueness.

    >>> label_value("clickhouse_db_sync")
    'clickhouse_db_sync'
    >>> label_value("copy.events/2026 ü")
    'copy.events-2026'
    >>> v = label_value("x" * 80); len(v), v[-9:-8]
    (63, '-')
    """
    value = _BAD.sub("-", raw).strip("-_.")
    if len(value) > MAX:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        value = value[: MAX - 9].rstrip("-_.") + "-" + digest
    return value
