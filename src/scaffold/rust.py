"""A new ``rstask`` command: its module (with unit tests), a test of the real binary, and its
variant of ``Command`` in the registry (``src/commands/mod.rs``)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from scaffold.errors import ScaffoldError
from scaffold.flags import INT_MAX, Flag
from scaffold.names import RUST_KEYWORDS, Name
from scaffold.plan import Plan, insert

PROJECT = "tasks/rust"
REGISTRY = f"{PROJECT}/src/commands/mod.rs"
ENV_PREFIX = "RSTASK_"
# Reserved words names.py lets through (it refuses the rest): spelled as raw identifiers.
RESERVED_IDENTS = frozenset(
    {"abstract", "become", "do", "final", "gen", "macro", "override", *RUST_KEYWORDS.split()}
)
# Types a generated module defines or imports: a choice flag's enum may not take their names.
MODULE_TYPES = frozenset(
    {"Args", "Settings", "Context", "Choice", "Env", "Raw", "Result", "TaskError", "TaskResult"}
    | {"Value", "Buf", "LogLevel", "Option", "String", "Some", "None", "Ok", "Err", "Vec"}
)
# Test targets the crate has or Cargo itself names (tests/<snake>.rs may not be one).
TARGETS = frozenset({"rstask", "build", "main", "lib"})
# The registry's pieces, each found exactly once or the file was reshaped (exit 65).
MOD_LINE = re.compile(r"^pub mod (\w+);\n", re.MULTILINE)
ENUM = re.compile(r"^pub enum Command \{\n(?P<body>(?:[ \t].*\n|\n)*?)\}\n", re.MULTILINE)
VARIANT = re.compile(r"^    (?:r#)?(\w+)\(", re.MULTILINE)
NAME_MATCH = re.compile(
    r"pub const fn name\(&self\) -> &'static str \{\n\s*match self \{\n"
    r"(?P<arms>(?:[ \t]*Self::\w+\(_\) => \"[^\"\n]+\",\n)+)"
)
EXECUTE_MATCH = re.compile(
    r"pub fn execute\(self, ctx: &Context<'_>\) -> Result<TaskResult> \{\n\s*match self \{\n"
    r"(?P<arms>(?:[ \t]*Self::\w+\(args\) => (?:r#)?\w+::execute\(&args, ctx\),\n)+)"
)
# A CamelCase word, which clippy's doc_markdown wants in backticks (as snake_case, paths, calls).
CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*")


def add_command(plan: Plan, name: Name, flags: tuple[Flag, ...], summary: str) -> None:
    if not flags:
        raise ScaffoldError("expected at least one --flag for a Rust command, got none")
    check_command_name(plan.root, name)
    rust_flags = tuple(RustFlag.of(f) for f in flags)
    enums = [f.enum for f in rust_flags if f.enum]
    if len(set(enums)) != len(enums):
        raise ScaffoldError(
            f"expected choice flags whose Rust enums have distinct names, got: {', '.join(enums)}"
        )
    values = {
        "name": name,
        "module_summary": rustdoc(summary),
        "flags": rust_flags,
        "required": [f for f in rust_flags if f.flag.required],
        "optional": [f for f in rust_flags if not f.flag.required],
        "choice_flags": [f for f in rust_flags if f.enum],
        "int_flags": [f for f in rust_flags if f.flag.kind == "int"],
        "bad_flags": [f for f in rust_flags if f.flag.bad_sample() is not None],
        "config_imports": config_imports(flags),
        "int_max": f"{INT_MAX:_}",
        "env_prefix": ENV_PREFIX,
        "args": binary_args(name, rust_flags),
        "usage_case": usage_case(name, rust_flags),
        "rust_str": rust_str,
    }
    # The registry first: a command rstask has is refused as such, before its files are.
    plan.edit(REGISTRY, lambda text: register(text, name, summary))
    plan.create(f"{PROJECT}/src/commands/{name.snake}.rs", "rust/command.rs.j2", **values)
    plan.create(f"{PROJECT}/tests/{name.snake}.rs", "rust/test_command.rs.j2", **values)


@dataclass(frozen=True)
class RustFlag:
    """A flag with the Rust spellings the templates need."""

    flag: Flag
    field: str
    enum: str | None
    variants: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, flag: Flag) -> RustFlag:
        snake = flag.name.snake
        field = f"r#{snake}" if snake in RESERVED_IDENTS else snake
        if flag.kind != "choice":
            return cls(flag, field, None, ())
        enum = flag.name.pascal
        if enum in MODULE_TYPES:
            enum += "Choice"
        variants = tuple((c, variant_of(c)) for c in flag.choices)
        spelled = [v for _, v in variants]
        if len(set(spelled)) != len(spelled):
            raise ScaffoldError(
                f"flag --{flag.name.kebab}: expected choices that spell distinct Rust variants, "
                f"got: {', '.join(f'{c} ({v})' for c, v in variants)}"
            )
        return cls(flag, field, enum, variants)

    @property
    def const(self) -> str:
        return f"{self.flag.name.screaming}_MAX"

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flag.name.screaming

    @property
    def rust_type(self) -> str:
        return self.enum or {"int": "u64", "text": "String"}[self.flag.kind]

    @property
    def help(self) -> str:
        """The flag's --help line (a doc comment of plain words)."""
        f = self.flag
        describes = f.describes[0].upper() + f.describes[1:]
        default = "required" if f.default is None else f"default {self.spelled_default}"
        return f"{describes} (env {self.env}; {default})"

    @property
    def doc(self) -> str:
        """The flag in the module's rustdoc (Markdown)."""
        f = self.flag
        default = "required" if f.default is None else f"default {code(self.spelled_default)}"
        return f"`--{f.name.kebab}`: {f.describes}; {default}"

    @property
    def spelled_default(self) -> str:
        default = self.flag.default
        if default is None:
            return ""
        if self.flag.kind == "int":
            return str(int(default))
        return default or '""'

    def resolve(self) -> str:
        """The expression of ``Settings::resolve`` giving this flag's typed value."""
        f = self.flag
        getter = f'args.{self.field}.as_deref(), "--{f.name.kebab}", env'
        if f.kind == "text":
            if f.default is None:
                return f"required({getter})?.value"
            fallback = "String::new" if f.default == "" else f"|| {self.typed(f.default)}"
            return f"given({getter}).map_or_else({fallback}, |raw| raw.value)"
        if f.default is None:
            return f"{self.parse(f'&required({getter})?')}?"
        return f"given({getter}).map_or(Ok({self.typed(f.default)}), |raw| {self.parse('&raw')})?"

    def parse(self, raw: str) -> str:
        """The call parsing ``raw`` (a ``&Raw`` expression) as an int or a choice."""
        if self.flag.kind == "int":
            return f'whole_number({raw}, {self.const}, "{self.flag.name.words}")'
        return f"{self.enum}::parse({raw})"

    def output(self) -> str:
        """The settings' value as a result output."""
        if self.flag.kind == "int":
            return f"settings.{self.field}"
        return f"settings.{self.field}.as_str()"

    def typed(self, raw: str) -> str:
        """A Rust expression of the setting's value for ``raw``."""
        if self.flag.kind == "int":
            return f"{int(raw):_}"
        if self.flag.kind == "choice":
            return f"{self.enum}::{dict(self.variants)[raw]}"
        return "String::new()" if raw == "" else f'"{raw}".to_owned()'

    def json(self, raw: str) -> str:
        """``raw`` as the JSON the result holds (inside ``json!``)."""
        return f"{int(raw):_}" if self.flag.kind == "int" else f'"{raw}"'

    def sample(self) -> str:
        return self.flag.sample()

    def other_sample(self) -> str:
        """A second valid value, different from :meth:`sample`, for the env in a flag-wins test."""
        f = self.flag
        if f.kind == "choice":
            return next(c for c in f.choices if c != f.sample())
        if f.kind == "int":
            return "9"
        return f"{f.name.kebab} from the env"

    @property
    def final_value(self) -> str:
        """The value without a flag or env: the default, else (required) the sample from env."""
        return self.sample() if self.flag.default is None else self.flag.default


