"""Database and table names: validated before any query runs, always quoted in SQL.

Only plain identifiers are accepted (letters, digits, underscore; not starting with a digit;
at most 128 characters). ClickHouse allows more when quoted, but a name with a backtick,
quote, semicolon, dot, slash or space in a sync job is far more likely an injection or a
mistake than a real table, so it is refused as bad usage, naming the value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytask.config import quote
from pytask.errors import UsageError

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def identifier(raw: str, what: str) -> str:
    """``raw`` if it is a plain identifier, else a usage error naming it.

    >>> identifier("events_2026", "--table")
    'events_2026'
    >>> identifier("x`; DROP TABLE y", "--table")
    Traceback (most recent call last):
    ...
    pytask.errors.UsageError: expected --table to be a plain identifier \
(letters, digits, _; not starting with a digit; at most 128), got: "x`; DROP TABLE y"
    """
    if IDENTIFIER.fullmatch(raw):
        return raw
    raise UsageError(
        f"expected {what} to be a plain identifier (letters, digits, _; not starting with a "
        f"digit; at most 128), got: {quote(raw)}"
    )


def q(name: str) -> str:
    """Backtick-quote an already validated identifier.

    >>> q("events")
    '`events`'
    """
    return f"`{identifier(name, 'a name')}`"


def qualified(database: str, table: str) -> str:
    """``database.table``, both quoted.

    >>> qualified("db", "t")
    '`db`.`t`'
    """
    return f"{q(database)}.{q(table)}"


@dataclass(frozen=True)
class Patterns:
    """Include/skip patterns over table names, as globs or regular expressions (full match)."""

    include: tuple[str, ...]
    skip: tuple[str, ...]
    syntax: str  # "glob" or "regex"

    @classmethod
    def parse(cls, include: Sequence[str], skip: Sequence[str], syntax: str) -> Patterns:
        """Validate every pattern now, so a bad one fails before any query.

        >>> Patterns.parse(["ev*"], ["*_tmp"], "glob").selects("events")
        True
        >>> Patterns.parse(["(unclosed"], [], "regex")
        Traceback (most recent call last):
        ...
        pytask.errors.UsageError: expected --include pattern "(unclosed" to be a regular \
expression, got: missing ), unterminated subpattern at position 0
        """
        for flag, patterns in (("--include", include), ("--skip", skip)):
            for pattern in patterns:
                if any(c in pattern for c in "`'\";") or "../" in pattern:
                    raise UsageError(
                        f"expected {flag} pattern to match table names, got: {quote(pattern)}"
                    )
                if syntax == "regex":
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        raise UsageError(
                            f"expected {flag} pattern {quote(pattern)} to be a regular "
                            f"expression, got: {exc}"
                        ) from exc
        return cls(tuple(include), tuple(skip), syntax)

    def _match(self, pattern: str, name: str) -> bool:
        if self.syntax == "regex":
            return re.fullmatch(pattern, name) is not None
        return fnmatch.fnmatchcase(name, pattern)

    def selects(self, name: str) -> bool:
        """Included (no include patterns = everything) and not skipped.

        >>> p = Patterns.parse([], ["tmp_.*"], "regex")
        >>> p.selects("tmp_x"), p.selects("events")
        (False, True)
        """
        included = not self.include or any(self._match(p, name) for p in self.include)
        return included and not any(self._match(p, name) for p in self.skip)
