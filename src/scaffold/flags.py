"""A generated command's own flags, given as ``NAME:TYPE[=DEFAULT]``.

TYPE is ``text``, ``int`` (a whole number from 0 to ``INT_MAX``) or ``choice(a|b|...)``. A
flag without a default is required: a run without it (and without its ``<TOOL>_`` env
fallback) is a usage error, exit 64, like any other bad value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scaffold.errors import ScaffoldError
from scaffold.names import Name

INT_MAX = 1_000_000_000
KINDS = ("text", "int", "choice")
# The tools' common flags: a command's own may not take their names.
COMMON = frozenset({"result-file", "log-level", "scratch-dir", "help", "version"})
SPEC = re.compile(
    r"(?P<name>[^:=]+):(?P<kind>text|int|choice\((?P<choices>[^)]*)\))(?:=(?P<default>.*))?"
)
CHOICE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


@dataclass(frozen=True)
class Flag:
    """One flag of a generated command.

    >>> f = Flag.parse("mode:choice(fast|exact)=fast")
    >>> f.name.kebab, f.kind, f.choices, f.default, f.required
    ('mode', 'choice', ('fast', 'exact'), 'fast', False)
    >>> Flag.parse("limit:int").required
    True
    """

    name: Name
    kind: str
    choices: tuple[str, ...] = ()
    default: str | None = None

    @classmethod
    def parse(cls, raw: str) -> Flag:
        """Parse ``NAME:TYPE[=DEFAULT]``; a clear error for anything else.

        >>> Flag.parse("limit:int=-3")
        Traceback (most recent call last):
        ...
        scaffold.errors.ScaffoldError: flag 'limit:int=-3': expected the default to be a whole \
number from 0 to 1000000000, got: '-3'
        """
        match = SPEC.fullmatch(raw)
        if not match:
            raise ScaffoldError(
                f"expected a flag as NAME:TYPE[=DEFAULT] with TYPE one of text, int, "
                f"choice(a|b|...), got: {raw!r}"
            )
        name = Name.parse(match["name"], f"flag name in {raw!r}")
        if name.kebab in COMMON:
            raise ScaffoldError(
                f"flag {raw!r}: expected a name other than the common flags "
                f"({', '.join(sorted(COMMON))}), got: {name.kebab!r}"
            )
        kind = match["kind"].split("(")[0]
        choices: tuple[str, ...] = ()
        if kind == "choice":
            choices = tuple(match["choices"].split("|"))
            bad = [c for c in choices if not CHOICE.fullmatch(c)]
            if bad or len(set(choices)) != len(choices) or len(choices) < 2:
                raise ScaffoldError(
                    f"flag {raw!r}: expected two or more distinct choices, each lower-case "
                    f"letters, digits and - starting with a letter, separated by |, "
                    f"got: {match['choices']!r}"
                )
        default = match["default"]
        if default is not None:
            check_default(raw, kind, choices, default)
            if kind == "int":
                default = str(int(default))  # as the code will spell it: 007 is 7
        return cls(name, kind, choices, default)

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def shown_default(self) -> str:
        """The default as --help shows it."""
        return "empty" if self.default == "" else str(self.default)

    @property
    def metavar(self) -> str:
        return {"text": "TEXT", "int": "N", "choice": "CHOICE"}[self.kind]

    @property
    def describes(self) -> str:
        """What the flag takes, for --help: ``one of fast, exact``."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "int":
            return f"a whole number from 0 to {INT_MAX}"
        return "text"

    def sample(self) -> str:
        """A valid value for the generated tests (never the default, to prove it is read)."""
        if self.kind == "choice":
            return next(c for c in reversed(self.choices) if c != self.default)
        if self.kind == "int":
            return "7" if self.default != "7" else "8"
        return f"{self.name.kebab} sample, with spaces"

    def bad_sample(self) -> str | None:
        """A value the flag must refuse; text takes anything."""
        if self.kind == "choice":
            return "not-a-choice"
        if self.kind == "int":
            return "-1"
        return None


def check_default(raw: str, kind: str, choices: tuple[str, ...], default: str) -> None:
    if kind == "int" and not (default.isascii() and default.isdigit() and int(default) <= INT_MAX):
        raise ScaffoldError(
            f"flag {raw!r}: expected the default to be a whole number from 0 to {INT_MAX}, "
            f"got: {default!r}"
        )
    if kind == "choice" and default not in choices:
        raise ScaffoldError(
            f"flag {raw!r}: expected the default to be one of {', '.join(choices)}, "
            f"got: {default!r}"
        )
    if kind == "text" and ('"' in default or "\\" in default or "\n" in default):
        raise ScaffoldError(
            f"flag {raw!r}: expected a default without quotes, backslashes or newlines, "
            f"got: {default!r}"
        )


def parse_flags(raws: list[str]) -> tuple[Flag, ...]:
    flags = tuple(Flag.parse(raw) for raw in raws)
    names = [f.name.snake for f in flags]
    if len(set(names)) != len(names):
        raise ScaffoldError(f"expected distinct flag names, got: {', '.join(names)}")
    return flags
