"""`pytask swap`: a re-run after a swap that stopped partway completes it, and once more
changes nothing (on two chDB-backed endpoints; tests/sync_servers.py)."""

from __future__ import annotations

import json

import pytest

from tests.inprocess import ok
from tests.sync_servers import DB, TABLES, Seeded, copy_all, fingerprints

pytestmark = pytest.mark.clickhouse


def test_swap_rerun_after_a_partial_swap_completes_it(seeded: Seeded) -> None:
    source, dest = seeded.source, seeded.dest
    env = seeded.env | {"PYTASK_TABLES": json.dumps(list(TABLES))}
    ok(["prepare"], env)
    copy_all(env, TABLES)
    ok(["verify"], env)
    # A crash between the exchange and the drop of the old copy, done by hand for one table.
    dest.command(f"EXCHANGE TABLES {DB}__polyetl_staging.events AND {DB}.events")
    swapped = ok(["swap"], env)
    assert (swapped["counts"]["swapped"], swapped["counts"]["already_swapped"]) == (
        len(TABLES) - 1,
        1,
    )
    assert fingerprints(dest, DB) == fingerprints(source, DB)
    again = ok(["swap"], env)  # and once more: nothing left to do, nothing broken
    assert again["counts"]["already_swapped"] == len(TABLES)
