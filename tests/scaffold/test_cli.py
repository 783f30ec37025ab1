"""The generators' refusals and edits, on a throwaway root holding the files they read: a bad
name, flag or step exits 64 and a repository they can't edit safely 65, both before any file
is written. What they generate is proven by the template test (hack/template-test.sh), which
runs every gate of the repository on it."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from scaffold.cli import main

REPO = Path(__file__).resolve().parents[2]
REGISTRIES = (
    "tasks/python/src/pytask/commands/__init__.py",
    "tasks/rust/src/commands/mod.rs",
    "tasks/elixir/lib/extask/commands.ex",
    "tasks/elixir/lib/extask/commands/selfcheck.ex",
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The registries the generators read and edit, and an empty dags/."""
    for relative in REGISTRIES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, tmp_path / relative)
    (tmp_path / "dags").mkdir()
    return tmp_path


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def run(root: Path, *argv: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(["--root", str(root), *argv])
    code = exited.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["command", "python", "Score", "--flag", "n:int"], "'Score'"),
        (["command", "rust", "score events", "--flag", "n:int"], "'score events'"),
        (["command", "elixir", "end", "--flag", "n:int"], "'end'"),
        (["command", "python", "score", "--flag", "n:float"], "'n:float'"),
        (["command", "python", "score", "--flag", "n:int=-1"], "'-1'"),
        (["command", "python", "score", "--flag", "m:choice(a)"], "'a'"),
        (["command", "python", "score", "--flag", "m:choice(a|b)=c"], "'c'"),
        (["command", "python", "score", "--flag", "result-file:text"], "'result-file'"),
        (["command", "python", "score", "--flag", "n:int", "--flag", "n:text"], "n, n"),
        (["command", "python", "score"], "got none"),
        (["command", "python", "selfcheck", "--flag", "n:int"], "'selfcheck'"),
        (["command", "rust", "transform", "--flag", "n:int"], "transform"),
        (["command", "python", "score", "--flag", "n:int", "--summary", 'say "hi"'], "say"),
        (["pipeline", "flow", "--step", "python:selfcheck"], "two or more --step"),
        (["pipeline", "flow", "--steps", "go:run; rust:selfcheck"], "'go:run'"),
        (["pipeline", "flow", "--steps", "python:nope; rust:selfcheck"], "selfcheck, plan"),
        (["pipeline", "flow", "--steps", "python:selfcheck; rust:selfcheck", "--mapped=x"], "'x'"),
        (["pipeline", "flow", "--steps", "python:'unclosed; rust:selfcheck"], "quotation"),
    ],
)
def test_bad_input_exits_64_naming_it_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    before = files(root)
    assert run(root, *argv) == 64
    error = capsys.readouterr().err
    assert "expected" in error, error
    assert named in error
    assert files(root) == before


def test_a_reshaped_registry_exits_65_and_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = root / REGISTRIES[0]
    registry.write_text(registry.read_text().replace("COMMANDS: dict[str, Command] = {", "X = {"))
    before = files(root)
    assert run(root, "command", "python", "score", "--flag", "n:int") == 65
    assert "Add the lines by hand" in capsys.readouterr().err
    assert files(root) == before


def test_a_python_command_is_registered_once_in_order(root: Path) -> None:
    assert run(root, "command", "python", "probe-count", "--flag", "n:int=5") == 0
    registry = (root / REGISTRIES[0]).read_text()
    tree = ast.parse(registry)
    [imported] = [
        n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "pytask.commands"
    ]
    names = [alias.name for alias in imported.names]
    assert names == sorted(names)
    assert "probe_count" in names
    entry = '"probe-count": _from_module("probe-count", probe_count),'
    assert registry.count(entry) == 1
    # the last entry of COMMANDS: --help lists commands in the registry's order
    assert registry.rstrip().endswith(entry + "\n}")
    assert (root / "tasks/python/src/pytask/commands/probe_count.py").is_file()
    assert (root / "tasks/python/tests/commands/test_probe_count.py").is_file()
    assert run(root, "command", "python", "probe_count", "--flag", "n:int") == 64  # exists now


def test_a_pipeline_chains_existing_commands_with_one_step_mapped(root: Path) -> None:
    steps = "python:selfcheck --hold 0; rust:selfcheck; elixir:selfcheck"
    assert run(root, "pipeline", "flow", "--steps", steps, "--mapped", "selfcheck_2") == 0
    source = (root / "dags/flow.py").read_text()
    ast.parse(source)
    assert 'dag_id="flow"' in source
    assert 'RustTask.partial(task_id="selfcheck_2").expand(' in source
    assert 'PythonTask(task_id="selfcheck", command=["selfcheck", "--hold", "0"])' in source
    assert "chain(selfcheck, selfcheck_2, selfcheck_3)" in source
    assert run(root, "pipeline", "flow", "--steps", "python:selfcheck; rust:selfcheck") == 64


def test_a_pipeline_with_long_arguments_stays_within_the_line_length(root: Path) -> None:
    """Long step lines and examples are wrapped (ruff's E501 would fail the lint gate)."""
    args = " ".join(f"--option-{n} value-{n}-with-some-length" for n in range(8))
    steps = f"python:selfcheck {args}; rust:selfcheck {args}"
    assert run(root, "pipeline", "long_flow", "--steps", steps, "--summary", "x" * 72) == 0
    source = (root / "dags/long_flow.py").read_text()
    ast.parse(source)
    assert max(len(line) for line in source.splitlines()) <= 100
    assert run(root, "pipeline", "other", "--steps", steps, "--summary", "x" * 73) == 64
    quotes = 'python:selfcheck \'a"""b\'; rust:selfcheck'
    assert run(root, "pipeline", "other", "--steps", quotes) == 64
