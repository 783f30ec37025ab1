"""A new pipeline: one DAG file chaining task commands that exist, one of them mapped."""

from __future__ import annotations

import importlib
import json
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

from scaffold.errors import ScaffoldError
from scaffold.names import Name
from scaffold.plan import Plan

TOOLS = {"python": "pytask", "rust": "rstask", "elixir": "extask"}
WIDTH = 96  # the docstring's lines, within the linters' 100
CONTRACT = (
    "Each step is one task pod running its command, as `docs/task-contract.md` says: its JSON "
    "log lines are the task's log, its result the task's XCom, its exit code the task's "
    "outcome (64 and 65 fail without retries, 99 skips). `image_tag` and `images` pick the "
    "images of a run; `task_args` replaces a step's command line for one run, e.g.:"
)
OPERATORS = {"python": "PythonTask", "rust": "RustTask", "elixir": "ElixirTask"}


def known_commands(root: Path, language: str) -> list[str]:
    """The commands a tool has, read from its registry by that language's generator."""
    module = importlib.import_module(f"scaffold.{language}")
    return list(module.commands(root))


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
        if any(not arg.isprintable() or "\\" in arg or '"""' in arg for arg in argv):
            raise ScaffoldError(
                f'step {raw!r}: expected printable arguments without backslashes or """, '
                f"got: {argv!r}"
            )
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


def fill(text: str, indent: str = "") -> list[str]:
    """``text`` wrapped to ``WIDTH``, words never broken (a long one gets a line of its own)."""
    return textwrap.wrap(
        text,
        WIDTH,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def docstring(summary: str, steps: list[Step]) -> dict[str, object]:
    """The DAG's doc_md, wrapped: the summary, the steps, the contract, an example run."""
    lines: list[str] = []
    for n, step in enumerate(steps, 1):
        item = f"{n}. **{step.task_id}** — `{step.tool} {step.shown}`"
        if step.mapped:
            item += (
                f", one pod per entry of the Param `{step.task_id}_runs` (each entry: that "
                "pod's extra arguments)"
            )
        lines += fill(item, "   ")
    plain = next((s for s in steps if not s.mapped), steps[0])
    example = json.dumps({"task_args": {plain.task_id: plain.argv}}, ensure_ascii=False)
    if len(example) > WIDTH - 4:
        example = json.dumps({"task_args": {plain.task_id: plain.argv}}, indent=2)
    return {
        "summary": "\n".join(fill(summary)),
        "steps": lines,
        "contract": "\n".join(fill(CONTRACT)),
        "example": example.splitlines(),
    }


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
        doc=docstring(summary, steps),
    )
