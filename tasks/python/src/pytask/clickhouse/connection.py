"""Connections to the source and destination servers, from env only.

``PYTASK_<ROLE>_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD`` (or ``_PASSWORD_FILE``), and the TLS
switches ``_SECURE`` (HTTPS), ``_VERIFY`` (certificate check, on by default) and ``_CA_FILE``;
ROLE is ``SOURCE`` or ``DEST``. For server-side copies, ``_NATIVE_HOST`` and ``_NATIVE_PORT``
say how the other server reaches this one over the native protocol (default: the same host;
9000, or 9440 when secure) — they differ from what the task sees when the servers share a
network of their own. Credentials never come from flags and never reach a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytask import ENV_PREFIX
from pytask.config import quote
from pytask.errors import TransientError, UsageError
from pytask.secrets import read_secret

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off env setting.

    >>> boolean({"X": "true"}, "X", False), boolean({}, "X", True)
    (True, True)
    """
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise UsageError(f"expected {name} to be true or false, got: {quote(raw)}")


def _port(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name) or default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise UsageError(f"expected {name} to be a port number, got: {quote(raw)}")
    return int(raw)


@dataclass(frozen=True)
class Server:
    """Where and how to reach one ClickHouse server over HTTP(S)."""

    role: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    secure: bool = False
    verify: bool = True
    ca_file: str | None = None
    native_host: str = ""  # how the other server reaches this one for remote(): default host
    native_port: int = 9000

    @classmethod
    def from_env(cls, env: Mapping[str, str], role: str) -> Server:
        prefix = f"{ENV_PREFIX}{role}_"
        host = env.get(f"{prefix}HOST")
        if not host:
            raise UsageError(f"expected {prefix}HOST to name the {role.lower()} server, got none")
        secure = boolean(env, f"{prefix}SECURE", False)
        return cls(
            role=role,
            host=host,
            port=_port(env, f"{prefix}PORT", "8443" if secure else "8123"),
            user=env.get(f"{prefix}USER") or "default",
            password=read_secret(env, f"{prefix}PASSWORD") or "",
            secure=secure,
            verify=boolean(env, f"{prefix}VERIFY", True),
            ca_file=env.get(f"{prefix}CA_FILE") or None,
            native_host=env.get(f"{prefix}NATIVE_HOST") or host,
            native_port=_port(env, f"{prefix}NATIVE_PORT", "9440" if secure else "9000"),
        )

    @property
    def address(self) -> str:
        """``https://host:port`` — for logs: never with credentials."""
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"

    def connect(self, **settings: Any) -> Any:
        """A clickhouse-connect client; an unreachable server is a transient failure."""
        import clickhouse_connect  # noqa: PLC0415 - heavy import, only for commands that talk to ClickHouse
        from clickhouse_connect.driver.exceptions import OperationalError  # noqa: PLC0415

        try:
            return clickhouse_connect.get_client(
                host=self.host,
                port=self.port,
                username=self.user,
                password=self.password,
                secure=self.secure,
                verify=self.verify,
                ca_cert=self.ca_file,
                settings=settings or None,
                connect_timeout=10,
                send_receive_timeout=300,
            )
        except OperationalError as exc:
            raise TransientError(
                f"cannot reach the {self.role.lower()} server at {self.address}"
            ) from exc