def variant_of(choice: str) -> str:
    """A choice's enum variant; one that wouldn't be an identifier gets a V.

    >>> variant_of("read-only"), variant_of("2x"), variant_of("self")
    ('ReadOnly', 'V2x', 'VSelf')
    """
    pascal = "".join(word.capitalize() for word in choice.split("-"))
    return f"V{pascal}" if pascal[0].isdigit() or pascal == "Self" else pascal


def code(text: str) -> str:
    """``text`` as a Markdown code span."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def doc_code_word(word: str) -> bool:
    """Would clippy's doc_markdown want this word in backticks?"""
    core = word.strip(".,;:!?()[]'*")
    if "://" in word or core.endswith("()") or "::" in core:
        return True
    if "_" in core.strip("_"):
        return True
    bare = core.removesuffix("s")
    return bool(CAMEL.fullmatch(bare)) and any(c.islower() for c in bare)


def rustdoc(text: str) -> str:
    """``text`` for rustdoc: the words doc_markdown takes for code in backticks.

    >>> rustdoc("Load raw_events into ClickHouse (S3, IDs).")
    'Load `raw_events` into `ClickHouse` (S3, IDs).'
    """
    return " ".join(
        word.replace(core, code(core)) if doc_code_word(word) and core else word
        for word in text.split()
        for core in [word.strip(".,;:!?()[]'*")]
    )


