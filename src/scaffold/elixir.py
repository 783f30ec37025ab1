"""A new ``extask`` command: its module, its tests (in-process and against the real release),
and its line in ``Extask.Commands.all/0`` and that function's doctest.

The command declares its flags as ``%Extask.Flag{}`` structs, so the parser, the ``EXTASK_``
env fallbacks, ``--help`` and the usage errors (a required flag missing, a bad value: exit
64) come from ``Extask.Flag`` and ``Extask.Config`` as for every other command.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scaffold.errors import ScaffoldError
from scaffold.flags import INT_MAX, Flag
from scaffold.names import Name
from scaffold.plan import Plan

PROJECT = "tasks/elixir"
COMMANDS_DIR = f"{PROJECT}/lib/extask/commands"
REGISTRY = f"{PROJECT}/lib/extask/commands.ex"
# Config's tests spell out the command names its usage errors list, in all/0's order.
ENV_PREFIX = "EXTASK_"
# The width the doctest listing the modules is wrapped at (mix format's default).
LINE_LENGTH = 98
DOC_INDENT = " " * 6  # a doctest's, in a function's @doc

MODULE = r"[A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*"
# all/0 as mix format leaves it: `def all do`, the list, `end`, at one indentation.
ALL = re.compile(r"^(?P<indent>[ \t]*)def all do\n(?P<body>.*?)^(?P=indent)end$", re.M | re.S)
LIST = re.compile(r"\s*\[(?P<items>[^\[\]]*)\]\s*")
DOCTEST = "iex> Extask.Commands.all()\n"
NAME_DEF = re.compile(r'def name(?:\(\))?(?:,\s*do:|\s+do\s)\s*"(?P<name>[^"]*)"')
PLAIN_ATOM = re.compile(r"[a-z_][A-Za-z0-9_]*")


def ex_string(text: str) -> str:
    """``text`` as an Elixir string literal (no interpolation).

    >>> print(ex_string('a "b" #{c}'))
    "a \\"b\\" \\#{c}"
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("#{", "\\#{")
    return f'"{escaped}"'


def ex_doc(text: str) -> str:
    """``text`` safe inside a heredoc (``@moduledoc \"\"\"``): no interpolation, no escapes."""
    return text.replace("\\", "\\\\").replace("#{", "\\#{")


def ex_atom(choice: str) -> str:
    """The atom a choice stands for in the code: its text with ``-`` as ``_``.

    >>> ex_atom("nothing-to-do"), ex_atom("2x")
    (':nothing_to_do', ':"2x"')
    """
    text = choice.replace("-", "_")
    return f":{text}" if PLAIN_ATOM.fullmatch(text) else f':"{text}"'


