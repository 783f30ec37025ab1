"""A new pipeline: one DAG file chaining task commands that exist, one of them mapped."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from scaffold.errors import ScaffoldError
from scaffold.names import Name
from scaffold.plan import Plan

TOOLS = {"python": "pytask", "rust": "rstask", "elixir": "extask"}
OPERATORS = {"python": "PythonTask", "rust": "RustTask", "elixir": "ElixirTask"}


def known_commands(root: Path, language: str) -> list[str]:
    """The commands a tool has, read from its registry (no build needed)."""
    if language == "python":
        text = (root / "tasks/python/src/pytask/commands/__init__.py").read_text()
        return re.findall(r'^\s*"([a-z0-9-]+)": _from_module\(', text, re.MULTILINE)
    if language == "rust":
        text = (root / "tasks/rust/src/commands/mod.rs").read_text()
        return re.findall(r'Self::\w+\(_\) => "([a-z0-9-]+)"', text)
    return [
        match[1]
        for path in sorted((root / "tasks/elixir/lib/extask/commands").glob("*.ex"))
        if (match := re.search(r'def name, do: "([a-z0-9-]+)"', path.read_text()))
    ]


@dataclass(frozen=True)
class Step:
    language: str
    argv: list[str]
    task_id: str
    mapped: bool

    @property
    def command(self) -> str:
        return self.argv[0]

    @property
    def tool(self) -> str:
        return TOOLS[self.language]

    @property
    def operator(self) -> str:
        return OPERATORS[self.language]

    @property
    def shown(self) -> str:
        return shlex.join(self.argv)

    @property
    def runs(self) -> list[list[str]]:
        return [self.argv[1:]]

    @property
    def example_json(self) -> str:
        return json.dumps(self.argv, ensure_ascii=False)


def parse_steps(root: Path, raws: list[str], mapped: str | None) -> list[Step]:
    """``LANGUAGE:COMMAND [ARG...]`` each, in order; the mapped one named by task id (default:
    the last)."""
    if len(raws) < 2:
        raise ScaffoldError(f"expected two or more --step, got {len(raws)}")
    steps: list[Step] = []
    for raw in raws:
        language, _, line = raw.partition(":")
        if language not in TOOLS:
            raise ScaffoldError(
                f"expected a step as LANGUAGE:COMMAND [ARG...] with LANGUAGE one of "
                f"{', '.join(TOOLS)}, got: {raw!r}"
            )
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise ScaffoldError(f"step {raw!r}: expected shell-like words, got: {exc}") from None
        known = known_commands(root, language)
        if not argv or argv[0] not in known:
            raise ScaffoldError(
                f"step {raw!r}: expected a {TOOLS[language]} command ({', '.join(known)}), "
                f"got: {argv[0] if argv else ''!r}"
            )
        if any(not arg.isprintable() for arg in argv):
            raise ScaffoldError(f"step {raw!r}: expected printable arguments, got: {argv!r}")
        task_id = Name.parse(argv[0], "command name").snake
        taken = {s.task_id for s in steps}
        task_id = next(
            t for t in (task_id, *(f"{task_id}_{n}" for n in range(2, 99))) if t not in taken
        )
        steps.append(Step(language, argv, task_id, mapped=False))
    target = mapped or steps[-1].task_id
    if target not in {s.task_id for s in steps}:
        raise ScaffoldError(
            f"expected --mapped to name a step ({', '.join(s.task_id for s in steps)}), "
            f"got: {target!r}"
        )
    return [Step(s.language, s.argv, s.task_id, s.task_id == target) for s in steps]


def add_pipeline(plan: Plan, name: Name, steps: list[Step], summary: str) -> None:
    if (plan.root / "dags" / f"{name.snake}.py").exists():
        raise ScaffoldError(f"expected a new pipeline, got one dags/ has: {name.snake!r}")
    [mapped] = [s for s in steps if s.mapped]
    plan.create(
        f"dags/{name.snake}.py",
        "pipeline/dag.py.j2",
        name=name,
        title=name.words.capitalize(),
        summary=summary,
        steps=steps,
        mapped=mapped,
        operators=sorted({s.operator for s in steps}),
    )