def config_imports(flags: tuple[Flag, ...]) -> list[str]:
    return sorted(
        {"Env", "Raw", "flag_or_env"}
        | {"Choice" for f in flags if f.kind == "choice"}
        | {"whole_number" for f in flags if f.kind == "int"}
        | {"env_name" for f in flags if f.required}
    )


def binary_args(name: Name, flags: tuple[RustFlag, ...]) -> list[str]:
    args = [name.kebab]
    for f in flags:
        args += [f"--{f.flag.name.kebab}", f.sample()]
    return args


@dataclass(frozen=True)
class UsageCase:
    """How the real-binary test makes a usage error: its name, the arguments, and what the
    error line must name."""

    what: str
    args: list[str]
    names: list[str]


def usage_case(name: Name, flags: tuple[RustFlag, ...]) -> UsageCase:
    """A bad value if a flag can have one; else a required flag left out; else a flag without
    its value (which clap refuses)."""
    args = binary_args(name, flags)
    for f in flags:
        bad = f.flag.bad_sample()
        if bad is not None:
            at = args.index(f"--{f.flag.name.kebab}") + 1
            return UsageCase(
                f"a_bad_{f.flag.name.snake}",
                [*args[:at], bad, *args[at + 1 :]],
                [f"--{f.flag.name.kebab}", f'"{bad}"'],
            )
    for f in flags:
        if f.flag.required:
            at = args.index(f"--{f.flag.name.kebab}")
            return UsageCase(
                f"a_missing_{f.flag.name.snake}",
                [*args[:at], *args[at + 2 :]],
                [f"--{f.flag.name.kebab} (or {f.env})"],
            )
    first = flags[0].flag.name.kebab
    return UsageCase(
        f"a_{flags[0].flag.name.snake}_without_its_value",
        [name.kebab, f"--{first}"],
        [f"--{first}"],
    )


def rust_str(text: str) -> str:
    """A Rust string literal of ``text`` (no backslashes: names, samples and defaults have none)."""
    return f'r#"{text}"#' if '"' in text else f'"{text}"'


def commands(root: Path) -> list[str]:
    """The commands rstask has, in ``Command::name``'s order (empty if it was reshaped)."""
    match = NAME_MATCH.search((root / REGISTRY).read_text())
    return re.findall(r'=> "([^"]+)"', match["arms"]) if match else []


def check_command_name(root: Path, name: Name) -> None:
    """Refuse names the crate can't take as a module or a test target."""
    crates = {"std", "core", "alloc"}
    manifest = root / PROJECT / "Cargo.toml"
    if manifest.is_file():
        cargo = tomllib.loads(manifest.read_text())
        for table in ("dependencies", "dev-dependencies", "build-dependencies"):
            crates |= {dep.replace("-", "_") for dep in cargo.get(table, {})}
    if name.snake in crates | TARGETS:
        raise ScaffoldError(
            f"expected a command name that is not a crate rstask uses or one of Cargo's target "
            f"names (its module would shadow it), got: {name.kebab!r}"
        )
    if (root / PROJECT / "tests" / name.snake).exists():
        raise ScaffoldError(
            f"expected {PROJECT}/tests/{name.snake} not to exist yet (tests/{name.snake}.rs "
            f"would be ambiguous with it), got an existing one"
        )


