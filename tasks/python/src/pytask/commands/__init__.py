"""The commands of ``pytask``: one module per command, registered in :data:`COMMANDS`.

A command module provides ``add_arguments(parser)`` to declare its flags, and
``execute(args, ctx)`` returning a :class:`~pytask.result.TaskResult`. Adding a command is
one module plus one entry here.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from pytask.commands import cleanup, copy, load, plan, prepare, selfcheck, swap, verify, views
from pytask.config import CommonSettings
from pytask.result import TaskResult


@dataclass(frozen=True)
class Context:
    """What every command gets besides its own flags."""

    settings: CommonSettings
    env: Mapping[str, str]
    log: logging.Logger


@dataclass(frozen=True)
class Command:
    """A command's name, one-line help, flag declarations and body."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    execute: Callable[[argparse.Namespace, Context], TaskResult]


def _from_module(name: str, module: ModuleType) -> Command:
    return Command(
        name=name,
        help=(module.__doc__ or name).strip().splitlines()[0],
        add_arguments=module.add_arguments,
        execute=module.execute,
    )


COMMANDS: dict[str, Command] = {
    "selfcheck": _from_module("selfcheck", selfcheck),
    "plan": _from_module("plan", plan),
    "prepare": _from_module("prepare", prepare),
    "copy": _from_module("copy", copy),
    "verify": _from_module("verify", verify),
    "swap": _from_module("swap", swap),
    "views": _from_module("views", views),
    "cleanup": _from_module("cleanup", cleanup),
    "load": _from_module("load", load),
}
