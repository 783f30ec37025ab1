"""``python -m scaffold <what> ...``: one generator per thing the template asks users to add.

Exit codes as the task contract's: 0 done, 64 a bad name or flag (nothing written), 65 a
repository the generator can't edit safely (nothing written).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from scaffold import pipeline, provider
from scaffold.errors import ScaffoldError
from scaffold.flags import parse_flags
from scaffold.names import Name
from scaffold.plan import Plan, ruff

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each language's generator: a module scaffold.<language> with add_command(plan, name, flags,
# summary) and format_files(root, paths).
LANGUAGES = ("python", "rust", "elixir")
SUMMARY_MAX = 72  # a --help line, a description, a doc comment: short enough for each


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m scaffold", description=__doc__)
    top.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="the repository to generate into (default: this one)",
    )
    sub = top.add_subparsers(dest="what", required=True, metavar="WHAT")
    command = sub.add_parser("command", help="a task command in one language, with its tests")
    command.add_argument("language", choices=LANGUAGES)
    command.add_argument("name", help="the command's name, e.g. score-events")
    command.add_argument("--summary", help="one line for --help (default: derived from the name)")
    command.add_argument(
        "--flag",
        action="append",
        default=[],
        metavar="NAME:TYPE[=DEFAULT]",
        help="a flag of the command; TYPE is text, int or choice(a|b|...); no default: required",
    )
    pipeline = sub.add_parser("pipeline", help="a DAG chaining task commands, one step mapped")
    pipeline.add_argument("name", help="the DAG's name (its file and dag_id), e.g. score_pipeline")
    pipeline.add_argument(
        "--step",
        action="append",
        default=[],
        metavar="LANGUAGE:COMMAND [ARG...]",
        help="a step, in order: a command of that language's tool and its arguments",
    )
    pipeline.add_argument(
        "--steps",
        metavar="'STEP; STEP; ...'",
        help="the steps as one argument, separated by ';' (after any --step)",
    )
    pipeline.add_argument(
        "--mapped", metavar="TASK_ID", help="the step run once per Param entry (default: the last)"
    )
    pipeline.add_argument("--summary", help="one line for the DAG's description")
    add_provider_parser(sub)
    return top


def add_provider_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feed = sub.add_parser(
        "provider",
        help="a provider feed for s3_ingest: tasks/rust/mappings/<provider>.toml, commented",
    )
    feed.add_argument("name", help="the provider, as in raw/<provider>/..., e.g. zeta")
    feed.add_argument(
        "--format", required=True, choices=provider.FORMATS, help="csv, or ndjson (JSON lines)"
    )
    feed.add_argument(
        "--delimiter", help="csv: the one character between fields (default ,; \\t for a tab)"
    )
    feed.add_argument(
        "--timestamp",
        default="rfc3339",
        metavar="FORMAT",
        help="how occurred_at is written: rfc3339 (default), epoch_millis, epoch_seconds or a "
        "strftime pattern such as '%%d.%%m.%%Y %%H:%%M'",
    )
    feed.add_argument(
        "--timezone",
        metavar="ZONE",
        help="the zone of a pattern's local times (one without %%z): an IANA name such as "
        "Europe/Madrid, UTC or an offset like +02:00",
    )
    feed.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="COLUMN=SOURCE",
        help=f"the source field of an event column ({', '.join(provider.COLUMNS)}): a CSV "
        "header name or an NDJSON key or dotted path; default: the column's own name",
    )
    feed.add_argument(
        "--event-id",
        default="{provider}-{id}",
        metavar="TEMPLATE",
        help="the event id: text with {provider} and {field} placeholders, one of them a field "
        "no column reads (default: {provider}-{id})",
    )
    feed.add_argument(
        "--event-type",
        action="append",
        default=[],
        metavar="VALUE=TYPE",
        help=f"a provider value of the event type and its type ({', '.join(provider.EVENT_TYPES)}"
        "); default: each type as itself",
    )
    feed.add_argument(
        "--case-insensitive", action="store_true", help="event type values match whatever case"
    )
    feed.add_argument("--odds", choices=provider.ODDS, default="decimal", help="default: decimal")
    feed.add_argument(
        "--required",
        action="append",
        default=[],
        metavar="COLUMN",
        help="an optional column whose empty value quarantines the row (e.g. team)",
    )


def summary_of(raw: str | None, name: Name) -> str:
    if raw is None:
        return f"{name.words.capitalize()}."
    text = " ".join(raw.split())
    if not text or len(text) > SUMMARY_MAX or any(c in text for c in '"\\`#{}'):
        raise ScaffoldError(
            f"expected a one-line summary of at most {SUMMARY_MAX} characters, without quotes, "
            "backslashes, backticks, # or braces, "
            f"got: {raw!r}"
        )
    return text if text.endswith(".") else text + "."


def generate(argv: Sequence[str]) -> list[str]:
    args = parser().parse_args(argv)
    plan = Plan(args.root.resolve())
    if args.what == "command":
        name = Name.parse(args.name, "command name")
        module = importlib.import_module(f"scaffold.{args.language}")
        module.add_command(plan, name, parse_flags(args.flag), summary_of(args.summary, name))
        changed = plan.apply()
        module.format_files(plan.root, [*plan.created, *plan.edited])
        return [*changed, f"next: make lint-{args.language} test-{args.language}"]
    if args.what == "pipeline":
        name = Name.parse(args.name, "pipeline name")
        raws = [*args.step, *(s.strip() for s in (args.steps or "").split(";") if s.strip())]
        steps = pipeline.parse_steps(plan.root, raws, args.mapped)
        pipeline.add_pipeline(plan, name, steps, summary_of(args.summary, name))
        changed = plan.apply()
        ruff(plan.root, list(plan.created))
        return [*changed, "next: make test-dags"]
    if args.what == "provider":
        feed = provider.from_args(args)
        provider.add_provider(plan, feed)
        return [*plan.apply(), *provider.next_steps(feed)]
    raise AssertionError(args.what)  # argparse allows only the choices above


def main(argv: Sequence[str] | None = None) -> NoReturn:
    try:
        lines = generate(sys.argv[1:] if argv is None else argv)
    except ScaffoldError as exc:
        print(f"scaffold: {exc}", file=sys.stderr)
        sys.exit(exc.code)
    print("\n".join(lines))
    sys.exit(0)