@dataclass(frozen=True)
class ExFlag:
    """A flag spelled as the generated Elixir needs it (every value a ready literal)."""

    flag: Flag

    @property
    def key(self) -> str:
        return self.flag.name.snake

    @property
    def switch(self) -> str:
        return f"--{self.flag.name.kebab}"

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.name.screaming

    @property
    def attribute(self) -> str:
        """The module attribute holding an int flag's maximum or a choice flag's choices."""
        suffix = {"int": "max", "choice": "choices"}.get(self.flag.kind, "")
        return f"{self.key}_{suffix}"

    @property
    def choices(self) -> str:
        pairs = ", ".join(f"{{{ex_string(c)}, {ex_atom(c)}}}" for c in self.flag.choices)
        return f"[{pairs}]"

    @property
    def type(self) -> str:
        if self.flag.kind == "int":
            return f"{{:integer, 0, @{self.attribute}}}"
        if self.flag.kind == "choice":
            return f"{{:one_of, @{self.attribute}}}"
        return ":string"

    @property
    def spec(self) -> str:
        """The type of the validated value."""
        if self.flag.kind == "choice":
            return " | ".join(ex_atom(c) for c in self.flag.choices)
        return "non_neg_integer()" if self.flag.kind == "int" else "String.t()"

    @property
    def output_spec(self) -> str:
        """The type of the value as the result reports it."""
        return "non_neg_integer()" if self.flag.kind == "int" else "String.t()"

    @property
    def doc(self) -> str:
        """The help text (``Extask.Flag.help/1`` adds ``required;`` and the env var)."""
        if self.flag.default is None:
            return ex_string(self.flag.describes)
        default = self.flag.default if self.flag.default != "" else "empty"
        return ex_string(f"{self.flag.describes}; default {default}")

    @property
    def moduledoc(self) -> str:
        """The flag's line in the module's doc."""
        if self.flag.default is None:
            how = "required"
        elif self.flag.default == "":
            how = "default empty"
        else:
            how = f"default {self.flag.default}"
        return ex_doc(f"`{self.switch} {self.flag.metavar}`: {self.flag.describes} ({how})")

    def value(self, raw: str) -> str:
        """``raw`` as the validated value, an Elixir literal."""
        if self.flag.kind == "int":
            return f"{int(raw):_}" if int(raw) >= 10_000 else str(int(raw))
        if self.flag.kind == "choice":
            return ex_atom(raw)
        return ex_string(raw)

    def output(self, raw: str) -> str:
        """``raw`` as the result reports it, an Elixir literal of the decoded JSON."""
        return self.value(raw) if self.flag.kind == "int" else ex_string(raw)

    @property
    def default(self) -> str:
        assert self.flag.default is not None  # only asked of optional flags
        return self.value(self.flag.default)

    @property
    def default_output(self) -> str:
        assert self.flag.default is not None  # only asked of optional flags
        return self.output(self.flag.default)

    @property
    def sample(self) -> str:
        """A valid value on the command line (never the default), a string literal."""
        return ex_string(self.flag.sample())

    @property
    def sample_value(self) -> str:
        return self.value(self.flag.sample())

    @property
    def sample_output(self) -> str:
        return self.output(self.flag.sample())

    @property
    def bad_sample(self) -> str | None:
        bad = self.flag.bad_sample()
        return None if bad is None else ex_string(bad)


def add_command(plan: Plan, name: Name, flags: tuple[Flag, ...], summary: str) -> None:
    if not flags:
        raise ScaffoldError("expected at least one --flag for an Elixir command, got none")
    # Extask.CommandsTest wants every summary to start with a capital letter.
    summary = summary[0].upper() + summary[1:]
    if not re.match(r"[A-Z]", summary):
        raise ScaffoldError(f"expected the summary to start with a letter, got: {summary!r}")
    check_name_is_new(plan.root, name)
    ex_flags = [ExFlag(f) for f in flags]
    values = {
        "name": name,
        "module": f"Extask.Commands.{name.pascal}",
        "summary": summary,
        "flags": ex_flags,
        "required": [f for f in ex_flags if f.flag.required],
        "optional": [f for f in ex_flags if not f.flag.required],
        "int_flags": [f for f in ex_flags if f.flag.kind == "int"],
        "choice_flags": [f for f in ex_flags if f.flag.kind == "choice"],
        "bad_flags": [f for f in ex_flags if f.bad_sample is not None],
        "int_max": f"{INT_MAX:_}",
        "doctest": doctest_of_outputs(f"Extask.Commands.{name.pascal}", ex_flags),
        "env_prefix": ENV_PREFIX,
    }
    plan.create(f"{COMMANDS_DIR}/{name.snake}.ex", "elixir/command.ex.j2", **values)
    plan.create(
        f"{PROJECT}/test/extask/commands/{name.snake}_test.exs",
        "elixir/command_test.exs.j2",
        **values,
    )
    plan.edit(REGISTRY, lambda text: register(text, name))


def doctest_of_outputs(module: str, flags: list[ExFlag]) -> list[str]:
    """The doctest of the generated ``outputs/1``: one line each when they fit."""
    settings = [f"{f.key}: {f.sample_value}" for f in flags]
    outputs = [f"{f.key}: {f.sample_output}" for f in flags]
    call = f"iex> {module}.outputs(%{{{', '.join(settings)}}})"
    expected = f"%{{{', '.join(outputs)}}}"
    if len(DOC_INDENT + call) <= LINE_LENGTH and len(DOC_INDENT + expected) <= LINE_LENGTH:
        return [call, expected]
    return [
        "iex> settings = %{",
        *[f"...>   {s}{',' if i < len(flags) - 1 else ''}" for i, s in enumerate(settings)],
        "...> }",
        f"iex> {module}.outputs(settings)",
        "%{",
        *[f"  {o}{',' if i < len(flags) - 1 else ''}" for i, o in enumerate(outputs)],
        "}",
    ]


