"""Does `extask discover` cost follow the backlog rather than the ledger's history? The real
release against the project's S3 server (hack/s3-server.sh) on loopback, two buckets with
the same 100 new raw objects:

* empty: nothing in the ledger;
* year: 100,000 ingested markers in `ledger/ingested/` for other raw keys of the same
  providers (what a year of ingesting ~275 objects a day leaves): real objects the server
  stores, lists and serves, PUT before the clock starts by 16 threads, each on its own
  keep-alive connection with a minimal SigV4 signer (`UNSIGNED-PAYLOAD`) — about 3x what
  boto3 manages here, so the server's own ~1,000 PUT/s on 2 cores is the limit (~100 s);
  the seeded count is checked by listing them.

Each round resets both buckets to "never discovered" (the run's manifests and the 100
arrival markers deleted, outside the clock), then runs `extask discover --run-id …` once per
bucket, alternating which goes first; wall time (perf_counter around the process) and
peak RSS (`/usr/bin/time -f %M`, else wait4()) per run. Reported: the median and best of
`--rounds`, and year/empty ratios (the target: at most 2x for both). For reference, the
time boto3 takes to merely list the 100,000 markers — what discover did before it looked
up each raw key's marker instead.

The release is built with `MIX_ENV=prod mix release` into the temp dir (seconds once
tasks/elixir's prod build is compiled; a cold compile takes a minute or two), or
`--extask PATH` names an `extask-cli` already built (e.g. of another commit, to compare).

    python -m bench.discover_ledger [--markers 100000] [--objects 100] [--rounds 5]
                                    [--extask PATH/bin/extask-cli]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[1]
ELIXIR = REPO_ROOT / "tasks" / "elixir"
S3_SERVER = REPO_ROOT / "hack" / "s3-server.sh"
TIME = Path("/usr/bin/time")
PROVIDERS = ("acme", "betco", "opta", "stats_perform")
SEED_THREADS = 16


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def s3_server(state_dir: Path) -> Iterator[dict[str, str]]:
    """A private server (free port, own state dir): its env file's values; stopped after."""
    env = {**os.environ, "S3_STATE_DIR": str(state_dir), "S3_PORT": str(free_port())}
    started = subprocess.run(
        [str(S3_SERVER), "start"], env=env, capture_output=True, text=True, check=False
    )
    try:
        if started.returncode != 0:
            raise RuntimeError(f"hack/s3-server.sh start failed:\n{started.stderr}")
        env_file = Path(started.stdout.strip().splitlines()[-1])
        values = dict(
            line.removeprefix("export ").split("=", 1)
            for line in env_file.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        yield values
    finally:
        subprocess.run([str(S3_SERVER), "stop"], env=env, capture_output=True, check=False)


def s3_client(s3env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3env["S3_ENDPOINT_URL"],
        region_name=s3env.get("AWS_REGION") or "us-east-1",
        aws_access_key_id=s3env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3env["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )


def build_release(dest: Path) -> Path:
    """`MIX_ENV=prod mix release` into `dest`; the path of its `bin/extask-cli`."""
    print(f"building the extask release into {dest} (MIX_ENV=prod mix release) …", flush=True)
    subprocess.run(
        ["mix", "release", "--overwrite", "--quiet", "--path", str(dest)],
        cwd=ELIXIR,
        env={**os.environ, "MIX_ENV": "prod"},
        check=True,
    )
    return dest / "bin" / "extask-cli"


def new_objects(count: int) -> list[tuple[str, bytes]]:
    """`count` new raw objects (about 1 KB each), spread over the providers."""
    return [
        (
            f"raw/{PROVIDERS[i % len(PROVIDERS)]}/2026/12/06/feed-{i:04d}.csv.gz",
            f"delivery {i}\n".encode() * 80,
        )
        for i in range(count)
    ]


def history_marker(bucket: str, i: int) -> tuple[str, bytes]:
    """Marker `i` of a year of ingested objects: raw/<provider>/2025/MM/DD/feed-NNNN.csv.gz."""
    provider = PROVIDERS[i % len(PROVIDERS)]
    day = (i // len(PROVIDERS)) % 365
    month, mday = 1 + day // 31 % 12, 1 + day % 28
    raw_key = f"raw/{provider}/2025/{month:02d}/{mday:02d}/feed-{i:06d}.csv.gz"
    etag = f"{i:032x}"
    marker = {
        "key": raw_key,
        "size": 1000 + i % 5000,
        "etag": etag,
        "archive_bucket": bucket,
        "archive_key": "archive/" + raw_key,
        "archive_etag": etag,
        "run_id": f"scheduled__2025-{month:02d}-{mday:02d}T06:00:00+00:00",
        "manifest": f"manifests/scheduled__2025-{month:02d}-{mday:02d}/batch-0001.json",
        "ingested_at": f"2025-{month:02d}-{mday:02d}T06:10:00.000Z",
        "outcome": "archived",
        "reason": None,
    }
    return f"ledger/ingested/{raw_key}.json", json.dumps(marker, separators=(",", ":")).encode()


class FastPut:
    """PutObject for seeding: SigV4 (header auth, `UNSIGNED-PAYLOAD`, path style) over one
    keep-alive `http.client` connection per thread. boto3's per-request overhead (~3 ms of
    Python per PUT, under the GIL) would make the client the bottleneck."""

    def __init__(self, s3env: dict[str, str]) -> None:
        url = urlsplit(s3env["S3_ENDPOINT_URL"])
        if url.scheme != "http" or not url.netloc:
            raise ValueError(f"expected an http:// endpoint, got {s3env['S3_ENDPOINT_URL']}")
        self.host = url.netloc
        self.region = s3env.get("AWS_REGION") or "us-east-1"
        self.key_id = s3env["AWS_ACCESS_KEY_ID"]
        self.secret = s3env["AWS_SECRET_ACCESS_KEY"]
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, timeout=60)
        return conn

    def _authorization(self, path: str, headers: dict[str, str], amz_date: str) -> str:
        day = amz_date[:8]
        names = sorted(headers)
        canonical = "\n".join(
            [
                "PUT",
                path,
                "",
                "".join(f"{name}:{headers[name]}\n" for name in names),
                ";".join(names),
                "UNSIGNED-PAYLOAD",
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return (
            f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )

    def put(self, bucket: str, key: str, body: bytes) -> None:
        path = f"/{bucket}/{quote(key, safe='/~')}"
        amz_date = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {
            "content-length": str(len(body)),
            "host": self.host,
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
            "x-amz-date": amz_date,
        }
        headers["authorization"] = self._authorization(path, headers, amz_date)
        for attempt in range(3):
            conn = self._connection()
            try:
                conn.request("PUT", path, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise RuntimeError(f"PUT {path}: HTTP {response.status}: {text[:300]!r}")
            return


def put_all(s3env: dict[str, str], bucket: str, objects: Iterable[tuple[str, bytes]]) -> int:
    """PUTs every `(key, body)`, SEED_THREADS at once; the number PUT."""
    putter = FastPut(s3env)
    count = 0
    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        for _ in pool.map(lambda item: putter.put(bucket, *item), objects):
            count += 1
    return count


def keys_under(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def reset(client: Any, bucket: str) -> None:
    """Back to "never discovered": the manifests and arrival markers discover wrote go."""
    keys = keys_under(client, bucket, "manifests/") + keys_under(client, bucket, "ledger/arrivals/")
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def discover(
    binary: Path, env: dict[str, str], run_id: str, tmp: Path, expected: int
) -> tuple[float, int]:
    """One `extask discover` (checked to find `expected` new objects): wall s, peak RSS KiB."""
    result, rss_file = tmp / f"{run_id}.json", tmp / f"{run_id}.rss"
    timer = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] if TIME.exists() else []
    args = [*timer, str(binary), "discover", "--run-id", run_id, "--result-file", str(result)]
    t0 = time.perf_counter()
    with subprocess.Popen(args, env=env, stderr=subprocess.PIPE) as proc:
        stderr = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"extask discover exited {proc.returncode}: {stderr.decode()}")
    counts = json.loads(result.read_text())["counts"]
    if counts["objects"] != expected:
        raise RuntimeError(f"expected {expected} new objects, got {counts}")
    maxrss = int(rss_file.read_text().split()[-1]) if timer else usage.ru_maxrss
    return seconds, maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markers", type=int, default=100_000, help="ledger markers (year)")
    parser.add_argument("--objects", type=int, default=100, help="new raw objects (both)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per bucket")
    parser.add_argument("--extask", type=Path, help="a built bin/extask-cli (default: build)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-discover-") as tmp_name:
        tmp = Path(tmp_name)
        binary = args.extask.resolve() if args.extask else build_release(tmp / "rel")
        with s3_server(tmp / "s3") as s3env:
            client = s3_client(s3env)
            buckets = {"empty": "bench-empty", "year": "bench-year"}
            for bucket in buckets.values():
                client.create_bucket(Bucket=bucket)
                put_all(s3env, bucket, new_objects(args.objects))

            t0 = time.perf_counter()
            seeded = put_all(
                s3env,
                buckets["year"],
                (history_marker(buckets["year"], i) for i in range(args.markers)),
            )
            seed_s = time.perf_counter() - t0
            print(
                f"seeded {seeded:,} ledger markers in {seed_s:.1f} s"
                f" ({seeded / seed_s:,.0f} PUT/s, {SEED_THREADS} threads)",
                flush=True,
            )
            t0 = time.perf_counter()
            listed = len(keys_under(client, buckets["year"], "ledger/ingested/"))
            list_s = time.perf_counter() - t0
            if listed != args.markers:
                raise RuntimeError(f"listed {listed} markers, seeded {args.markers}")
            sample_key, sample = history_marker(buckets["year"], args.markers - 1)
            got = client.get_object(Bucket=buckets["year"], Key=sample_key)["Body"].read()
            if got != sample:
                raise RuntimeError(f"{sample_key} does not read back as seeded")

            base_env = {
                "PATH": os.environ.get("PATH", ""),
                "LANG": "C",
                "EXTASK_S3_ENDPOINT_URL": s3env["S3_ENDPOINT_URL"],
                "EXTASK_S3_REGION": s3env.get("AWS_REGION") or "us-east-1",
                "EXTASK_S3_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
                "EXTASK_S3_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"],
                "EXTASK_SCRATCH_DIR": str(tmp),
            }
            runs: dict[str, list[tuple[float, int]]] = {name: [] for name in buckets}
            for n in range(args.rounds):
                order = list(buckets) if n % 2 == 0 else list(reversed(buckets))
                for name in order:
                    reset(client, buckets[name])
                    env = {**base_env, "EXTASK_BUCKET": buckets[name]}
                    run_id = f"bench-{name}-{n}"
                    runs[name].append(discover(binary, env, run_id, tmp, args.objects))

    print(
        f"extask discover, {args.objects} new raw objects; {os.cpu_count()} CPUs, client and"
        f" server on one machine; {args.rounds} rounds"
    )
    print(f"{'ledger':<28} {'median s':>9} {'best s':>7} {'median RSS MB':>14} {'max RSS MB':>11}")
    medians: dict[str, tuple[float, float]] = {}
    for name, label in (("empty", "empty"), ("year", f"{args.markers:,} markers")):
        secs = [s for s, _ in runs[name]]
        rss = [r / 1024 for _, r in runs[name]]
        medians[name] = (statistics.median(secs), statistics.median(rss))
        print(
            f"{label:<28} {medians[name][0]:>9.2f} {min(secs):>7.2f}"
            f" {medians[name][1]:>14.1f} {max(rss):>11.1f}"
        )
    time_ratio = medians["year"][0] / medians["empty"][0]
    rss_ratio = medians["year"][1] / medians["empty"][1]
    verdict = "ok" if time_ratio <= 2 and rss_ratio <= 2 else "ABOVE TARGET"
    print(
        f"ratios year/empty (medians; target <= 2x): wall {time_ratio:.2f}x,"
        f" peak RSS {rss_ratio:.2f}x — {verdict}"
    )
    print(
        f"for reference: listing the {args.markers:,} markers alone (boto3, what discover did"
        f" before) takes {list_s:.1f} s"
    )


if __name__ == "__main__":
    main()
