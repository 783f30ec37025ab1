"""Names a user gives the generators, checked once and spelled as each language wants."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from scaffold.errors import ScaffoldError

NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_LENGTH = 40
RUST_KEYWORDS = """as async await box break const continue crate dyn else enum extern false fn for
if impl in let loop match mod move mut priv pub ref return self static struct super trait true try
type typeof unsafe unsized use virtual where while yield"""
ELIXIR_RESERVED = "after catch do end fn nil rescue when true false not and or"
# Words a generated module, function, atom or variant may not be named in some language, and
# the tools' own words, which a command may not shadow.
RESERVED = frozenset(
    [*keyword.kwlist, *RUST_KEYWORDS.split(), *ELIXIR_RESERVED.split(), "help", "version", "test"]
)


@dataclass(frozen=True)
class Name:
    """A checked name, e.g. ``score-events``, in each spelling the generated code needs.

    >>> n = Name.parse("score-events", "command name")
    >>> n.kebab, n.snake, n.pascal, n.screaming
    ('score-events', 'score_events', 'ScoreEvents', 'SCORE_EVENTS')
    """

    kebab: str

    @classmethod
    def parse(cls, raw: str, what: str) -> Name:
        """Check ``raw`` (lower-case letters and digits, words joined by - or _).

        >>> Name.parse("Score", "command name")
        Traceback (most recent call last):
        ...
        scaffold.errors.ScaffoldError: expected the command name to be lower-case words of \
letters and digits joined by - or _, starting with a letter, at most 40 characters, got: 'Score'
        """
        if not (NAME.fullmatch(raw) and len(raw) <= MAX_LENGTH):
            raise ScaffoldError(
                f"expected the {what} to be lower-case words of letters and digits joined by "
                f"- or _, starting with a letter, at most {MAX_LENGTH} characters, got: {raw!r}"
            )
        name = cls(raw.replace("_", "-"))
        if name.snake in RESERVED:
            raise ScaffoldError(
                f"expected the {what} not to be a reserved word in Python, Rust or Elixir or "
                f"one of the tools' own words, got: {raw!r}"
            )
        return name

    @property
    def snake(self) -> str:
        return self.kebab.replace("-", "_")

    @property
    def pascal(self) -> str:
        return "".join(word.capitalize() for word in self.kebab.split("-"))

    @property
    def screaming(self) -> str:
        return self.snake.upper()

    @property
    def words(self) -> str:
        return self.kebab.replace("-", " ")
