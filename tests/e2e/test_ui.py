"""Airflow's UI in a real browser: headless Chromium (Debian's package, driven by Playwright
through `executable_path`; Playwright's own browser download can't work here), against the
api-server deployed on the e2e cluster, behind a port-forward. Logs in as the generated admin
user, sees both DAGs, opens the s3_ingest run the pipeline tests finished, opens its
`transform` task's log — served from S3, the task's pods long gone — and finds a line the
task itself wrote. A screenshot of each step is kept with the test's output
(`$POLYETL_CACHE/e2e-screenshots/`, printed at the end).

Runs after tests/e2e/test_pipelines.py (file order), which leaves finished runs behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from platform_driver.airflow import Airflow
from platform_driver.cluster import Cluster as Platform
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.kind

CHROMIUM = "/usr/bin/chromium"
# What a closed network needs: no background fetches, no sync, no first-run, no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = (
    Path(os.environ.get("POLYETL_CACHE", Path.home() / ".cache" / "polyetl")) / "e2e-screenshots"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test, but {CHROMIUM} is missing (make setup)")
        pytest.skip(f"{CHROMIUM} missing: make setup installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def platform(cluster: Cluster) -> Platform:
    return Platform(name=cluster.name)


@pytest.fixture(scope="module")
def ui(platform: Platform) -> Iterator[str]:
    """The api-server's base URL on this machine (a port-forward for the module)."""
    with platform.port_forward("airflow-api-server", 8080) as port:
        yield f"http://127.0.0.1:{port}"


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def finished_ingest_run(platform: Platform) -> tuple[str, int, str]:
    """(run id, transform map index, a line that task wrote) of the newest successful
    s3_ingest run with a transform, read through the REST API."""
    with Airflow.connect(platform) as airflow:
        runs = airflow.get(
            "/dags/s3_ingest/dagRuns", order_by="-start_date", state="success", limit=20
        )["dag_runs"]
        for run in runs:
            for ti in airflow.task_instances("s3_ingest", run["dag_run_id"]):
                # a first try that succeeded (the fault tests leave tries that did not)
                if (ti["task_id"], ti["state"], ti["try_number"]) == (
                    "ingest.transform",
                    "success",
                    1,
                ):
                    log = airflow.log(
                        "s3_ingest", run["dag_run_id"], "ingest.transform", ti["map_index"], 1
                    )
                    # the transform's own last JSON line (the operator streamed it into the
                    # task log); its message, as the container wrote it
                    lines = [ln for ln in log.splitlines() if '"tool":"rstask"' in ln]
                    assert lines, f"no rstask line in the transform log:\n{log[-3000:]}"
                    written = re.search(r'"msg":"[^"]+"', lines[-1])
                    assert written, lines[-1]
                    return run["dag_run_id"], ti["map_index"], written.group(0)
    pytest.fail("no successful s3_ingest run with a transform: run tests/e2e/test_pipelines.py")


def open_rendered(page: Page, url: str, ready: Locator, failed: list[str]) -> None:
    """Open a page of the UI and wait until `ready` shows. kubectl port-forward (the test's way
    in, not the product) now and then drops a connection — the single-page app misses a
    script, leaving a blank page, or the page's own load is reset — and is started again
    (Cluster.port_forward): then the page is loaded again (three tries, 30 s each)."""
    for attempt in range(3):
        try:
            page.goto(url) if attempt == 0 else page.reload()
            ready.first.wait_for(timeout=30_000)
        except PlaywrightError as exc:  # a timeout, or the connection reset under the page
            print(f"{url} incomplete (attempt {attempt + 1}): {exc}; failed requests: {failed}")
        else:
            return
    shot(page, "incomplete")
    pytest.fail(f"{url} never rendered {ready}; failed requests: {failed}")


def test_a_user_logs_in_and_reads_a_finished_task_log(
    browser: Browser, platform: Platform, ui: str
) -> None:
    run_id, map_index, line = finished_ingest_run(platform)
    password = platform.secret("airflow-users")["admin"]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)  # a 2-core machine after a whole e2e run: be patient
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    try:
        read_a_task_log_in_the_ui(
            page,
            ui,
            password=password,
            run_id=run_id,
            map_index=map_index,
            line=line,
            failed=failed,
        )
    finally:
        shot(page, "last")  # whatever the page showed when the test ended
        page.close()
    assert (SHOTS / "4-transform-log.png").stat().st_size > 10_000  # a rendered page


def read_a_task_log_in_the_ui(
    page: Page,
    ui: str,
    *,
    password: str,
    run_id: str,
    map_index: int,
    line: str,
    failed: list[str],
) -> None:
    """Log in, see both DAGs, open the run, open the transform's log, find the task's line."""
    open_rendered(page, f"{ui}/", page.get_by_label(re.compile("username", re.IGNORECASE)), failed)
    page.get_by_label(re.compile("username", re.IGNORECASE)).fill("admin")
    page.get_by_label(re.compile("password", re.IGNORECASE)).fill(password)
    shot(page, "1-login")
    page.get_by_role("button", name=re.compile("sign in", re.IGNORECASE)).click()
    page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"))  # logged in: away from the form

    open_rendered(
        page, f"{ui}/dags", page.get_by_role("link", name="s3_ingest", exact=True), failed
    )
    expect(page.get_by_role("link", name="clickhouse_db_sync", exact=True)).to_be_visible()
    shot(page, "2-dags")
    page.get_by_role("link", name="s3_ingest", exact=True).click()
    expect(page).to_have_url(re.compile("/dags/s3_ingest"))

    run = f"{ui}/dags/s3_ingest/runs/{quote(run_id, safe='')}"
    open_rendered(page, run, page.get_by_text(run_id), failed)
    expect(page.get_by_text("Success").first).to_be_visible()
    expect(page.get_by_role("link", name="ingest.transform", exact=True)).to_be_visible()
    shot(page, "3-run")

    open_rendered(
        page,
        f"{run}/tasks/ingest.transform/mapped/{map_index}",
        page.get_by_text("RustTask"),
        failed,
    )
    expect(page.get_by_text(line).first).to_be_visible()  # the task's own line, from S3
    path = shot(page, "4-transform-log")
    print(f"screenshots: {SHOTS} (last: {path.name})")
