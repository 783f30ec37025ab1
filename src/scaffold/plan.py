"""What a generator will do, checked whole before anything is written: new files (never over an
existing one) and edits of existing files (each must find its anchor exactly once)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from scaffold.errors import ScaffoldError

TEMPLATES = Path(__file__).parent / "templates"
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # noqa: S701 - source code, not HTML
)
ENVIRONMENT.filters["py"] = repr  # a Python literal of a value (the formatter then styles it)


def ruff(cwd: Path, paths: list[Path]) -> None:
    """ruff's import order and formatting, with ``cwd``'s configuration, on ``paths``: what the
    lint gates check. The ruff of this environment, the version every project pins."""
    files = [str(p) for p in paths if p.suffix == ".py"]
    for args in (["check", "--fix-only", "--select", "I", "--quiet"], ["format", "--quiet"]):
        subprocess.run([sys.executable, "-m", "ruff", *args, *files], cwd=cwd, check=True)


def render(template: str, **values: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**values)


@dataclass
class Plan:
    """Files to create and edits to make under ``root``; :meth:`apply` does them all or none."""

    root: Path
    created: dict[Path, str] = field(default_factory=dict)
    edited: dict[Path, str] = field(default_factory=dict)

    def create(self, relative: str, template: str, **values: Any) -> None:
        path = self.root / relative
        if path.exists() or path in self.created:
            raise ScaffoldError(f"expected {relative} not to exist yet, got an existing file")
        self.created[path] = render(template, **values)

    def edit(self, relative: str, change: Callable[[str], str]) -> None:
        path = self.root / relative
        if not path.is_file():
            raise ScaffoldError(f"expected {relative} in the repository, got no such file", code=65)
        self.edited[path] = change(self.edited.get(path, path.read_text()))

    def apply(self) -> list[str]:
        """Write everything; the relative paths, created ones marked with +, edited with ~."""
        for path, text in self.created.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for path, text in self.edited.items():
            path.write_text(text)
        return [f"+ {p.relative_to(self.root)}" for p in self.created] + [
            f"~ {p.relative_to(self.root)}" for p in self.edited
        ]


def insert(text: str, anchor: str, addition: str, *, where: str, before: bool = True) -> str:
    """``text`` with ``addition`` put before (or after) the one occurrence of ``anchor``.

    >>> insert("a\\nz\\n", "z\\n", "m\\n", where="x")
    'a\\nm\\nz\\n'
    """
    count = text.count(anchor)
    if count != 1:
        raise ScaffoldError(
            f"expected {anchor.strip()!r} once in {where}, found it {count} times: was the file "
            "reshaped? Add the lines by hand (see docs/extending.md)",
            code=65,
        )
    head, tail = text.split(anchor)
    return head + (addition + anchor if before else anchor + addition) + tail
