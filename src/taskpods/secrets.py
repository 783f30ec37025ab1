"""Secrets by reference only: Kubernetes Secrets as env vars or files, never literal values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

SECRET_SUFFIXES = ("_PASSWORD", "_SECRET", "_TOKEN", "_KEY")
SECRETS_MOUNT_ROOT = "/var/run/secrets/polyetl"


def is_secret_name(name: str) -> bool:
    """The contract's rule (docs/task-contract.md, section 2).

    >>> is_secret_name("RSTASK_S3_SECRET_ACCESS_KEY"), is_secret_name("PYTASK_DEST_PASSWORD_FILE")
    (True, False)
    """
    return name.upper().endswith(SECRET_SUFFIXES)


@dataclass(frozen=True)
class SecretEnv:
    """Env var ``name`` taken from key ``key`` of Kubernetes Secret ``secret``."""

    name: str
    secret: str
    key: str

    def to_kpo(self) -> Secret:
        return Secret("env", self.name, self.secret, self.key)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class SecretFile:
    """Key ``key`` of Secret ``secret`` as a file; ``name`` (ending ``_FILE``) points to it.

    The task reads ``<NAME>_FILE`` (the contract's file indirection), so the value never
    enters the pod's environment.
    """

    name: str
    secret: str
    key: str

    @property
    def mount_dir(self) -> str:
        """One read-only mount per (secret, key), holding only that key."""
        return f"{SECRETS_MOUNT_ROOT}/{self.secret}.{self.key}"

    @property
    def path(self) -> str:
        return f"{self.mount_dir}/{self.key}"

    def to_kpo(self) -> Secret:
        items = [k8s.V1KeyToPath(key=self.key, path=self.key)]
        return Secret("volume", self.mount_dir, self.secret, self.key, items=items)  # type: ignore[no-untyped-call]


def refuse_literal_secrets(env_vars: Mapping[str, str] | None, task_id: str) -> None:
    """Secret-named env vars may only come from Kubernetes Secrets, never from DAG code."""
    literal = sorted(name for name in env_vars or {} if is_secret_name(name))
    if literal:
        raise ValueError(
            f"task {task_id!r}: expected secrets only as SecretEnv/SecretFile references, "
            f"got literal values for: {', '.join(literal)}"
        )
