"""The main job: both pipelines on the kind cluster, run by the Airflow deployed there, then
what happened. `make demo` brings up the cluster, images, services and Airflow first
(hack/demo.sh), then:

    python -m platform_driver.demo [--inner-loop [--airflow-home DIR]]

1. seed: provider feeds from the shared generator into S3 (raw/…), a source database in
   ClickHouse (`analytics`: three tables);
2. trigger `s3_ingest` through Airflow's REST API: discover → per batch transform → load →
   archive, each task a worker pod (KubernetesExecutor) starting the task's own pod;
3. trigger `clickhouse_db_sync` with conf `{"database": "analytics"}`: plan → prepare → copy per
   table → verify → swap → cleanup, source → destination;
4. print rows per provider and table, rows quarantined per reason (against what the generator
   says must be quarantined), objects archived, the sync verified table by table, and where
   the UI is.

`--inner-loop` runs the same DAGs with `airflow dags test` on the host instead (SQLite, no
scheduler): the quick loop for a DAG author, not the main job.

Exit 0 when both runs succeeded and every figure matches what the seed implies, else 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from platform_driver import seed
from platform_driver.airflow import Airflow, DagRun
from platform_driver.cluster import Cluster, hack
from platform_driver.dags_test import DagsTest
from platform_driver.state import (
    IngestState,
    Services,
    ingest_state,
    services,
    staging_left,
    sync_state,
    visible_from,
)

BUCKET = "polyetl"
DATABASE = "analytics"


def say(msg: str) -> None:
    print(f"\033[1m==> {msg}\033[0m", flush=True)


def quarantined(run: DagRun) -> dict[str, int]:
    """Rows quarantined per reason, summed over the run's transform results."""
    return seed.by_reason(seed.total(r["counts"] for r in run.results_of("ingest.transform")))


def quarantined_objects(run: DagRun) -> dict[str, str]:
    """Raw key → reason of every object the run's transforms quarantined whole."""
    return {
        str(o["key"]): str(o["reason"])
        for r in run.results_of("ingest.transform")
        for o in r.get("outputs", {}).get("quarantined_objects", [])
    }


def loaded(run: DagRun) -> dict[str, int]:
    """The run's load counts summed: rows, new, replaced, unchanged, superseded, …"""
    return seed.total(r["counts"] for r in run.results_of("ingest.load"))


@dataclass(frozen=True)
class Expected:
    """What a delivery must come to, from the generator alone."""

    counts: dict[str, int]  # summed generator counts: rows_out, quarantined_<reason>, …
    latest: dict[tuple[str, str], str]  # (provider, id) → the raw key a reader must see
    poisoned: list[str]  # raw keys to be quarantined whole
    folder: str  # the delivery's own folder under raw/<provider>/


def ingest_report(
    run: DagRun, svc: Services, before: IngestState, after: IngestState, want: Expected
) -> bool:
    """Print the ingest run's outcome; True when it matches the generator's figures."""
    ok = run.state == "success"
    print(f"\ns3_ingest  run {run.run_id}: {run.state} in {run.seconds:.0f} s")
    print(f"  {'provider':<10} {'rows in ClickHouse':>18}")
    for provider, rows in after.rows_by_provider.items():
        print(f"  {provider:<10} {rows:>18,}")
    print(f"  {'total':<10} {after.rows:>18,}  ({after.rows - before.rows:+,} this run)")
    load, good = loaded(run), want.counts.get("rows_out", 0)
    print(
        f"  good rows loaded: {load.get('rows', 0):,} [generator: {good:,}] = "
        f"{load.get('new', 0):,} new ids + {load.get('replaced', 0):,} replaced an earlier "
        f"delivery + {load.get('unchanged', 0):,} unchanged + {load.get('superseded', 0):,} "
        "superseded by a later one"
    )
    ok &= load.get("rows", 0) == good
    seen = visible_from(svc, want.folder)
    print(
        f"  rows a reader sees from this delivery: {len(seen):,} [generator: {len(want.latest):,} "
        f"distinct ids, each from its latest delivery: {'yes' if seen == want.latest else 'NO'}]"
    )
    ok &= seen == want.latest
    got, expected = quarantined(run), seed.by_reason(want.counts)
    print("  rows quarantined per reason (this run; generator's count in brackets):")
    for reason in sorted(set(got) | set(expected)):
        rows, wanted = got.get(reason, 0), expected.get(reason, 0)
        mark = "" if rows == wanted else "   <-- differs"
        print(f"    {reason:<24} {rows:>7,} [{wanted:,}]{mark}")
    ok &= got == expected
    whole = quarantined_objects(run)
    print(f"  objects quarantined whole (this run; generator: {len(want.poisoned)}):")
    for key, reason in sorted(whole.items()):
        print(f"    {key}  ({reason})")
    ok &= sorted(whole) == want.poisoned and set(want.poisoned) <= set(after.quarantined_objects)
    archived = sum(
        int(r.get("counts", {}).get("archived", 0)) for r in run.results_of("ingest.archive")
    )
    print(
        f"  objects: {archived} archived this run ({after.archived} under archive/), "
        f"{after.raw} left under raw/, {after.staged} staged, "
        f"{len(after.quarantined_objects)} quarantined whole in all"
    )
    print(f"  event ids with more than one visible row: {after.duplicates}")
    return ok and after.duplicates == 0


