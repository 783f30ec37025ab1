"""Seed data for the pipelines: provider feeds from the one shared generator (`rstask
generate`, run from the task image), and a source ClickHouse database for the sync.

Both are deterministic: the same call gives the same bytes and rows, and reports exactly what
the pipelines must make of them: the generator's counts (rows in, out, quarantined per reason)
and the event id of every good row, from which :func:`latest_delivery` says which object's row
a reader must see for each id (the latest delivery wins). A feed of another `revision` is the
same events re-delivered with some values corrected; a `poison` feed is cut short, so the
transform must quarantine the object whole.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from platform_driver.containers import docker_run

# Bad rows per kind that exists in each provider's format: a little of everything.
COMMON_BAD = (
    "wrong_type=0.004,missing_field=0.003,timestamp_out_of_range=0.002,"
    "duplicate_key=0.003,unknown_enum=0.002,invalid_utf8=0.001"
)
BAD = {
    "csv": COMMON_BAD + ",bad_quoting=0.002,wrong_field_count=0.002",
    "ndjson": COMMON_BAD + ",bad_json=0.002",
}
# Every provider rstask embeds: one mapping file each (a new one joins the demo by itself).
MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "tasks" / "rust" / "mappings"
SHIPPED_PROVIDERS = ("acme", "betco", "cobra")


def provider_format(provider: str) -> str:
    """``csv`` or ``ndjson``: the format its mapping reads (the key's suffix, the bad kinds)."""
    with (MAPPINGS_DIR / f"{provider}.toml").open("rb") as file:
        return str(tomllib.load(file)["format"])


def providers() -> list[str]:
    """Every provider with a mapping, sorted."""
    return sorted(path.stem for path in MAPPINGS_DIR.glob("*.toml"))


@dataclass(frozen=True)
class Feed:
    """One raw object to generate: provider, size, seed, compression, and its key's name;
    `revision` > 0 re-delivers the seed's events with some values corrected; `poison` cuts the
    object short (gzip only): unreadable as a whole, it must be quarantined as an object."""

    provider: str
    rows: int
    seed: int
    gzip: bool = False
    day: str = "2026/11/23"
    revision: int = 0
    poison: bool = False

    def __post_init__(self) -> None:
        if self.poison and not self.gzip:
            raise ValueError(f"expected a poison feed to be gzip (cut short), got: {self}")

    @property
    def key(self) -> str:
        name = f"feed-{self.seed:04d}"
        name += f"-r{self.revision}" if self.revision else ""
        name += "-cut" if self.poison else ""
        name += f".{provider_format(self.provider)}" + (".gz" if self.gzip else "")
        return f"raw/{self.provider}/{self.day}/{name}"


@dataclass(frozen=True)
class GeneratedFeed:
    feed: Feed
    path: Path
    counts: dict[str, int]  # rows_in, rows_out, rows_quarantined, quarantined_<reason>
    ids: tuple[str, ...] = field(default=(), repr=False)  # event ids of the good rows


# The demo's feeds: the shipped providers, plain and gzip, ~60k rows in all; a corrected
# re-delivery of seed 2's events; one object cut short (quarantined whole); and 5,000 rows of
# every other provider that has a mapping (one made with `make new-provider`, say).
DEMO_FEEDS = (
    Feed("acme", 20_000, seed=1),
    Feed("acme", 10_000, seed=2, gzip=True),
    Feed("acme", 10_000, seed=2, gzip=True, revision=1),
    Feed("betco", 15_000, seed=3, gzip=True),
    Feed("betco", 2_000, seed=5, gzip=True, poison=True),
    Feed("cobra", 15_000, seed=4),
    *(
        Feed(provider, 5_000, seed=100 + n, gzip=True)
        for n, provider in enumerate(p for p in providers() if p not in SHIPPED_PROVIDERS)
    ),
)


def generate(image: str, feeds: Iterable[Feed], out_dir: Path) -> list[GeneratedFeed]:
    """`rstask generate` each feed in the task image (read-only, no network, non-root)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o777)  # the image's user (10001) writes here
    made = []
    for n, feed in enumerate(feeds):
        name = Path(feed.key).name
        args = [
            "generate",
            "--provider",
            feed.provider,
            "--rows",
            str(feed.rows),
            "--seed",
            str(feed.seed),
            "--bad",
            BAD[provider_format(feed.provider)],
            "--output",
            f"/out/{name}",
            "--result-file",
            f"/out/result-{n}.json",
            "--ids-file",
            f"/out/ids-{n}.tsv",
            "--revision",
            str(feed.revision),
            *(["--gzip"] if feed.gzip else []),
        ]
        proc = subprocess.run(
            docker_run(image, args, volumes={str(out_dir): "/out"}),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"rstask generate ({feed}) exited {proc.returncode}: {proc.stderr}")
        result = json.loads((out_dir / f"result-{n}.json").read_text())
        lines = (out_dir / f"ids-{n}.tsv").read_text().splitlines()
        ids = tuple(line.split("\t", 1)[0] for line in lines)
        counts = dict(result["counts"])
        if feed.poison:  # cut short: the object is quarantined whole, none of its rows count
            path = out_dir / name
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
            counts, ids = dict.fromkeys(counts, 0), ()
        made.append(GeneratedFeed(feed, out_dir / name, counts, ids))
    return made


class S3Client(Protocol):
    def put_object(self, **kwargs: Any) -> Any: ...
    def create_bucket(self, **kwargs: Any) -> Any: ...
    def head_bucket(self, **kwargs: Any) -> Any: ...


def upload(s3: S3Client, bucket: str, feeds: Iterable[GeneratedFeed]) -> None:
    """The bucket (when missing) and each feed under its raw/ key."""
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)
    # In key order: objects that arrive in the same second are ordered by key, as the loader
    # breaks such ties, so the expected latest delivery is the same either way.
    for made in sorted(feeds, key=lambda m: m.feed.key):
        s3.put_object(Bucket=bucket, Key=made.feed.key, Body=made.path.read_bytes())


def total(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Counts summed by name: over generated feeds, or over the transform results of a run
    (both name them alike: rows_in, rows_out, rows_quarantined, quarantined_<reason>)."""
    summed: dict[str, int] = {}
    for one in counts:
        for name, value in one.items():
            summed[name] = summed.get(name, 0) + int(value)
    return summed


def expected(feeds: Iterable[GeneratedFeed]) -> dict[str, int]:
    """The generator's counts summed over feeds: what transforming them all must report."""
    return total(made.counts for made in feeds)


def latest_delivery(*rounds: Sequence[GeneratedFeed]) -> dict[tuple[str, str], str]:
    """(provider, event id) → the raw key whose row a reader must see: the latest delivery
    wins, deliveries ordered by round (rounds uploaded at least a second apart), then by key."""
    latest: dict[tuple[str, str], str] = {}
    for made_round in rounds:
        for made in sorted(made_round, key=lambda m: m.feed.key):
            latest.update({(made.feed.provider, i): made.feed.key for i in made.ids})
    return latest


def poisoned(feeds: Iterable[GeneratedFeed]) -> list[str]:
    """The raw keys of the poison feeds: each must be quarantined whole."""
    return sorted(made.feed.key for made in feeds if made.feed.poison)


def by_reason(counts: dict[str, int]) -> dict[str, int]:
    """Rows quarantined per reason (reasons with none left out), from counts as above."""
    prefix = "quarantined_"
    return {k.removeprefix(prefix): v for k, v in counts.items() if k.startswith(prefix) and v}


def deliver_in_rounds(
    image: str, s3: S3Client, bucket: str, feeds: Iterable[Feed]
) -> list[list[GeneratedFeed]]:
    """Seed feeds as a provider would send them: first every feed's first delivery, then each
    later revision as a round of its own, over a second later (S3 times have whole seconds),
    so a correction always arrives after what it corrects. The rounds, in arrival order."""
    by_revision: dict[int, list[Feed]] = {}
    for feed in feeds:
        by_revision.setdefault(feed.revision, []).append(feed)
    rounds = []
    for n, revision in enumerate(sorted(by_revision)):
        if n:
            time.sleep(1.1)
        rounds.append(seed_feeds(image, s3, bucket, by_revision[revision]))
    return rounds


def seed_feeds(image: str, s3: S3Client, bucket: str, feeds: Iterable[Feed]) -> list[GeneratedFeed]:
    with tempfile.TemporaryDirectory(prefix="polyetl-feeds-") as tmp:
        made = generate(image, feeds, Path(tmp))
        upload(s3, bucket, made)
    return made


class SqlClient(Protocol):
    def command(self, cmd: str) -> Any: ...


# The sync's source: a database of three tables with different engines and layouts, filled
# deterministically from numbers(). Table → (DDL, INSERT … SELECT).
SOURCE_TABLES: dict[str, tuple[str, str]] = {
    "teams": (
        "CREATE TABLE IF NOT EXISTS {db}.teams (team_id UInt32, name String, country "
        "LowCardinality(String), updated_at DateTime) "
        "ENGINE = ReplacingMergeTree(updated_at) ORDER BY team_id",
        "INSERT INTO {db}.teams SELECT number, concat('team-', toString(number)), "
        "['GB', 'ES', 'DE', 'IT', 'FR'][number % 5 + 1], "
        "toDateTime('2026-01-01 00:00:00') + number FROM numbers(400)",
    ),
    "matches": (
        "CREATE TABLE IF NOT EXISTS {db}.matches (match_id UInt64, home UInt32, away UInt32, "
        "kickoff DateTime64(3, 'UTC'), goals_home UInt8, goals_away UInt8) "
        "ENGINE = MergeTree ORDER BY match_id",
        "INSERT INTO {db}.matches SELECT number, number % 400, (number * 7 + 1) % 400, "
        "toDateTime64('2026-01-01 12:00:00', 3, 'UTC') + toIntervalMinute(number * 90), "
        "number % 5, (number * 3) % 4 FROM numbers(50000)",
    ),
    "odds": (
        "CREATE TABLE IF NOT EXISTS {db}.odds (match_id UInt64, at DateTime64(3, 'UTC'), "
        "home Float64, draw Float64, away Float64, bookmaker LowCardinality(String)) "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(at) ORDER BY (match_id, at)",
        "INSERT INTO {db}.odds SELECT intDiv(number, 6), "
        "toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number * 37), "
        "1.5 + (number % 17) / 10, 2.8 + (number % 11) / 10, 3.1 + (number % 13) / 10, "
        "['acme', 'betco', 'cobra'][number % 3 + 1] FROM numbers(300000)",
    ),
}


# Views over them, which the sync recreates on the destination (docs/clickhouse-sync.md): a
# view, a view over that view, and a materialized view with its own data (an inner table,
# partitioned by month), created once the tables are filled (POPULATE).
SOURCE_VIEWS: dict[str, str] = {
    "team_goals": "CREATE VIEW IF NOT EXISTS {db}.team_goals AS SELECT home AS team_id, "
    "sum(goals_home) AS goals FROM {db}.matches GROUP BY team_id",
    "top_teams": "CREATE VIEW IF NOT EXISTS {db}.top_teams AS SELECT team_id, goals "
    "FROM {db}.team_goals ORDER BY goals DESC, team_id LIMIT 10",
    "odds_by_match": "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.odds_by_match "
    "ENGINE = MergeTree PARTITION BY toYYYYMM(first_at) ORDER BY match_id POPULATE AS "
    "SELECT match_id, min(at) AS first_at, count() AS quotes, avg(home) AS home "
    "FROM {db}.odds GROUP BY match_id",
}


def seed_source(client: SqlClient, database: str = "analytics") -> dict[str, int]:
    """Create and fill the source tables once (a table that has rows is left alone), then the
    views over them; rows per table and view."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    rows = {}
    for table, (ddl, fill) in SOURCE_TABLES.items():
        client.command(ddl.format(db=database))
        if int(client.command(f"SELECT count() FROM {database}.{table}")) == 0:
            client.command(fill.format(db=database))
        rows[table] = int(client.command(f"SELECT count() FROM {database}.{table}"))
    for view, ddl in SOURCE_VIEWS.items():
        client.command(ddl.format(db=database))
        rows[view] = int(client.command(f"SELECT count() FROM {database}.{view}"))
    return rows
