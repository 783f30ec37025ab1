"""Database and table names: any name ClickHouse allows, always quoted in SQL.

ClickHouse accepts any name when it is quoted — Cyrillic, spaces, dots, quotes, backticks,
newlines, reserved words — so safety comes from quoting every identifier correctly, never
from refusing names. Validation keeps only what ClickHouse itself forbids: an empty name, a
NUL byte (which no env variable or flag can carry either), and an over-long name (more than
255 bytes: no server takes more; a server's own limit, which depends on the database and
on how the name escapes into a file name, may be lower and is reported by the server).

:func:`q` quotes a name the way ClickHouse writes it (backticks; backslash, backtick and
control characters escaped), so a name reaches SQL as exactly one identifier whatever it
holds. :func:`parse_head` reads the name back out of ``SHOW CREATE`` output, which is how a
DDL is rewritten to another database without a regular expression over the names.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytask.config import quote
from pytask.errors import UsageError

MAX_NAME_BYTES = 255
# How ClickHouse escapes a character inside a quoted identifier or string (writeAnyEscapedString).
ESCAPES = {
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\0": "\\0",
}
UNESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "v": "\v"}
BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HELPER_PREFIX = 64  # a helper table's name starts with at most this many characters


def identifier(raw: str, what: str) -> str:
    """``raw`` if ClickHouse can name an object so, else a usage error naming it.

    >>> identifier("a; DROP DATABASE b", "--table")
    'a; DROP DATABASE b'
    >>> identifier("", "--table")
    Traceback (most recent call last):
    ...
    pytask.errors.UsageError: expected --table to be a name (1 to 255 bytes, no NUL), got: ""
    """
    if raw and "\0" not in raw and len(raw.encode()) <= MAX_NAME_BYTES:
        return raw
    shown = quote(raw if len(raw) <= 300 else raw[:300] + "…")
    raise UsageError(
        f"expected {what} to be a name (1 to {MAX_NAME_BYTES} bytes, no NUL), got: {shown}"
    )


def escaped(value: str, quote_char: str) -> str:
    """``value`` escaped for a ClickHouse quoted string or identifier (no quotes around it)."""
    out = "".join(ESCAPES.get(c, c) for c in value)
    return out.replace(quote_char, "\\" + quote_char)


def q(name: str) -> str:
    """Backtick-quote a name: one identifier, whatever it holds.

    >>> print(q("events"), q("a; DROP DATABASE b"))
    `events` `a; DROP DATABASE b`
    """
    return f"`{escaped(identifier(name, 'a name'), '`')}`"


def qualified(database: str, table: str) -> str:
    """``database.table``, both quoted.

    >>> qualified("db", "t")
    '`db`.`t`'
    """
    return f"{q(database)}.{q(table)}"


def literal(value: str) -> str:
    """A ClickHouse string literal.

    >>> literal("plain")
    "'plain'"
    """
    return f"'{escaped(value, chr(39))}'"


def spellings(name: str) -> tuple[str, ...]:
    """Every way ClickHouse may print ``name`` in a DDL: backticked, and bare when it can be.

    >>> spellings("src"), spellings("a b")
    (('`src`', 'src'), ('`a b`',))
    """
    quoted = f"`{escaped(name, '`')}`"
    return (quoted, name) if BARE.fullmatch(name) else (quoted,)


def mentions(ddl: str, database: str, name: str) -> bool:
    """Whether ``ddl`` names ``database.name`` (in any spelling ClickHouse uses).

    ClickHouse stores a view's query with every table qualified by its database, so this
    finds what a view, a materialized view or a dictionary reads. A mention inside a string
    literal counts too: for ordering that is harmless (one more edge, never a missing one).

    >>> mentions("CREATE VIEW d.v AS SELECT * FROM d.`a b`", "d", "a b")
    True
    >>> mentions("CREATE VIEW d.v AS SELECT * FROM d.ab", "d", "a")
    False
    """
    for db in spellings(database):
        for table in spellings(name):
            for match in re.finditer(re.escape(f"{db}.{table}"), ddl):
                before = ddl[match.start() - 1 : match.start()]
                after = ddl[match.end() : match.end() + 1]
                cut_before = db[0] != "`" and _word(before)
                cut_after = table[-1] != "`" and _word(after)
                if not (cut_before or cut_after):
                    return True
    return False


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


HEAD = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?"
    r"(TABLE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY|LIVE\s+VIEW|WINDOW\s+VIEW)\s+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Head:
    """The start of a ``SHOW CREATE`` statement, parsed: what it creates and where; ``rest`` is
    everything after the name, verbatim."""

    kind: str  # TABLE, VIEW, MATERIALIZED VIEW, DICTIONARY, ...
    database: str
    name: str
    rest: str

    def render(self, database: str, name: str, *, replace: bool = False) -> str:
        """The same statement creating ``database.name`` (``CREATE OR REPLACE`` if asked)."""
        verb = "CREATE OR REPLACE" if replace else "CREATE"
        return f"{verb} {self.kind} {qualified(database, name)}{self.rest}"


def parse_head(ddl: str) -> Head:
    """Parse ``CREATE <kind> <database>.<name>`` at the start of ``ddl``, names decoded.

    >>> parse_head("CREATE TABLE `a; b`.`select` (`k` UInt8) ENGINE = Memory")
    Head(kind='TABLE', database='a; b', name='select', rest=' (`k` UInt8) ENGINE = Memory')
    >>> parse_head("CREATE MATERIALIZED VIEW d.mv TO d.t AS SELECT 1").name
    'mv'
    """
    text = ddl.strip()
    head = HEAD.match(text)
    if head is None:
        raise ValueError(f"not a CREATE statement: {text[:80]!r}")
    database, pos = _read_identifier(text, head.end())
    if text[pos : pos + 1] != ".":
        raise ValueError(f"expected a qualified name in: {text[:200]!r}")
    name, pos = _read_identifier(text, pos + 1)
    kind = " ".join(head.group(1).upper().split())
    return Head(kind, database, name, text[pos:])


def _read_identifier(text: str, pos: int) -> tuple[str, int]:
    """One identifier at ``pos`` — bare, or quoted with backticks or double quotes and
    ClickHouse's escapes — and where it ends."""
    if text[pos : pos + 1] not in ("`", '"'):
        bare = BARE.match(text, pos)
        if bare is None:
            raise ValueError(f"expected an identifier at {pos} of {text[:200]!r}")
        return bare.group(), bare.end()
    closing, out, i = text[pos], bytearray(), pos + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "xX" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2 : i + 4]):
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            out += UNESCAPES.get(nxt, nxt).encode()
            i += 2
        elif char == closing and text[i + 1 : i + 2] == closing:  # a doubled quote
            out += char.encode()
            i += 2
        elif char == closing:
            return out.decode(), i + 1
        else:
            out += char.encode()
            i += 1
    raise ValueError(f"unterminated quoted identifier at {pos} of {text[:200]!r}")