def sync_report(run: DagRun, svc: Services) -> bool:
    ok = run.state == "success"
    print(f"\nclickhouse_db_sync  run {run.run_id}: {run.state} in {run.seconds:.0f} s")
    state = sync_state(svc, DATABASE)
    print(f"  {'table or view':<14} {'source rows':>12} {'dest rows':>12}  checksums")
    for table, t in state.items():
        dest_rows = f"{t.destination.rows:,}" if t.destination else "missing"
        same = "equal" if t.same else "DIFFER"
        print(f"  {table:<14} {t.source.rows:>12,} {dest_rows:>12}  {same}")
        ok &= t.same
    for step in ("verify", "views"):
        results = run.results_of(step)
        if results:
            print(f"  {step} task: {results[0].get('counts', {})}")
    leftover = staging_left(svc, DATABASE)
    print(f"  staging database left behind: {'yes' if leftover else 'no'}")
    return ok and not leftover


UI_HELP = """
Airflow's UI (and REST API) on this machine:
  make airflow-ui                         # kubectl port-forward to the api-server; keep it running
  open http://localhost:8080              # user: admin
  hack/deploy.sh password admin           # prints admin's password (generated; never in git)
Both runs are there: graph, task tries, and each task's log (kept in S3 after its pods are gone)."""


def inner_loop(cluster: Cluster, home: Path, tag: str) -> tuple[DagRun, DagRun]:
    """Both DAGs with `airflow dags test` on the host (fresh SQLite metadata each time)."""
    airflow = DagsTest(home, cluster, tag)
    say(f"inner loop: airflow dags test, fresh metadata in {home}")
    airflow.reset()
    ingest = airflow.test("s3_ingest")
    return ingest, airflow.test("clickhouse_db_sync", {"database": DATABASE})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cache = Path(os.environ.get("POLYETL_CACHE", Path.home() / ".cache" / "polyetl"))
    cluster = Cluster()
    parser.add_argument(
        "--inner-loop",
        action="store_true",
        help="run the DAGs with `airflow dags test` on the host instead of the deployed Airflow",
    )
    parser.add_argument(
        "--airflow-home",
        type=Path,
        default=cache / "demo" / f"airflow-{cluster.name}",
        help="the inner loop's Airflow home (SQLite metadata, logs)",
    )
    args = parser.parse_args(argv)
    tag = hack("images.sh", "tag")
    rust_image = f"polyetl/rstask:{tag}"
    t0 = time.monotonic()
    with services(cluster) as svc:
        say("seeding: provider feeds into S3 (rstask generate), source database into ClickHouse")
        # A delivery of its own per demo run (a day folder stamped with the time), so a
        # re-run ingests new objects rather than finding the ledger already knows them all.
        # The same events each run: a re-run re-delivers them, and each id's row is replaced
        # by this delivery's (the table keeps one row per event id).
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        folder = f"demo-{stamp}"
        delivery = [replace(f, day=f"{f.day}/{folder}") for f in seed.DEMO_FEEDS]
        rounds = seed.deliver_in_rounds(rust_image, svc.s3, BUCKET, delivery)
        feeds = [made for one in rounds for made in one]
        want = Expected(
            seed.expected(feeds), seed.latest_delivery(*rounds), seed.poisoned(feeds), folder
        )
        for made in feeds:
            what = f"{made.counts['rows_in']:,} rows"
            if made.feed.poison:
                what = "cut short: to be quarantined whole"
            print(f"  s3://{BUCKET}/{made.feed.key}: {what}")
        for table, rows in seed.seed_source(svc.source, DATABASE).items():
            print(f"  clickhouse-source {DATABASE}.{table}: {rows:,} rows")
        before = ingest_state(svc, BUCKET)

        if args.inner_loop:
            ingest, synced = inner_loop(cluster, args.airflow_home, tag)
        else:
            with Airflow.connect(cluster) as airflow:
                say("s3_ingest: triggered through Airflow's REST API")
                ingest = airflow.run("s3_ingest")
                say("clickhouse_db_sync: triggered through Airflow's REST API")
                synced = airflow.run("clickhouse_db_sync", {"database": DATABASE})

        say("what happened")
        ok = ingest_report(ingest, svc, before, ingest_state(svc, BUCKET), want)
        ok &= sync_report(synced, svc)
    print(f"\ntotal {time.monotonic() - t0:.0f} s")
    if not args.inner_loop:
        print(UI_HELP)
    if not ok:
        print(
            "demo: FAILED — a run failed or a figure differs from the seed (above)", file=sys.stderr
        )
        for run in (ingest, synced):
            if run.state != "success":
                print(run.logs[-4000:], file=sys.stderr)
        return 1
    say("demo: both pipelines ran; every figure matches the seed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
