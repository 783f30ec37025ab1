"""The exit-code table and the errors that map onto it.

Operators decide retry vs. fail-fast from the exit code alone, so every failure a command
can foresee is raised as one of these and turned into a code in exactly one place
(``pytask.cli.run``)::

    TaskError
    ├── UsageError      bad flag or config value          -> 64, no retries
    ├── PermanentError  bad input, refused operation      -> 65, no retries
    └── TransientError  network, busy server, timeout     -> 75, retried

``NothingToDo`` is not a failure: the command ends early with exit 99 (task skipped).
``Terminated`` is not one either: the process was asked to stop (SIGTERM) and ends with 143.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes shared by every task image (BSD sysexits values where one exists)."""

    OK = 0
    USAGE = 64
    PERMANENT = 65
    INTERNAL = 70
    TRANSIENT = 75
    NOTHING_TO_DO = 99
    TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process the signal ended


class ErrorKind(enum.StrEnum):
    """The ``error_kind`` field of the error log line."""

    USAGE = "usage"
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    INTERNAL = "internal"


class TaskError(Exception):
    """A failure the task foresaw; subclasses say whether retrying can help."""

    kind: ErrorKind = ErrorKind.PERMANENT
    exit_code: ExitCode = ExitCode.PERMANENT


class UsageError(TaskError):
    """A flag or config value is missing or invalid."""

    kind = ErrorKind.USAGE
    exit_code = ExitCode.USAGE


class PermanentError(TaskError):
    """Input or state that retrying cannot fix."""

    kind = ErrorKind.PERMANENT
    exit_code = ExitCode.PERMANENT


class TransientError(TaskError):
    """A failure that may pass: network, timeouts, a busy server."""

    kind = ErrorKind.TRANSIENT
    exit_code = ExitCode.TRANSIENT


class NothingToDo(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a command that found no work; carries the result to write."""

    def __init__(self, reason: str, result: dict[str, object] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = result or {}


class Terminated(BaseException):
    """Raised by the SIGTERM handler of :func:`pytask.cli.main` wherever the command is.

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` of a command
    swallows it, while ``finally`` blocks and context managers still clean up on the way out.
    """

    def __init__(self, signal: str) -> None:
        super().__init__(signal)
        self.signal = signal


def cause_chain(exc: BaseException) -> str:
    """Join an exception and its causes into one line: ``outer: inner: root``."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current) or type(current).__name__
        if not parts or parts[-1] != text:
            parts.append(text)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__
    return ": ".join(parts)
