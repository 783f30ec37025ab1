"""Deployment settings of the task pods: one place, read from the environment.

Every value has an env var (``POLYETL_*``); the image version can also be changed at run time
through the Airflow Variable ``polyetl_image_tag`` and per DAG run through Params (see
``taskpods.params``). Reading the environment is all that happens at DAG parse time; the
Variable is read only when a task executes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from taskpods.images import DEFAULT_REGISTRY, ImageRef, check_version

IMAGE_TAG_VARIABLE = "polyetl_image_tag"


TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


def _flag(raw: str | None, name: str) -> bool | None:
    """``POLYETL_DEFERRABLE=true``; unset or empty is None (the operators' own default).

    >>> _flag("True", "X"), _flag("", "X"), _flag("off", "X")
    (True, None, False)
    """
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in TRUE | FALSE:
        return value in TRUE
    raise ValueError(
        f"expected {name} to be one of {', '.join(sorted(TRUE | FALSE))}, got: {raw!r}"
    )


def _seconds(raw: str | None, name: str, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise ValueError(f"expected {name} to be a positive number of seconds, got: {raw!r}")
    return value


# Kubernetes' name rules (RFC 1123 label and subdomain; label values), the registry's host.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?$")
_PREFIX = re.compile(r"^([a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)?$")


def _matching(raw: str, pattern: re.Pattern[str], name: str, what: str) -> str:
    """
    >>> _matching("Polyetl", _DNS_LABEL, "POLYETL_NAMESPACE", "a DNS label")
    Traceback (most recent call last):
    ...
    ValueError: expected POLYETL_NAMESPACE to be a DNS label, got: 'Polyetl'
    """
    if not pattern.match(raw):
        raise ValueError(f"expected {name} to be {what}, got: {raw!r}")
    return raw


def _csv(raw: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (raw or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Where images come from and where and how task pods run."""

    registry: str = DEFAULT_REGISTRY
    repository_prefix: str = "polyetl"
    image_version: str | None = None
    allowed_registries: frozenset[str] = field(default_factory=frozenset)
    namespace: str = "polyetl"
    service_account: str = "polyetl-task"
    node_pool: str | None = None
    xcom_sidecar_image: str | None = None
    startup_timeout_s: int = 180
    kubernetes_conn_id: str = "kubernetes_default"
    # Defer while a task pod or Job runs (the worker pod goes away; the triggerer watches).
    # None: Airflow's own [operators] default_deferrable decides.
    deferrable: bool | None = None
    # How long a finished Job (and its result) is kept for an Airflow that was down to
    # collect it; a collected Job is deleted at once.
    job_ttl_s: int = 86400

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``POLYETL_*`` variables; unset ones keep their defaults."""
        e = os.environ if env is None else env
        host = "a registry host[:port]"
        registry = _matching(
            e.get("POLYETL_IMAGE_REGISTRY", DEFAULT_REGISTRY),
            _REGISTRY,
            "POLYETL_IMAGE_REGISTRY",
            host,
        )
        version = e.get("POLYETL_IMAGE_TAG") or None
        if version is not None:
            check_version(version, "POLYETL_IMAGE_TAG")
        allowed = frozenset(
            _matching(
                r, _REGISTRY, "POLYETL_ALLOWED_REGISTRIES", f"a comma-separated list of {host}"
            )
            for r in _csv(e.get("POLYETL_ALLOWED_REGISTRIES"))
        ) or frozenset({registry})
        node_pool = e.get("POLYETL_NODE_POOL") or None
        sidecar = e.get("POLYETL_XCOM_SIDECAR_IMAGE") or None
        if sidecar is not None:
            ImageRef.parse(sidecar, "POLYETL_XCOM_SIDECAR_IMAGE")
        return cls(
            registry=registry,
            repository_prefix=_matching(
                e.get("POLYETL_IMAGE_REPOSITORY_PREFIX", "polyetl"),
                _PREFIX,
                "POLYETL_IMAGE_REPOSITORY_PREFIX",
                "a repository path (lower-case, '/'-separated) or empty",
            ),
            image_version=version,
            allowed_registries=allowed,
            namespace=_matching(
                e.get("POLYETL_NAMESPACE", "polyetl"),
                _DNS_LABEL,
                "POLYETL_NAMESPACE",
                "a DNS label",
            ),
            service_account=_matching(
                e.get("POLYETL_SERVICE_ACCOUNT", "polyetl-task"),
                _DNS_SUBDOMAIN,
                "POLYETL_SERVICE_ACCOUNT",
                "a DNS subdomain",
            ),
            node_pool=node_pool
            and _matching(node_pool, _LABEL_VALUE, "POLYETL_NODE_POOL", "a label value"),
            xcom_sidecar_image=sidecar,
            startup_timeout_s=_seconds(
                e.get("POLYETL_POD_STARTUP_TIMEOUT"), "POLYETL_POD_STARTUP_TIMEOUT", 180
            ),
            kubernetes_conn_id=e.get("POLYETL_KUBERNETES_CONN_ID", "kubernetes_default"),
            deferrable=_flag(e.get("POLYETL_DEFERRABLE"), "POLYETL_DEFERRABLE"),
            job_ttl_s=_seconds(e.get("POLYETL_JOB_TTL_SECONDS"), "POLYETL_JOB_TTL_SECONDS", 86400),
        )

    def repository(self, name: str) -> str:
        """``polyetl/rstask`` for ``rstask``."""
        return f"{self.repository_prefix}/{name}" if self.repository_prefix else name
