"""The Airflow deployed on the cluster, driven as its users drive it: through its REST API
(`/api/v2`, behind a `kubectl port-forward` to the api-server), logged in as the UI's admin
user from the generated Secret `airflow-users`. Runs are triggered with their conf, executed by
the scheduler's KubernetesExecutor, and read back — task states and tries, results (xcom) and
task logs (served from S3 once the pods are gone) — into a `DagRun`."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from platform_driver.cluster import Cluster

TaskKey = tuple[str, int]  # (task_id, map_index); -1 for a task that isn't mapped
API_SERVICE = "airflow-api-server"
API_PORT = 8080
USERS_SECRET = "airflow-users"  # noqa: S105 - the Secret's name, not a password
ADMIN = "admin"
FINISHED = frozenset({"success", "failed"})
TI_FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed"})
# What Airflow's log reader says while a try's log is on its worker pod, not yet in S3.
NOT_UPLOADED = "Could not read served logs"


class AirflowError(RuntimeError):
    """The API refused a call or a run never finished (a failed run is a result, not this)."""


@dataclass
class TaskInstance:
    state: str | None
    try_number: int
    start: float | None
    end: float | None

    @property
    def seconds(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass
class DagRun:
    """One DAG run as Airflow recorded it: states, results (xcom) and every try's task log."""

    dag_id: str
    run_id: str
    state: str
    seconds: float
    tasks: dict[TaskKey, TaskInstance]
    results: dict[TaskKey, Any]
    logs: str

    def results_of(self, task_id: str) -> list[Any]:
        """The return values of a task, every map index, in index order."""
        return [v for (t, _), v in sorted(self.results.items()) if t == task_id]

    def states_of(self, task_id: str) -> list[str | None]:
        return [ti.state for (t, _), ti in sorted(self.tasks.items()) if t == task_id]

    def tries(self) -> set[tuple[str, int, int]]:
        """(task_id, map_index, try) of every try the scheduler started (a task skipped or
        failed upstream before it was scheduled has try number 0)."""
        return {
            (task_id, index, n)
            for (task_id, index), ti in self.tasks.items()
            for n in range(1, ti.try_number + 1)
        }


