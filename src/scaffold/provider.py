"""A new provider feed for s3_ingest: ``tasks/rust/mappings/<provider>.toml``, a guided skeleton.

The mapping is data (``rstask`` embeds every file of ``mappings/``; nothing else to edit), so
this generator writes that one file: every canonical column mapped from its source, the
timestamp format and time zone, the event-type values, each setting commented with what it
means and its alternatives. What the Rust side refuses when a mapping loads is refused here
first (exit 64, nothing written); what only a real sample can tell, ``rstask check-mapping``
does, and the next steps printed say how.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import textwrap
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from scaffold.errors import ScaffoldError
from scaffold.plan import Plan

PROJECT = "tasks/rust"
MAPPINGS = f"{PROJECT}/mappings"
FORMATS = ("csv", "ndjson")
# The staged event columns a mapping fills, in the staged order; the first three are required.
COLUMNS = (
    "match_id",
    "event_type",
    "occurred_at",
    "team",
    "player",
    "odds_home",
    "odds_draw",
    "odds_away",
    "score_home",
    "score_away",
)
OPTIONAL = COLUMNS[3:]  # match_id, event_type and occurred_at are always required
# The canonical event types (``EVENT_TYPES`` in tasks/rust/src/transform/mapping.rs).
EVENT_TYPES = (
    "kickoff",
    "goal",
    "card",
    "substitution",
    "odds",
    "half_time",
    "full_time",
    "penalty",
)
ODDS = ("decimal", "fractional")
FIXED_TIMESTAMPS = ("rfc3339", "epoch_millis", "epoch_seconds")
PROVIDER = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_LENGTH = 40
# The chrono specifiers a generated pattern may use: each reads back what it writes, which
# the Rust side checks again when the mapping loads. Others: write the file by hand.
SPECIFIER = re.compile(r"%(\.[369]?f|:z|.|$)", re.DOTALL)
DATE_SPECIFIERS = ("Y", "y", "m", "b", "B", "d", "e", "j", "a", "A", "F", "D")
TIME_SPECIFIERS = ("H", "I", "p", "M", "S", "f", ".f", ".3f", ".6f", ".9f", "T", "R")
SPECIFIERS = frozenset((*DATE_SPECIFIERS, *TIME_SPECIFIERS, "z", ":z", "%"))
OFFSET = re.compile(r"[+-](?:[01]\d|2[0-3]):?[0-5]\d")
TEMPLATE_PART = re.compile(r"\{([^{}]*)\}")
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# chrono-tz (the Rust side) compiles in the IANA database; Python's names (tzdata) minus
# these two, which are no zones, are the same set. A zone newer than chrono-tz's copy would
# pass here and be refused when the mapping loads (check-mapping says so).
NOT_ZONES = frozenset({"Factory", "localtime"})


@dataclass(frozen=True)
class Provider:
    """A checked provider feed: everything its mapping file says."""

    name: str
    format: str
    delimiter: str
    timestamp: str
    timezone: str | None
    sources: tuple[tuple[str, str], ...]  # (column, source), in COLUMNS order
    event_id: str
    id_fields: tuple[str, ...]  # template fields no column reads, in template order
    event_types: tuple[tuple[str, str], ...]  # (provider value, canonical type)
    case_insensitive: bool
    odds: str
    required: frozenset[str]

    @property
    def csv(self) -> bool:
        return self.format == "csv"

    @property
    def file(self) -> str:
        return f"{MAPPINGS}/{self.name}.toml"

    @property
    def sample(self) -> str:
        """The generated sample's file name."""
        return f"{self.name}.{'csv' if self.csv else 'ndjson'}"