def unique(names: Iterable[str]) -> list[str]:
    """In order, each once."""
    return list(dict.fromkeys(names))


def derived(table: str, kind: str, digest: str = "") -> str:
    """A helper table's name: ``<table>__<kind>[_<digest>]``. A table whose name isn't a short
    plain identifier lends its helpers a plain prefix and a hash of its name instead: any name
    may be loaded into, and a helper's name must stay within every server's length limit.

    >>> derived("events", "work", "dc5b65cbfffcbd48")
    'events__work_dc5b65cbfffcbd48'
    >>> derived("a; DROP DATABASE b", "load_lock")
    'a_DROP_DATABASE_b_a8b41676__load_lock'
    """
    suffix = f"__{kind}" + (f"_{digest}" if digest else "")
    if BARE.fullmatch(table) and len(table) <= HELPER_PREFIX:
        return table + suffix
    plain = re.sub(r"[^A-Za-z0-9_]+", "_", table).strip("_")[: HELPER_PREFIX - 9]
    name_hash = hashlib.sha256(table.encode()).hexdigest()[:8]
    return f"{plain}_{name_hash}{suffix}" if plain else f"t_{name_hash}{suffix}"


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
            for pattern in patterns:  # matched here, never sent to a server
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


def shown(names: Iterable[str]) -> str:
    """Names for a message, each quoted so a comma or a newline in one can't mislead.

    >>> print(shown(["a", "b, c"]))
    "a", "b, c"
    """
    return ", ".join(quote(n) for n in names)