def commands(root: Path) -> dict[str, Path]:
    """The name each command module answers to, and its file (sorted by file)."""
    return {
        match["name"]: path
        for path in sorted((root / COMMANDS_DIR).glob("*.ex"))
        for match in NAME_DEF.finditer(path.read_text())
    }


def check_name_is_new(root: Path, name: Name) -> None:
    """Refuse a command name another command module already answers to."""
    path = commands(root).get(name.kebab)
    if path is not None:
        raise ScaffoldError(
            f"expected a new command, got one extask has: {name.kebab!r} ({path.relative_to(root)})"
        )


def register(text: str, name: Name) -> str:
    """The registry with the new module last in ``all/0`` and in the doctest listing them."""
    module = f"Extask.Commands.{name.pascal}"
    matches = list(ALL.finditer(text))
    body = LIST.fullmatch(matches[0]["body"]) if len(matches) == 1 else None
    modules = parse_modules(body["items"]) if body else None
    if not (matches and body and modules):
        raise ScaffoldError(
            f"expected one 'def all do' in {REGISTRY} returning a plain list of modules: was "
            "the file reshaped? Add the module to the list (and its doctest) by hand",
            code=65,
        )
    if module in modules:
        raise ScaffoldError(f"expected a new command, got one extask has: {module}")
    modules.append(module)
    indent = matches[0]["indent"]
    items = ",\n".join(f"{indent}    {m}" for m in modules)
    new_all = f"{indent}def all do\n{indent}  [\n{items}\n{indent}  ]\n{indent}end"
    text = text[: matches[0].start()] + new_all + text[matches[0].end() :]
    return update_doctest(text, modules)


def parse_modules(items: str) -> list[str] | None:
    """The module names of a list's items, or None if an item is anything else."""
    names = [item.strip() for item in items.split(",")]
    if names and names[-1] == "":
        names.pop()  # a trailing comma
    if not names or not all(re.fullmatch(MODULE, n) for n in names):
        return None
    return names


def update_doctest(text: str, modules: list[str]) -> str:
    """The doctest of ``all/0`` listing ``modules``, wrapped as the existing one is."""
    if text.count(DOCTEST) != 1:
        raise ScaffoldError(
            f"expected {DOCTEST.strip()!r} once in {REGISTRY}, found it "
            f"{text.count(DOCTEST)} times: was the file reshaped? Add the module to all/0 and "
            "its doctest by hand",
            code=65,
        )
    head, tail = text.split(DOCTEST)
    indent = head[head.rindex("\n") + 1 :]
    lines = tail.split("\n")
    # The expected value: the lines after the iex> line up to a blank one or the doc's end.
    count = next(
        (i for i, line in enumerate(lines) if not line.strip() or '"""' in line or "iex>" in line),
        len(lines),
    )
    expected = LIST.fullmatch(" ".join(lines[:count]))
    if count == 0 or not expected or parse_modules(expected["items"]) is None:
        raise ScaffoldError(
            f"expected the doctest of all/0 in {REGISTRY} to be followed by the list of "
            "modules: was the file reshaped? Add the module to all/0 and its doctest by hand",
            code=65,
        )
    listing = wrap(modules, indent)
    return head + DOCTEST + "\n".join([*listing, *lines[count:]])


def wrap(modules: list[str], indent: str, width: int = LINE_LENGTH) -> list[str]:
    """``[A, B, ...]`` over lines of at most ``width`` characters, continued one column in.

    >>> wrap(["Aaa", "Bbb", "Ccc"], "  ", width=12)
    ['  [Aaa, Bbb,', '   Ccc]']
    """
    lines: list[str] = []
    line = indent + "["
    for i, module in enumerate(modules):
        item = module + ("]" if i == len(modules) - 1 else ",")
        if line.strip() not in ("", "[") and len(line) + 1 + len(item) > width:
            lines.append(line)
            line = indent + " " + item
        else:
            line += ("" if line.endswith("[") else " ") + item
    return [*lines, line]


def format_files(root: Path, paths: list[Path]) -> None:
    """``mix format`` on the Elixir files written, as the project's lint gate checks them."""
    files = [str(p) for p in paths if p.suffix in (".ex", ".exs")]
    if files:
        subprocess.run(["mix", "format", *files], cwd=root / PROJECT, check=True)
