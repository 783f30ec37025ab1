"""What the task contract's exit codes mean to Airflow (docs/task-contract.md, section 5).

The one table of them in Python: the operators decide by it and the contract suite checks
the images against it. Importable without Airflow (``taskpods`` loads its operators lazily).
"""

from __future__ import annotations

import enum

OK = 0
USAGE = 64
PERMANENT = 65
INTERNAL = 70
TRANSIENT = 75
NOTHING_TO_DO = 99
TERMINATED = 143  # SIGTERM: the pod was deleted while the task ran

NAMES = {
    OK: "ok",
    USAGE: "usage",
    PERMANENT: "permanent",
    INTERNAL: "internal",
    TRANSIENT: "transient",
    NOTHING_TO_DO: "nothing to do",
    TERMINATED: "terminated",
}


class Outcome(enum.Enum):
    """How Airflow should treat a finished task container."""

    SUCCESS = "success"
    FAIL_NO_RETRY = "fail without retries"
    FAIL_RETRY = "fail, normal retries"
    SKIP = "skipped"


def decide(exit_code: int | None) -> Outcome:
    """The outcome for a container's exit code; ``None`` (no exit code seen) retries.

    >>> decide(0), decide(65), decide(99)
    (<Outcome.SUCCESS: 'success'>, <Outcome.FAIL_NO_RETRY: 'fail without retries'>, \
<Outcome.SKIP: 'skipped'>)
    >>> decide(137)  # SIGKILL / OOM: may be the infrastructure, so retry
    <Outcome.FAIL_RETRY: 'fail, normal retries'>
    """
    if exit_code == OK:
        return Outcome.SUCCESS
    if exit_code in (USAGE, PERMANENT):
        return Outcome.FAIL_NO_RETRY
    if exit_code == NOTHING_TO_DO:
        return Outcome.SKIP
    return Outcome.FAIL_RETRY


def describe(exit_code: int | None) -> str:
    """``65 (permanent)``, ``137 (killed by signal 9)``, ``unknown``."""
    if exit_code is None:
        return "unknown"
    if exit_code in NAMES:
        return f"{exit_code} ({NAMES[exit_code]})"
    if exit_code > 128:
        return f"{exit_code} (killed by signal {exit_code - 128})"
    return f"{exit_code} (unexpected)"