def epoch(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def log_text(content: list[Any]) -> str:
    """A task log as text: each structured record's event, then its other fields as JSON."""
    lines = []
    for record in content:
        if isinstance(record, dict):
            rest = {k: v for k, v in record.items() if k not in ("event", "timestamp")}
            lines.append(f"{record.get('event', '')} {json.dumps(rest) if rest else ''}".rstrip())
        else:
            lines.append(str(record))
    return "\n".join(lines)


@dataclass
class Airflow:
    """A logged-in client of one api-server (see `connect`)."""

    http: httpx.Client

    @classmethod
    @contextmanager
    def connect(cls, cluster: Cluster, user: str = ADMIN) -> Iterator[Airflow]:
        """Port-forward to the api-server, log in as `user` (password from the Secret)."""
        password = cluster.secret(USERS_SECRET)[user]
        with (
            cluster.port_forward(API_SERVICE, API_PORT) as port,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
        ):
            http.headers["Authorization"] = f"Bearer {cls.login(http, user, password)}"
            yield cls(http)

    @staticmethod
    def login(http: httpx.Client, user: str, password: str) -> str:
        """A JWT for the REST API (SimpleAuthManager's `POST /auth/token`)."""
        answer = http.post("/auth/token", json={"username": user, "password": password})
        if answer.status_code != httpx.codes.CREATED:
            raise AirflowError(f"login as {user} answered {answer.status_code}: {answer.text}")
        token: str = answer.json()["access_token"]
        return token

    # ----------------------------------------------------------------------- calls

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        *,
        missing_ok: bool = False,
    ) -> Any:
        """One REST call; its JSON answer (None for a 404 when `missing_ok`). AirflowError
        names the call and Airflow's answer."""
        answer = self.http.request(method, f"/api/v2{path}", json=body, params=query)
        if missing_ok and answer.status_code == httpx.codes.NOT_FOUND:
            return None
        if answer.is_error:
            raise AirflowError(
                f"{method} {path} answered {answer.status_code}: {answer.text[:2000]}"
            )
        return answer.json()

    def get(self, path: str, *, missing_ok: bool = False, **query: Any) -> Any:
        return self.call("GET", path, query=query or None, missing_ok=missing_ok)

    @staticmethod
    def quote(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    def run_path(self, dag_id: str, run_id: str, task_id: str | None = None) -> str:
        """`/dags/<dag>/dagRuns/<run>`, or one of its task instances, each part quoted."""
        path = f"/dags/{self.quote(dag_id)}/dagRuns/{self.quote(run_id)}"
        return path if task_id is None else f"{path}/taskInstances/{self.quote(task_id)}"

    # ------------------------------------------------------------------------ dags

    def wait_for_dag(self, dag_id: str, timeout_s: float = 300) -> None:
        """Until the dag-processor has parsed the DAG (right after a deploy it may not have);
        a DAG file that fails to import is reported at once, with Airflow's error."""
        deadline = time.monotonic() + timeout_s
        while self.get(f"/dags/{self.quote(dag_id)}", missing_ok=True) is None:
            errors = self.get("/importErrors").get("import_errors", [])
            if errors:
                raise AirflowError(f"DAG import errors: {errors}")
            if time.monotonic() > deadline:
                raise AirflowError(f"DAG {dag_id} not parsed within {timeout_s:.0f} s")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """A new run of the DAG with this conf, unpaused first; its run id."""
        self.wait_for_dag(dag_id)
        self.call("PATCH", f"/dags/{self.quote(dag_id)}", {"is_paused": False})
        made = self.call(
            "POST",
            f"/dags/{self.quote(dag_id)}/dagRuns",
            {"logical_date": None, "conf": conf or {}},
        )
        run_id: str = made["dag_run_id"]
        return run_id

    def wait(self, dag_id: str, run_id: str, timeout_s: float = 1800, progress: bool = True) -> str:
        """The run's final state (success or failed), polled every 2 s; with `progress`, a
        line at least every 30 s saying how far it got, so a long run never looks hung."""
        t0 = time.monotonic()
        path = self.run_path(dag_id, run_id)
        said, said_at = "", t0
        while time.monotonic() < t0 + timeout_s:
            state: str = self.get(path)["state"]
            if state in FINISHED:
                return state
            now = time.monotonic()
            if progress and now - said_at >= 10:
                line = self.progress(dag_id, run_id)
                if line != said or now - said_at >= 30:
                    print(f"  {dag_id}: {state}, {line} ({now - t0:.0f} s)", flush=True)
                    said, said_at = line, now
            time.sleep(2)
        raise AirflowError(f"run {run_id} of {dag_id} not finished after {timeout_s:.0f} s")

    def progress(self, dag_id: str, run_id: str) -> str:
        """'3 success, 1 running, 2 queued': the run's task instances by state."""
        counts: dict[str, int] = {}
        for ti in self.task_instances(dag_id, run_id):
            state = ti["state"] or "waiting"
            counts[state] = counts.get(state, 0) + 1
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))

    def run(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout_s: float = 1800
    ) -> DagRun:
        """Trigger a run, follow it to the end, read back what it did."""
        t0 = time.monotonic()
        run_id = self.trigger(dag_id, conf)
        state = self.wait(dag_id, run_id, timeout_s)
        return self.read(dag_id, run_id, state, time.monotonic() - t0)

    # ------------------------------------------------------------------ read back

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"{self.run_path(dag_id, run_id)}/taskInstances"
        found: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=100, offset=len(found))
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def result(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
        """A task's return value (xcom), or None when it returned nothing."""
        found = self.get(
            f"{self.run_path(dag_id, run_id, task_id)}/xcomEntries/return_value",
            missing_ok=True,
            map_index=map_index,
        )
        if found is None:
            return None
        value = found["value"]
        return json.loads(value) if isinstance(value, str) else value

    def log(self, dag_id: str, run_id: str, task_id: str, map_index: int, attempt: int) -> str:
        """One try's task log, as Airflow serves it (S3 once the pods are gone); a try whose
        worker never started its task has none."""
        found = self.get(
            f"{self.run_path(dag_id, run_id, task_id)}/logs/{attempt}",
            missing_ok=True,
            map_index=map_index,
            full_content="true",
        )
        if found is None:
            return "(no log: this try never started its task)"
        return log_text(found.get("content") or [])

    def settled_log(
        self, dag_id: str, run_id: str, key: TaskKey, attempt: int, timeout_s: float = 30
    ) -> str:
        """A finished try's log once its worker has uploaded it: the worker reports the
        task's state first and uploads the log as it exits, so right after a run ends Airflow
        may still look for it on the (gone) worker pod."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.log(dag_id, run_id, *key, attempt)
            if NOT_UPLOADED not in text or time.monotonic() > deadline:
                return text
            time.sleep(2)

    def read(self, dag_id: str, run_id: str, state: str, seconds: float) -> DagRun:
        tasks: dict[TaskKey, TaskInstance] = {}
        results: dict[TaskKey, Any] = {}
        logs: list[str] = []
        for ti in self.task_instances(dag_id, run_id):
            key = (ti["task_id"], ti["map_index"])
            tasks[key] = TaskInstance(
                ti["state"], ti["try_number"], epoch(ti["start_date"]), epoch(ti["end_date"])
            )
            if ti["state"] == "success":
                value = self.result(dag_id, run_id, *key)
                if value is not None:
                    results[key] = value
            for attempt in range(1, ti["try_number"] + 1):
                header = f"--- {key[0]}[{key[1]}] try {attempt} ---"
                last = attempt == ti["try_number"] and ti["state"] in TI_FINISHED
                text = self.settled_log(dag_id, run_id, key, attempt) if last else None
                logs.append(f"{header}\n{text or self.log(dag_id, run_id, *key, attempt)}")
        return DagRun(dag_id, run_id, state, seconds, tasks, results, "\n".join(logs))