def register(text: str, name: Name, summary: str) -> str:
    """The registry with the new module declared and a variant of ``Command`` (listed last,
    with its arms in ``name()`` and ``execute()``)."""
    where = REGISTRY
    modules = MOD_LINE.findall(text)
    enum = one(ENUM, text, "pub enum Command { ... }")
    variants = VARIANT.findall(enum["body"])
    if not modules or not variants:
        raise ScaffoldError(
            f"expected 'pub mod <command>;' lines and variants of Command in {where}: was the "
            "file reshaped? Add the lines by hand",
            code=65,
        )
    if name.snake in modules or name.pascal in variants or f'=> "{name.kebab}",' in text:
        raise ScaffoldError(f"expected a new command, got one rstask has: {name.kebab!r}")
    # `pub mod` lines in order, as rustfmt keeps them.
    after = [m for m in modules if m < name.snake]
    anchor = f"pub mod {after[-1] if after else modules[0]};\n"
    text = insert(text, anchor, f"pub mod {name.snake};\n", where=where, before=not after)

    enum = one(ENUM, text, "pub enum Command { ... }")
    help_line = summary.removesuffix(".")
    allow = (
        "    #[allow(clippy::doc_markdown)] // --help text: plain words, no Markdown\n"
        if rustdoc(help_line) != help_line
        else ""
    )
    if not clap_derives(name):
        allow += f'    #[command(name = "{name.kebab}")]\n'
    variant = f"    /// {help_line}\n{allow}    {name.pascal}({name.snake}::Args),\n"
    text = text[: enum.end("body")] + variant + text[enum.end("body") :]

    arms = one(NAME_MATCH, text, "the match of Command::name()")
    last = arms["arms"].splitlines()[-1]
    pad = last[: len(last) - len(last.lstrip())]
    arm = f'{pad}Self::{name.pascal}(_) => "{name.kebab}",\n'
    text = text[: arms.end("arms")] + arm + text[arms.end("arms") :]

    arms = one(EXECUTE_MATCH, text, "the match of Command::execute()")
    arm = f"{pad}Self::{name.pascal}(args) => {name.snake}::execute(&args, ctx),\n"
    return text[: arms.end("arms")] + arm + text[arms.end("arms") :]


def clap_derives(name: Name) -> bool:
    """Does clap name the variant ``name.pascal`` ``name.kebab``? Its kebab case (heck's)
    starts a word at an upper-case letter after a lower-case one, digits going with what they
    follow: ``ScoreEvents`` and ``Score2Events`` are spelled back, ``X1`` (x-1) and ``AB``
    (a-b) are not.

    >>> [clap_derives(Name(n)) for n in ("score-events", "score2-events", "x-1", "a-b")]
    [True, True, False, False]
    """
    words = name.kebab.split("-")
    return all(w[0].isalpha() for w in words) and all(
        any(c.isalpha() for c in w[1:]) for w in words[:-1]
    )


def one(pattern: re.Pattern[str], text: str, what: str) -> re.Match[str]:
    matches = list(pattern.finditer(text))
    if len(matches) != 1:
        raise ScaffoldError(
            f"expected {what} once in {REGISTRY}, found it {len(matches)} times: was the file "
            "reshaped? Add the lines by hand",
            code=65,
        )
    return matches[0]


def format_files(root: Path, paths: list[Path]) -> None:
    """rustfmt, as the project's lint gate (``cargo fmt --check``) runs it, over the files this
    generator wrote, and only those: ``cargo fmt`` would also rewrite every other file of the
    crate, work in progress included. Each file goes through stdin, so rustfmt doesn't follow
    its ``mod`` lines into other files; the crate's edition and rustfmt.toml (found from the
    crate's directory) apply as with ``cargo fmt``."""
    project = root / PROJECT
    edition = tomllib.loads((project / "Cargo.toml").read_text())["package"]["edition"]
    for path in paths:
        if path.suffix != ".rs":
            continue
        formatted = subprocess.run(
            ["rustfmt", "--edition", edition, "--emit", "stdout"],
            input=path.read_text(),
            cwd=project,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        path.write_text(formatted.stdout)
