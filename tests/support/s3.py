"""The S3 server for tests, and clients for it.

The server is the one every test level uses (hack/s3-server.sh, docs/s3-server.md). When
S3_ENDPOINT_URL is set, the tests use that server and the AWS_* credentials in the
environment (e.g. after `set -a; . "$(hack/s3-server.sh env)"; set +a`). Otherwise
:func:`s3_server` starts a private one (own port, own state dir) and stops it at the end.

Only the standard library, pytest, boto3 and this package: the root tests import it as
``tests.support.s3``, tasks/python's tests as ``support.s3``.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# No boto3 stubs in either dev group (boto3-stubs' s3 extra for boto3 1.44 isn't published),
# so the boto3 layer is typed Any. (tasks/python's mypy ignores boto3's missing types itself.)
import boto3  # type: ignore[import-untyped,unused-ignore]
import pytest
from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

S3Client = Any
ClientFactory = Callable[..., S3Client]

REPO_ROOT = Path(__file__).resolve().parents[2]
S3_SERVER_SCRIPT = REPO_ROOT / "hack" / "s3-server.sh"
# A cold build of the server takes about 2 minutes on 2 cores; a cached one starts in < 1 s.
START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 60


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (the format hack/s3-server.sh writes); blanks and # comments skipped."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def settings_from(values: Mapping[str, str]) -> S3Settings:
    """S3Settings from S3_ENDPOINT_URL and the AWS_* values; fails the test if one is missing."""
    missing = [
        k
        for k in ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        if not values.get(k)
    ]
    if missing:
        pytest.fail(f"S3 settings incomplete, missing: {', '.join(missing)}")
    return S3Settings(
        endpoint_url=values["S3_ENDPOINT_URL"],
        access_key_id=values["AWS_ACCESS_KEY_ID"],
        secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        region=values.get("AWS_REGION") or "us-east-1",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def s3_server(state_dir: Path) -> Iterator[S3Settings]:
    """The server S3_ENDPOINT_URL names, else a private one in ``state_dir``, stopped after."""
    if os.environ.get("S3_ENDPOINT_URL"):
        yield settings_from(os.environ)
        return

    env = {**os.environ, "S3_STATE_DIR": str(state_dir), "S3_PORT": str(_free_port())}
    started = subprocess.run(
        [str(S3_SERVER_SCRIPT), "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    try:
        if started.returncode != 0:
            pytest.fail(f"hack/s3-server.sh start failed ({started.returncode}):\n{started.stderr}")
        env_file = Path(started.stdout.strip().splitlines()[-1])
        yield settings_from(read_env_file(env_file))
    finally:
        subprocess.run(
            [str(S3_SERVER_SCRIPT), "stop"],
            env=env,
            capture_output=True,
            timeout=STOP_TIMEOUT_S,
            check=False,
        )


def new_client(settings: S3Settings, **overrides: str) -> S3Client:
    """A new client for the server: SigV4, path-style, bounded timeouts and retries.

    Keyword arguments override the settings' credentials (access_key_id, secret_access_key).
    """
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=overrides.get("access_key_id", settings.access_key_id),
        aws_secret_access_key=overrides.get("secret_access_key", settings.secret_access_key),
        region_name=settings.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=30,
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=16,
        ),
    )


def empty_bucket(client: S3Client, bucket: str) -> None:
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[dict[str, str]] = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
