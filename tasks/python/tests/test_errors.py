"""Exit-code table and cause chains."""

from __future__ import annotations

from pytask.errors import (
    ExitCode,
    PermanentError,
    TransientError,
    UsageError,
    cause_chain,
)


def test_exit_codes_are_the_contracts() -> None:
    assert [int(c) for c in ExitCode] == [0, 64, 65, 70, 75, 99, 143]
    assert UsageError.exit_code == 64
    assert PermanentError.exit_code == 65
    assert TransientError.exit_code == 75


def test_cause_chain_joins_causes() -> None:
    exc = TransientError("reading source table")
    exc.__cause__ = ConnectionResetError("peer reset")
    assert cause_chain(exc) == "reading source table: peer reset"


def test_cause_chain_respects_from_none() -> None:
    exc = UsageError("bad value")
    exc.__context__ = KeyError("x")
    exc.__suppress_context__ = True
    assert cause_chain(exc) == "bad value"


def test_cause_chain_follows_implicit_context() -> None:
    exc = PermanentError("writing result")
    exc.__context__ = OSError("disk full")
    assert cause_chain(exc) == "writing result: disk full"
