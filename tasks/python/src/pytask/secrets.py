"""Which configuration values are secret, and how a task reads them.

Secrets arrive from Kubernetes Secrets as env vars (``PYTASK_X_PASSWORD``) or as files
(``PYTASK_X_PASSWORD_FILE``). Knowing which names are secret in one place is what lets every
report of configuration redact them, so a value can never leak into a log or xcom.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pytask.errors import UsageError

REDACTED = "[redacted]"
SECRET_SUFFIXES = ("_PASSWORD", "_SECRET", "_TOKEN", "_KEY")


def is_secret_name(name: str) -> bool:
    """Tell whether a config key holds a secret value.

    >>> is_secret_name("PYTASK_SOURCE_PASSWORD"), is_secret_name("PYTASK_SOURCE_HOST")
    (True, False)
    >>> is_secret_name("PYTASK_S3_SECRET_ACCESS_KEY_FILE")  # a path to a secret, not a secret
    False
    """
    return name.upper().endswith(SECRET_SUFFIXES)


def redacted_env(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Every variable under ``prefix``, sorted by name, secret values replaced.

    >>> redacted_env({"PYTASK_A_TOKEN": "t0k", "PYTASK_B": "1", "HOME": "/root"}, "PYTASK_")
    {'PYTASK_A_TOKEN': '[redacted]', 'PYTASK_B': '1'}
    """
    return {
        name: (REDACTED if is_secret_name(name) else value)
        for name, value in sorted(env.items())
        if name.startswith(prefix)
    }


def read_secret(env: Mapping[str, str], name: str) -> str | None:
    """The value of secret ``name`` from the env, or from the file ``name + "_FILE"`` names.

    Setting both is ambiguous and refused; a named file that can't be read is a usage error
    naming the variable (never the value).
    """
    direct = env.get(name)
    file_var = f"{name}_FILE"
    path = env.get(file_var)
    if direct is not None and path is not None:
        raise UsageError(f"expected only one of {name} and {file_var} to be set, got both")
    if path is None:
        return direct
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        raise UsageError(
            f"expected {file_var} to name a readable file, got: {path!r} ({exc.strerror})"
        ) from exc
