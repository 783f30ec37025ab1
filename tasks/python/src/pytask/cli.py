"""The ``pytask`` entry point: ``main`` -> ``run(argv, env)`` -> exit code.

Parsing happens in two stages: argparse turns argv into raw strings, then each value is
validated (with its env fallback) into a typed setting. Every foreseen failure is a
:class:`~pytask.errors.TaskError`, reported once here as a JSON error line and mapped to the
contract's exit code. Only :func:`main` exits, so :func:`run` is tested in-process.

On SIGTERM (Kubernetes deleting the pod, ``docker stop``) the handler :func:`main` installs
raises :class:`~pytask.errors.Terminated` wherever the command is; :func:`run` logs it as one
warn line and returns 143, and no result is written.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import IO, NoReturn

from pytask import ENV_PREFIX, TOOL, __version__
from pytask.commands import COMMANDS, Context
from pytask.config import LogLevel, resolve_common
from pytask.errors import (
    ErrorKind,
    ExitCode,
    NothingToDo,
    TaskError,
    Terminated,
    UsageError,
    cause_chain,
)
from pytask.logs import configure
from pytask.result import Status, TaskResult, write_result


class _HelpShown(Exception):  # noqa: N818 - control flow, not an error
    """argparse printed help or the version and wants to stop."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:  # noqa: ARG002
        if message:
            raise UsageError(message.strip())
        raise _HelpShown


def _common_flags() -> _Parser:
    # SUPPRESS defaults let the flags appear before or after the command without the
    # subcommand's defaults overwriting a value given before it.
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("common flags (env fallback under PYTASK_)")
    group.add_argument(
        "--result-file", metavar="PATH", help=f"write the result here (env {ENV_PREFIX}RESULT_FILE)"
    )
    group.add_argument(
        "--log-level",
        metavar="LEVEL",
        help=f"{', '.join(m.value for m in LogLevel)} (env {ENV_PREFIX}LOG_LEVEL, default info)",
    )
    group.add_argument(
        "--scratch-dir",
        metavar="DIR",
        help=f"writable scratch directory (env {ENV_PREFIX}SCRATCH_DIR, default /tmp)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full parser: common flags plus one subparser per command."""
    common = _common_flags()
    parser = _Parser(
        prog=TOOL,
        description="Python ETL task steps of polyetl (see docs/task-contract.md).",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"{TOOL} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS.values():
        command.add_arguments(sub.add_parser(command.name, help=command.help, parents=[common]))
    return parser


def _parse(argv: Sequence[str], stdout: IO[str]) -> argparse.Namespace | None:
    """Parse argv; None when help or the version was printed (argparse prints to stdout)."""
    with contextlib.redirect_stdout(stdout):
        try:
            return build_parser().parse_args(list(argv))
        except _HelpShown:
            return None


def _dispatch(argv: Sequence[str], env: Mapping[str, str], out: IO[str], err: IO[str]) -> int:
    args = _parse(argv, out)
    if args is None:
        return ExitCode.OK
    command = COMMANDS.get(getattr(args, "command", None) or "")
    if command is None:
        raise UsageError(f"expected a command, one of: {', '.join(COMMANDS)}")
    settings = resolve_common(args, env)
    log = configure(settings.log_level, err)
    ctx = Context(settings=settings, env=env, log=log)
    try:
        result = command.execute(args, ctx)
    except NothingToDo as nothing:
        log.info("nothing to do", extra={"command": command.name, "reason": nothing.reason})
        result = TaskResult(
            command=command.name, outputs=nothing.result, status=Status.NOTHING_TO_DO
        )
    write_result(result, settings.result_file, out)
    return ExitCode.NOTHING_TO_DO if result.status is Status.NOTHING_TO_DO else ExitCode.OK


def _error_fields(
    command: str | None, kind: ErrorKind, code: ExitCode, exc: BaseException
) -> dict[str, object]:
    fields: dict[str, object] = {"error_kind": kind.value, "exit_code": int(code)}
    if command is not None:
        fields["command"] = command
    fields["error"] = cause_chain(exc)
    return fields


def _command_of(argv: Sequence[str]) -> str | None:
    # For error lines only: the first argument naming a known command.
    return next((a for a in argv if a in COMMANDS), None)


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run one command and return its exit code; never exits the interpreter."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    # Until the log level is known, errors are still logged as JSON at the default level.
    log = configure(LogLevel.INFO, err)
    try:
        return _dispatch(argv, env, out, err)
    except TaskError as exc:
        msg = "bad usage" if exc.kind is ErrorKind.USAGE else "command failed"
        # The cause chain is the report: no traceback for a failure the task foresaw.
        log.error(msg, extra=_error_fields(_command_of(argv), exc.kind, exc.exit_code, exc))  # noqa: TRY400
        return exc.exit_code
    except Exception as exc:
        fields = _error_fields(_command_of(argv), ErrorKind.INTERNAL, ExitCode.INTERNAL, exc)
        log.exception("internal error", extra=fields)
        return ExitCode.INTERNAL
    except Terminated as stop:
        # Written whatever --log-level says, like the error line: it explains the exit code.
        configure(LogLevel.WARN, err).warning("terminated", extra={"signal": stop.signal})
        return ExitCode.TERMINATED
    finally:
        logging.shutdown()


def _terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    """SIGTERM handler: stop the command where it is (a second SIGTERM is ignored)."""
    signal.signal(signum, signal.SIG_IGN)
    raise Terminated(signal.Signals(signum).name)


def main() -> NoReturn:
    """Console-script entry point."""
    # As PID 1 of a container, a process without a handler never sees SIGTERM at all.
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run(sys.argv[1:], os.environ))
