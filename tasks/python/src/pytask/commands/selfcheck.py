"""Check that this image's runtime honours the task contract.

Touches no external service: it reports the version, the runtime and the configuration it
sees (secrets redacted), proves the scratch dir is writable, and writes a result. With
``--hold`` it first waits (a task that runs for a while, for fault tests); with
``--fail-with`` it ends on one of the contract's failure codes, so the operators' exit-code
mapping can be tested against real pods.
"""

from __future__ import annotations

import argparse
import enum
import logging
import os
import platform
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pytask import ENV_PREFIX, __version__
from pytask.config import choice, flag_or_env, source_of, whole_number
from pytask.errors import NothingToDo, PermanentError, TransientError
from pytask.result import TaskResult
from pytask.secrets import redacted_env

if TYPE_CHECKING:
    from pytask.commands import Context


class FailWith(enum.StrEnum):
    """The failure ``--fail-with`` asks for."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    NOTHING_TO_DO = "nothing-to-do"


HOLD_MAX_S = 86_400
HELD_EVERY_S = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare selfcheck's own flags."""
    parser.add_argument(
        "--fail-with",
        metavar="KIND",
        help="end with this contract outcome: permanent, transient or nothing-to-do "
        f"(env {ENV_PREFIX}FAIL_WITH)",
    )
    parser.add_argument(
        "--hold",
        metavar="SECONDS",
        help=f"wait this long after the checks, 0 to {HOLD_MAX_S}, logging every "
        f"{HELD_EVERY_S} s, so fault tests can act while a task runs "
        f"(env {ENV_PREFIX}HOLD, default 0)",
    )


def check_scratch_dir(scratch: Path) -> None:
    """Create, write, read back and remove a file in ``scratch``."""
    probe = scratch / f".selfcheck-{uuid.uuid4().hex}"
    payload = b"polyetl selfcheck\n"
    try:
        probe.write_bytes(payload)
        try:
            if probe.read_bytes() != payload:
                raise PermanentError(f"scratch dir {str(scratch)!r} returned different bytes")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise PermanentError(
            f"expected scratch dir {str(scratch)!r} to be writable, got: {exc.strerror}"
        ) from exc


def hold(seconds: int, log: logging.Logger, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait ``seconds``, saying so every few seconds; nothing at all for 0.

    SIGTERM interrupts the wait at once: its handler raises out of ``sleep``.
    """
    if seconds == 0:
        return
    log.info("selfcheck holding", extra={"seconds": seconds})
    remaining = seconds
    while remaining > 0:
        step = min(HELD_EVERY_S, remaining)
        sleep(step)
        remaining -= step
        if remaining > 0:
            log.info("selfcheck held", extra={"remaining_s": remaining})


def execute(args: argparse.Namespace, ctx: Context) -> TaskResult:
    """Run the checks and build the result."""
    raw = flag_or_env(args, "fail_with", "--fail-with", ctx.env)
    fail_with = (
        None if raw is None else choice(FailWith, raw, source_of(args, "fail_with", "--fail-with"))
    )
    raw_hold = flag_or_env(args, "hold", "--hold", ctx.env)
    hold_s = (
        0
        if raw_hold is None
        else whole_number(
            raw_hold, source_of(args, "hold", "--hold"), maximum=HOLD_MAX_S, unit="seconds"
        )
    )
    log = ctx.log
    log.info("selfcheck started", extra={"version": __version__})

    scratch = ctx.settings.scratch_dir
    check_scratch_dir(scratch)
    log.debug("scratch dir writable", extra={"scratch_dir": str(scratch)})
    hold(hold_s, log)

    outputs = {
        "runtime": f"{platform.python_implementation()} {platform.python_version()}",
        "uid": os.geteuid(),
        "scratch_dir": str(scratch),
        "held_s": hold_s,
        "config": redacted_env(ctx.env, ENV_PREFIX),
    }
    result = TaskResult(command="selfcheck", counts={"checks": 1, "failed": 0}, outputs=outputs)
    if fail_with is FailWith.PERMANENT:
        raise PermanentError("selfcheck asked to fail permanently (--fail-with permanent)")
    if fail_with is FailWith.TRANSIENT:
        raise TransientError("selfcheck asked to fail transiently (--fail-with transient)")
    if fail_with is FailWith.NOTHING_TO_DO:
        raise NothingToDo("selfcheck asked for nothing to do (--fail-with nothing-to-do)", outputs)
    log.info("selfcheck done", extra={"checks": 1, "failed": 0})
    return result
