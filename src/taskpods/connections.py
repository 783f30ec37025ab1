"""What a task connects to, said once in DAG terms; the operator turns it into its tool's env.

Every tool reads its settings from env vars under its own prefix (``PYTASK_``, ``RSTASK_``,
``EXTASK_``: the contract's flag fallbacks). A DAG names the bucket or the ClickHouse
connection and the run's options; the operator, which knows its tool's prefix, writes the
variables — so a DAG never types a prefix, and secrets stay references to Kubernetes Secrets.

    RustTask(
        task_id="transform",
        command=["transform", "--manifest", manifest],
        connections=[S3Bucket("{{ params.bucket }}", endpoint="{{ params.s3_endpoint }}")],
    )
"""

from __future__ import annotations

from dataclasses import dataclass

from taskpods.secrets import SecretEnv


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on an S3 endpoint; the credentials are keys ``access_key_id`` and
    ``secret_access_key`` of the Kubernetes Secret ``secret``. Every field may be a template."""

    bucket: str
    endpoint: str
    region: str = "us-east-1"
    secret: str = "s3-credentials"  # noqa: S105 - the Secret's name, not a value

    def env(self, prefix: str) -> dict[str, str]:
        """
        >>> S3Bucket("b", "http://s3:7070").env("RSTASK_")["RSTASK_S3_ENDPOINT_URL"]
        'http://s3:7070'
        """
        return {
            f"{prefix}S3_ENDPOINT_URL": self.endpoint,
            f"{prefix}S3_REGION": self.region,
            f"{prefix}BUCKET": self.bucket,
        }

    def secrets(self, prefix: str) -> list[SecretEnv]:
        return [
            SecretEnv(f"{prefix}S3_ACCESS_KEY_ID", self.secret, "access_key_id"),
            SecretEnv(f"{prefix}S3_SECRET_ACCESS_KEY", self.secret, "secret_access_key"),
        ]


CLICKHOUSE_KEYS = {"HOST": "host", "PORT": "port", "USER": "user", "PASSWORD": "password"}


@dataclass(frozen=True)
class ClickHouse:
    """A ClickHouse server held in the Kubernetes Secret ``secret`` (keys ``host``, ``port``,
    ``user``, ``password``), as the tool's ``role`` connection: ``DEST`` (where it writes;
    the default) or ``SOURCE``. ``secure``/``verify`` (TLS) may be templates rendering to
    ``true``/``false``; unset, the tool's defaults hold."""

    secret: str
    role: str = "DEST"
    secure: str | None = None
    verify: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ("SOURCE", "DEST"):
            raise ValueError(
                f"ClickHouse({self.secret!r}): expected role SOURCE or DEST, got: {self.role!r}"
            )

    def env(self, prefix: str) -> dict[str, str]:
        """
        >>> ClickHouse("ch", "SOURCE", secure="true").env("PYTASK_")
        {'PYTASK_SOURCE_SECURE': 'true'}
        """
        flags = {"SECURE": self.secure, "VERIFY": self.verify}
        return {f"{prefix}{self.role}_{k}": v for k, v in flags.items() if v is not None}

    def secrets(self, prefix: str) -> list[SecretEnv]:
        return [
            SecretEnv(f"{prefix}{self.role}_{var}", self.secret, key)
            for var, key in CLICKHOUSE_KEYS.items()
        ]


Connection = S3Bucket | ClickHouse