def provider_name(raw: str) -> str:
    """The provider as under ``raw/<provider>/``, kept exactly (the mapping's file name).

    >>> provider_name("zeta_bet")
    'zeta_bet'
    >>> provider_name("Zeta")
    Traceback (most recent call last):
    ...
    scaffold.errors.ScaffoldError: expected the provider name to be lower-case words of \
letters and digits joined by - or _, starting with a letter, at most 40 characters, got: 'Zeta'
    """
    if not (PROVIDER.fullmatch(raw) and len(raw) <= MAX_LENGTH):
        raise ScaffoldError(
            "expected the provider name to be lower-case words of letters and digits joined "
            f"by - or _, starting with a letter, at most {MAX_LENGTH} characters, got: {raw!r}"
        )
    return raw


def delimiter_of(raw: str | None, fmt: str) -> str:
    """One ASCII character between CSV fields (``\\t`` or ``tab`` for a tab).

    >>> delimiter_of("|", "csv"), delimiter_of("\\\\t", "csv"), delimiter_of(None, "csv")
    ('|', '\\t', ',')
    >>> delimiter_of("::", "csv")
    Traceback (most recent call last):
    ...
    scaffold.errors.ScaffoldError: expected --delimiter to be one ASCII character other than \
a quote, a line break or a letter or digit (\\t or tab for a tab), got: '::'
    """
    if raw is None:
        return ","
    if fmt != "csv":
        raise ScaffoldError(f"expected no --delimiter for --format {fmt}, got: {raw!r}")
    delimiter = "\t" if raw in ("\\t", "tab") else raw
    if not (
        len(delimiter) == 1
        and delimiter.isascii()
        and (delimiter.isprintable() or delimiter == "\t")
        and not delimiter.isalnum()
        and delimiter not in "\"' "
    ):
        raise ScaffoldError(
            "expected --delimiter to be one ASCII character other than a quote, a line break "
            f"or a letter or digit (\\t or tab for a tab), got: {raw!r}"
        )
    return delimiter


