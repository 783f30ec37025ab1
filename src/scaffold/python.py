"""A new ``pytask`` command: its module, its tests, and its line in the registry."""

from __future__ import annotations

import re
from pathlib import Path

from scaffold.errors import ScaffoldError
from scaffold.flags import INT_MAX, Flag
from scaffold.names import Name
from scaffold.plan import Plan, ruff

PROJECT = "tasks/python"
REGISTRY = f"{PROJECT}/src/pytask/commands/__init__.py"
IMPORT = re.compile(r"^from pytask\.commands import (\([^)]*\)|[^\n]*)$", re.MULTILINE)
PY_TYPES = {"text": "str", "int": "int"}
COMMANDS = "COMMANDS: dict[str, Command] = {"
ENTRY = re.compile(r'^\s*"([a-z0-9-]+)": _from_module\(', re.MULTILINE)
# Names the generated module defines or imports: a choice flag's enum takes another.
TAKEN = frozenset({"Settings", "Context", "TaskResult", "ENV_PREFIX"})


def add_command(plan: Plan, name: Name, flags: tuple[Flag, ...], summary: str) -> None:
    config_imports = sorted(
        {"required_setting" for f in flags if f.required}
        | {"flag_or_env" for f in flags if not f.required}
        | {"source_of" for f in flags if f.kind != "text"}
        | {"whole_number" for f in flags if f.kind == "int"}
        | {"choice" for f in flags if f.kind == "choice"}
    )
    values = {
        "name": name,
        "flags": flags,
        "summary": summary,
        "int_flags": [f for f in flags if f.kind == "int"],
        "choice_flags": [f for f in flags if f.kind == "choice"],
        "any_default": any(not f.required for f in flags),
        "config_imports": config_imports,
        "py_type": {f.name.snake: PY_TYPES.get(f.kind, enum_name(f)) for f in flags},
        "int_max": f"{INT_MAX:_}",
    }
    if not flags:
        raise ScaffoldError("expected at least one --flag for a Python command, got none")
    plan.create(f"{PROJECT}/src/pytask/commands/{name.snake}.py", "python/command.py.j2", **values)
    plan.create(
        f"{PROJECT}/tests/commands/test_{name.snake}.py", "python/test_command.py.j2", **values
    )
    plan.edit(REGISTRY, lambda text: register(text, name))


def commands(root: Path) -> list[str]:
    """The commands pytask registers, in ``COMMANDS`` order."""
    return ENTRY.findall((root / REGISTRY).read_text())


def enum_name(flag: Flag) -> str:
    """The class of a choice flag's values: its name, unless the module has that name.

    >>> enum_name(Flag.parse("settings:choice(a|b)"))
    'SettingsChoice'
    """
    name = flag.name.pascal
    return f"{name}Choice" if name in TAKEN else name


def register(text: str, name: Name) -> str:
    """The registry with the new module imported and listed last in ``COMMANDS``."""
    match = IMPORT.search(text)
    if not match:
        raise ScaffoldError(f"expected 'from pytask.commands import ...' in {REGISTRY}", code=65)
    modules = {m.strip() for m in match[1].strip("()").split(",") if m.strip()}
    if name.snake in modules or f'"{name.kebab}":' in text:
        raise ScaffoldError(f"expected a new command, got one pytask has: {name.kebab!r}")
    line = f"from pytask.commands import {', '.join(sorted(modules | {name.snake}))}"
    text = text[: match.start()] + line + text[match.end() :]
    if text.count(COMMANDS) != 1:
        raise ScaffoldError(
            f"expected {COMMANDS!r} once in {REGISTRY}: was the file reshaped? Add the lines "
            "by hand (see docs/extending.md)",
            code=65,
        )
    head, registry = text.split(COMMANDS, 1)
    if "\n}" not in registry:
        raise ScaffoldError(
            f"expected the COMMANDS dict to end with a '}}' line in {REGISTRY}", code=65
        )
    body, rest = registry.split("\n}", 1)
    entry = f'    "{name.kebab}": _from_module("{name.kebab}", {name.snake}),'
    return head + COMMANDS + body + "\n" + entry + "\n}" + rest


def format_files(root: Path, paths: list[Path]) -> None:
    ruff(root / PROJECT, paths)
