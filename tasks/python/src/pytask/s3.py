"""S3 settings from env and a boto3 client for them.

``PYTASK_S3_ENDPOINT_URL`` (unset: AWS), ``PYTASK_S3_REGION``, ``PYTASK_S3_ACCESS_KEY_ID``,
``PYTASK_S3_SECRET_ACCESS_KEY`` (or ``_FILE``), ``PYTASK_S3_CA_FILE``; path-style addressing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytask import ENV_PREFIX
from pytask.errors import PermanentError, TransientError, UsageError
from pytask.secrets import read_secret


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Settings:
        key_id = env.get(f"{ENV_PREFIX}S3_ACCESS_KEY_ID")
        secret = read_secret(env, f"{ENV_PREFIX}S3_SECRET_ACCESS_KEY")
        if not key_id or not secret:
            raise UsageError(
                f"expected {ENV_PREFIX}S3_ACCESS_KEY_ID and {ENV_PREFIX}S3_SECRET_ACCESS_KEY "
                "to be set, got: "
                + ", ".join(n for n, v in (("no key id", key_id), ("no secret", secret)) if not v)
            )
        return cls(
            endpoint_url=env.get(f"{ENV_PREFIX}S3_ENDPOINT_URL") or None,
            region=env.get(f"{ENV_PREFIX}S3_REGION") or "us-east-1",
            access_key_id=key_id,
            secret_access_key=secret,
            ca_file=env.get(f"{ENV_PREFIX}S3_CA_FILE") or None,
        )

    def client(self) -> Any:
        import boto3  # noqa: PLC0415 - heavy import, only for commands that use S3
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            verify=self.ca_file if self.ca_file else True,
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 4, "mode": "standard"}
            ),
        )


def classify(exc: Exception, what: str) -> Exception:
    """A botocore failure as the contract's kind: 4xx permanent, the rest transient."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        code = exc.response.get("Error", {}).get("Code", "")
        if 400 <= status < 500 and status not in (408, 429):
            return PermanentError(f"{what}: {code or status}")
    return TransientError(f"{what}: {type(exc).__name__}")