def timezone_of(raw: str) -> str:
    """A zone the Rust side takes: an IANA name, UTC, or a fixed offset.

    >>> timezone_of("Europe/Madrid"), timezone_of("+05:30"), timezone_of("utc")
    ('Europe/Madrid', '+05:30', 'UTC')
    >>> timezone_of("Europe/Madird")
    Traceback (most recent call last):
    ...
    scaffold.errors.ScaffoldError: expected --timezone to be an IANA time zone name (e.g. \
Europe/London), UTC or an offset like +02:00, got: 'Europe/Madird' (did you mean Europe/Madrid?)
    """
    if raw.upper() in ("UTC", "Z"):
        return "UTC"
    if OFFSET.fullmatch(raw):
        return raw
    zones = zoneinfo.available_timezones() - NOT_ZONES
    if raw in zones:
        return raw
    close = difflib.get_close_matches(raw, sorted(zones), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ScaffoldError(
        "expected --timezone to be an IANA time zone name (e.g. Europe/London), UTC or an "
        f"offset like +02:00, got: {raw!r}{hint}"
    )


def timestamp_of(raw: str, timezone: str | None) -> tuple[str, str | None]:
    """``occurred_at``'s format and the zone of its local times.

    >>> timestamp_of("%d.%m.%Y %H:%M", "America/New_York")
    ('%d.%m.%Y %H:%M', 'America/New_York')
    >>> timestamp_of("%d.%m.%Y %H:%M", None)
    Traceback (most recent call last):
    ...
    scaffold.errors.ScaffoldError: expected --timezone for the timestamp pattern \
'%d.%m.%Y %H:%M', which has no offset (%z): the zone its local times are in, e.g. Europe/London
    """
    if raw in FIXED_TIMESTAMPS:
        if timezone is not None:
            raise ScaffoldError(
                f"expected no --timezone with --timestamp {raw} (its values are instants), "
                f"got: {timezone!r}"
            )
        return raw, None
    specifiers = [m[1] for m in SPECIFIER.finditer(raw)]
    unknown = [s for s in specifiers if s not in SPECIFIERS]
    if not specifiers or unknown:
        known = " %".join((*DATE_SPECIFIERS, *TIME_SPECIFIERS, "z", ":z", "%"))
        which = f" (unknown: %{' %'.join(unknown)})" if unknown else ""
        raise ScaffoldError(
            f"expected --timestamp to be {', '.join(FIXED_TIMESTAMPS)} or a strftime pattern of "
            f"%{known} and literal text, got: {raw!r}{which}"
        )
    found = set(specifiers)
    has_day = (bool(found & {"m", "b", "B"}) and bool(found & {"d", "e"})) or "j" in found
    has_date = bool(found & {"F", "D"}) or (bool(found & {"Y", "y"}) and has_day)
    has_hour = "H" in found or {"I", "p"} <= found
    has_time = bool(found & {"T", "R"}) or (has_hour and "M" in found)
    if not (has_date and has_time) or not raw.isprintable():
        raise ScaffoldError(
            "expected --timestamp to have a whole date (%Y %m %d, or %F) and a time of day "
            f"(%H:%M, %I:%M with %p, or %T), got: {raw!r}"
        )
    offset = bool(found & {"z", ":z"})
    if offset and timezone is not None:
        raise ScaffoldError(
            f"expected no --timezone with the timestamp pattern {raw!r}: its %z is the offset, "
            f"got: {timezone!r}"
        )
    if not offset and timezone is None:
        raise ScaffoldError(
            f"expected --timezone for the timestamp pattern {raw!r}, which has no offset (%z): "
            "the zone its local times are in, e.g. Europe/London"
        )
    return raw, None if timezone is None else timezone_of(timezone)


def field_name(raw: str, fmt: str, delimiter: str, what: str) -> str:
    """A source field: a CSV header name, or a dotted path into an NDJSON object.

    >>> field_name("fixture.id", "ndjson", ",", "--column match_id")
    'fixture.id'
    >>> field_name("a,b", "csv", ",", "--column team")
    Traceback (most recent call last):
    ...
    scaffold.errors.ScaffoldError: expected --column team to name a header field: printable, \
without the delimiter, quotes, braces or spaces around it, got: 'a,b'
    """
    bad = not raw or not raw.isprintable() or raw != raw.strip() or any(c in raw for c in '"{}')
    if fmt == "csv":
        if bad or delimiter in raw:
            raise ScaffoldError(
                f"expected {what} to name a header field: printable, without the delimiter, "
                f"quotes, braces or spaces around it, got: {raw!r}"
            )
    elif bad or "" in raw.split("."):
        raise ScaffoldError(
            f"expected {what} to name a JSON field or a dotted path to one (fixture.id), "
            f"printable, without quotes or braces, got: {raw!r}"
        )
    return raw


def pairs(raws: Iterable[str], what: str, shape: str) -> list[tuple[str, str]]:
    out = []
    for raw in raws:
        left, sep, right = raw.partition("=")
        if not (sep and left and right):
            raise ScaffoldError(f"expected {what} to be {shape}, got: {raw!r}")
        out.append((left, right))
    return out


def sources_of(raws: list[str], fmt: str, delimiter: str) -> tuple[tuple[str, str], ...]:
    """Each event column's source: the given ones, else the column's own name."""
    given: dict[str, str] = {}
    for column, source in pairs(raws, "--column", "COLUMN=SOURCE"):
        if column not in COLUMNS:
            raise ScaffoldError(
                f"expected --column to map one of {', '.join(COLUMNS)}, got: {column!r}"
            )
        if column in given:
            raise ScaffoldError(f"expected one --column per column, got {column!r} twice")
        given[column] = field_name(source, fmt, delimiter, f"--column {column}")
    sources = tuple((c, given.get(c, c)) for c in COLUMNS)
    seen: dict[str, str] = {}
    for column, source in sources:
        if source in seen:
            raise ScaffoldError(
                f"expected each column to read a field of its own, got {source!r} for both "
                f"{seen[source]} and {column}"
            )
        seen[source] = column
    return sources


def event_id_of(
    raw: str, sources: tuple[tuple[str, str], ...], fmt: str, delimiter: str
) -> tuple[str, ...]:
    """The template's fields no column reads (the provider's own event number); at least
    one, so ids never repeat by construction.

    >>> event_id_of("{provider}-{match}-{seq}", (("match_id", "match"),), "csv", ",")
    ('seq',)
    """
    fields = TEMPLATE_PART.findall(raw)
    if TEMPLATE_PART.sub("", raw).count("{") or TEMPLATE_PART.sub("", raw).count("}"):
        raise ScaffoldError(f"expected --event-id with balanced {{placeholders}}, got: {raw!r}")
    if not raw.isprintable() or '"' in raw or "\\" in raw:
        raise ScaffoldError(
            f"expected --event-id to be printable, without quotes or backslashes, got: {raw!r}"
        )
    read = {source for _, source in sources}
    own = []
    for field in fields:
        if field != "provider":
            field_name(field, fmt, delimiter, f"the --event-id field {{{field}}}")
            if field not in read and field not in own:
                own.append(field)
    if not own:
        raise ScaffoldError(
            "expected --event-id to name a field no column reads (the provider's own event "
            f"number, e.g. {{provider}}-{{id}}), so ids are unique, got: {raw!r}"
        )
    return tuple(own)


def check_paths(paths: list[str]) -> None:
    """NDJSON: no field is inside another (``team`` a value and ``team.name`` in it).

    >>> check_paths(["team", "team.name"])
    Traceback (most recent call last):
    ...
    scaffold.errors.ScaffoldError: expected each NDJSON field to be a value of its own, got \
'team.name' inside 'team'
    """
    for outer in paths:
        for inner in paths:
            if inner.startswith(outer + "."):
                raise ScaffoldError(
                    f"expected each NDJSON field to be a value of its own, got {inner!r} "
                    f"inside {outer!r}"
                )


def event_types_of(raws: list[str], case_insensitive: bool) -> tuple[tuple[str, str], ...]:
    """Provider value → canonical type; by default each canonical type as itself."""
    if not raws:
        return tuple((t, t) for t in EVENT_TYPES)
    seen: set[str] = set()
    out = []
    for value, canonical in pairs(raws, "--event-type", "VALUE=TYPE"):
        if canonical not in EVENT_TYPES:
            raise ScaffoldError(
                f"expected --event-type {value}=TYPE with TYPE one of {', '.join(EVENT_TYPES)}, "
                f"got: {canonical!r}"
            )
        if not value.isprintable() or value != value.strip():
            raise ScaffoldError(
                f"expected an --event-type value to be printable, without spaces around it, "
                f"got: {value!r}"
            )
        key = value.lower() if case_insensitive else value
        if key in seen:
            case = " whatever its case (--case-insensitive)" if case_insensitive else ""
            raise ScaffoldError(
                f"expected each --event-type value once{case}, got: {value!r} twice"
            )
        seen.add(key)
        out.append((value, canonical))
    return tuple(out)


def from_args(args: argparse.Namespace) -> Provider:
    """Every option checked, in the order they appear in ``--help``; the first bad one named."""
    name = provider_name(args.name)
    fmt: str = args.format
    delimiter = delimiter_of(args.delimiter, fmt)
    timestamp, timezone = timestamp_of(args.timestamp, args.timezone)
    sources = sources_of(args.column, fmt, delimiter)
    id_fields = event_id_of(args.event_id, sources, fmt, delimiter)
    if fmt == "ndjson":
        check_paths([*(source for _, source in sources), *id_fields])
    required = set(args.required)
    if not required <= set(OPTIONAL):
        raise ScaffoldError(
            f"expected --required to name an optional column ({', '.join(OPTIONAL)}), got: "
            f"{', '.join(sorted(required - set(OPTIONAL)))}"
        )
    return Provider(
        name=name,
        format=fmt,
        delimiter=delimiter,
        timestamp=timestamp,
        timezone=timezone,
        sources=sources,
        event_id=args.event_id,
        id_fields=id_fields,
        event_types=event_types_of(args.event_type, args.case_insensitive),
        case_insensitive=args.case_insensitive,
        odds=args.odds,
        required=frozenset(required),
    )


def toml_str(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's).

    >>> print(toml_str('a "b"\\t'))
    "a \\"b\\"\\t"
    """
    return json.dumps(text, ensure_ascii=False)


def toml_key(text: str) -> str:
    return text if BARE_KEY.fullmatch(text) else toml_str(text)


def comment(text: str) -> str:
    """``text`` as ``#`` lines of at most 92 characters."""
    return textwrap.fill(text, width=92, initial_indent="# ", subsequent_indent="# ")


def describe(p: Provider) -> str:
    if p.csv:
        delimiter = "tab" if p.delimiter == "\t" else f"'{p.delimiter}'"
        shape = f"CSV, {delimiter}-separated, a header row"
    else:
        shape = "NDJSON, one JSON object per line"
    if p.timezone:
        zone = "UTC" if p.timezone == "UTC" else f"{p.timezone} local time"
        time = f"timestamps as {toml_str(p.timestamp)} in {zone}"
    elif p.timestamp in FIXED_TIMESTAMPS:
        time = f"{p.timestamp} timestamps"
    else:
        time = f"timestamps as {toml_str(p.timestamp)} with their offset"
    return f"{p.name}: {shape}, {time}, {p.odds} odds."


def add_provider(plan: Plan, p: Provider) -> None:
    if (plan.root / p.file).exists():
        raise ScaffoldError(f"expected a new provider, got one {MAPPINGS}/ has: {p.name!r}")
    mapped = {canonical for _, canonical in p.event_types}
    unmapped = [t for t in EVENT_TYPES if t not in mapped]
    values = ", ".join(f"{toml_key(v)} = {toml_str(c)}" for v, c in p.event_types)
    csv_columns = [*p.id_fields, *(source for _, source in p.sources)]
    plan.create(
        p.file,
        "provider/mapping.toml.j2",
        p=p,
        heading=comment(describe(p)),
        s=toml_str,
        source=dict(p.sources),
        values="{ " + values + " }",
        types_note=comment(
            f"Provider value → event type, one of {', '.join(EVENT_TYPES)}; any other value "
            "is quarantined as unknown_enum"
            + (f" (not mapped yet: {', '.join(unmapped)})." if unmapped else ".")
            + ' case_insensitive = true matches the values whatever their case ("goal", '
            '"GOAL", "Goal").'
        ),
        csv_columns="[" + ", ".join(toml_str(c) for c in csv_columns) + "]",
    )


def next_steps(p: Provider) -> list[str]:
    """What to run next, from the repository root: a generated feed, then a real sample,
    through ``check-mapping``; then the tests, which now cover the provider."""
    kinds = "bad_quoting,wrong_field_count" if p.csv else "bad_json"
    bad = f"{kinds},wrong_type,missing_field,timestamp_out_of_range,duplicate_key,unknown_enum"
    bad = ",".join(f"{kind}=0.01" for kind in bad.split(","))
    rstask = "cargo run --locked -q --"
    mapping = f"mappings/{p.name}.toml"
    return [
        f"next: check {p.file} against a generated feed, then a real sample (cargo run "
        "builds rstask, a debug build as cargo test's, with the new mapping embedded):",
        f"  cd {PROJECT} && sample=$(mktemp -d)/{p.sample}",
        f"  {rstask} generate --provider {p.name} --rows 1000 --seed 1 --bad {bad} "
        '--output "$sample"',
        f'  {rstask} check-mapping --mapping {mapping} --sample "$sample"',
        f"  {rstask} check-mapping --mapping {mapping} --sample PATH/TO/A/REAL/SAMPLE",
        f"next: make lint-rust test-rust (the property and transform tests now cover {p.name})",
    ]
