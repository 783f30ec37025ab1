"""Common settings every command shares, resolved once from flags and env.

Flags win over their ``PYTASK_*`` fallbacks; the result is a frozen, typed value that the
rest of the code receives. Nothing reads the environment after this point, which is what
makes ``run(argv, env)`` testable in-process.
"""

from __future__ import annotations

import argparse
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pytask import ENV_PREFIX
from pytask.errors import UsageError

E = TypeVar("E", bound=enum.StrEnum)


class LogLevel(enum.StrEnum):
    """Log levels named as in every task's JSON lines."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class CommonSettings:
    """Settings of the contract's common flags."""

    result_file: Path | None
    log_level: LogLevel
    scratch_dir: Path


def quote(raw: str) -> str:
    """Quote a bad value for an error message the same way in every language.

    >>> print(quote('lo"ud'))
    "lo\\"ud"
    """
    return json.dumps(raw, ensure_ascii=False)


def env_name(flag: str) -> str:
    """The env fallback of a flag: ``--scratch-dir`` -> ``PYTASK_SCRATCH_DIR``.

    >>> env_name("--result-file")
    'PYTASK_RESULT_FILE'
    """
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def flag_or_env(
    ns: argparse.Namespace,
    dest: str,
    flag: str,
    env: Mapping[str, str],
    *,
    env_var: str | None = None,
) -> str | None:
    """The flag's value if given, else its env fallback (``env_var``, by default the flag's
    own :func:`env_name`), else None."""
    value = getattr(ns, dest, None)
    if value is not None:
        return str(value)
    return env.get(env_var or env_name(flag))


def choice(enum_type: type[E], raw: str, source: str) -> E:
    """Parse ``raw`` as a member of ``enum_type`` or raise a usage error naming ``source``.

    >>> choice(LogLevel, "warn", "--log-level")
    <LogLevel.WARN: 'warn'>
    >>> choice(LogLevel, "loud", "--log-level")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pytask.errors.UsageError: expected --log-level to be one of ..., got: "loud"
    """
    try:
        return enum_type(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_type)
        raise UsageError(f"expected {source} to be one of {allowed}, got: {quote(raw)}") from None


def non_empty_path(raw: str, source: str) -> Path:
    """A path from a flag or env value; empty strings are refused."""
    if not raw.strip():
        raise UsageError(f"expected {source} to be a path, got: {quote(raw)}")
    return Path(raw)


def whole_number(raw: str, source: str, *, maximum: int, unit: str) -> int:
    """Parse ``raw`` as a whole number from 0 to ``maximum`` (of ``unit``, for the message).

    >>> whole_number("20", "--hold", maximum=86400, unit="seconds")
    20
    >>> whole_number("-1", "PYTASK_HOLD", maximum=60, unit="seconds")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pytask.errors.UsageError: expected PYTASK_HOLD to be a whole number of ... 0 to 60, got: "-1"
    """
    # Digits only (int() would also take " 7", "+7", "7_0" and other scripts' digits), and
    # no longer than the maximum: int() refuses very long digit strings with an error.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum))) or (
        int(raw) > maximum
    ):
        raise UsageError(
            f"expected {source} to be a whole number of {unit} from 0 to {maximum}, "
            f"got: {quote(raw)}"
        )
    return int(raw)


def required_setting(
    ns: argparse.Namespace, dest: str, flag: str, env: Mapping[str, str], *, to: str
) -> str:
    """:func:`flag_or_env` for a setting that must be given; else a usage error saying what
    it is for (``to``: "name a table", "be set", ...).

    >>> required_setting(argparse.Namespace(table=None), "table", "--table", {}, to="name a table")
    Traceback (most recent call last):
    pytask.errors.UsageError: expected --table (or PYTASK_TABLE) to name a table, got none
    """
    value = flag_or_env(ns, dest, flag, env)
    if not value:
        raise UsageError(f"expected {flag} (or {env_name(flag)}) to {to}, got none")
    return value


def source_of(ns: argparse.Namespace, dest: str, flag: str, *, env_var: str | None = None) -> str:
    """Name what a value came from, for error messages."""
    return flag if getattr(ns, dest, None) is not None else (env_var or env_name(flag))


def choice_setting(  # noqa: PLR0913 - keyword-only after the enum, each one needed
    ns: argparse.Namespace,
    dest: str,
    flag: str,
    env: Mapping[str, str],
    enum_type: type[E],
    *,
    default: E,
    env_var: str | None = None,
) -> E:
    """A flag-or-env setting parsed as ``enum_type``; unset or empty gives ``default``."""
    raw = flag_or_env(ns, dest, flag, env, env_var=env_var)
    if not raw:
        return default
    return choice(enum_type, raw, source_of(ns, dest, flag, env_var=env_var))


def resolve_common(ns: argparse.Namespace, env: Mapping[str, str]) -> CommonSettings:
    """Validate the common flags (with env fallbacks) into :class:`CommonSettings`."""
    result_raw = flag_or_env(ns, "result_file", "--result-file", env)
    level_raw = flag_or_env(ns, "log_level", "--log-level", env)
    scratch_raw = flag_or_env(ns, "scratch_dir", "--scratch-dir", env)
    if level_raw is None:
        level_raw = LogLevel.INFO.value
    if scratch_raw is None:
        scratch_raw = "/tmp"  # noqa: S108 - the contract's scratch dir, an emptyDir in the pod
    return CommonSettings(
        result_file=(
            None
            if result_raw is None
            else non_empty_path(result_raw, source_of(ns, "result_file", "--result-file"))
        ),
        log_level=choice(LogLevel, level_raw, source_of(ns, "log_level", "--log-level")),
        scratch_dir=non_empty_path(scratch_raw, source_of(ns, "scratch_dir", "--scratch-dir")),
    )
