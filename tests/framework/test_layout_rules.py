"""The arrows of the layout (docs/architecture.md), checked on every import in the code,
including those inside functions and under TYPE_CHECKING:

- the framework (bot/, except the entry points) never imports a feature or the scheduler;
- a feature never imports the scheduler or an entry point, and reaches another feature only
  through that feature's `ops`;
- the scheduler never imports a feature or an entry point;
- only entry points import the composition root (bot.app); bot.keys is a leaf;
- there are no circles between parts (each bot/ module or sub-package, each feature, the
  scheduler).
"""
from __future__ import annotations

import ast
import collections
import pathlib
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[2]
FOLDERS = ("bot", "handlers", "scheduler")
# Entry points: they start things and may import anything.
ENTRY = ("bot.app", "bot.cli", "bot.commands", "bot.chat", "bot.processes")
SUBPACKAGES = ("bot.core", "bot.db", "bot.wechat", "bot.admin", "bot.commands")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def imported(path: pathlib.Path, name: str, known: set[str]) -> Iterator[str]:
    """Every module of ours that `path` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            subs = [f"{base}.{a.name}" for a in node.names]
            # `from pkg import module` names the module; `from pkg import name` names pkg.
            targets = subs if all(t in known for t in subs) else [*subs, base]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t:
                yield t


def edges() -> list[tuple[str, str]]:
    mods = all_modules()
    known = set(mods)
    return [(src, dst) for src, path in mods.items() for dst in set(imported(path, src, known)) if dst != src]


def is_entry(m: str) -> bool:
    return any(m == e or m.startswith(e + ".") for e in ENTRY)


def part(m: str) -> str:
    if m.startswith("handlers."):
        return "handlers." + m.split(".")[1]
    for sub in SUBPACKAGES:
        if m == sub or m.startswith(sub + "."):
            return sub
    if m.startswith("bot."):
        return ".".join(m.split(".")[:2])
    return m.split(".")[0]


def violations(pairs: list[tuple[str, str]]) -> list[str]:
    bad = []
    for src, dst in pairs:
        if is_entry(src):
            continue
        if src.startswith("bot") and (dst.startswith(("handlers", "scheduler")) or is_entry(dst)):
            bad.append(f"framework {src} imports {dst}")
        if src.startswith("handlers.") and (dst.startswith("scheduler") or is_entry(dst)):
            bad.append(f"feature {src} imports {dst}")
        if src.startswith("handlers.") and dst.startswith("handlers.") and part(src) != part(dst) \
                and dst != part(dst) + ".ops":
            bad.append(f"feature {src} reaches {dst} (only another feature's ops may be used)")
        if src.startswith("scheduler") and (dst.startswith("handlers") or is_entry(dst)):
            bad.append(f"scheduler {src} imports {dst}")
        if src == "bot.keys":
            bad.append(f"bot.keys (a leaf) imports {dst}")
    return bad


def circles(pairs: list[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for src, dst in pairs:
        if part(src) != part(dst):
            graph[part(src)].add(part(dst))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_the_arrows_point_one_way() -> None:
    pairs = edges()
    assert len(pairs) > 200  # the whole code base was read, function-level imports included
    assert violations(pairs) == []


def test_there_are_no_circles_between_parts() -> None:
    assert circles(edges()) == []


def test_the_rules_catch_what_they_forbid() -> None:
    """The checks themselves fail on the kinds of arrow the layout forbids."""
    assert violations([("bot.core.forms", "handlers.hardship.ops")])
    assert violations([("handlers.chairs.ops", "scheduler.setup")])
    assert violations([("handlers.quiz.scores", "handlers.chairs.stats")])
    assert violations([("handlers.hardship.admin", "bot.app")])
    assert not violations([("handlers.quiz.scores", "handlers.chairs.ops"), ("bot.app", "handlers.quiz")])
    assert circles([("bot.outbox", "bot.pipeline"), ("bot.pipeline", "bot.outbox")])


def test_only_entry_points_import_the_composition_root() -> None:
    importers = {src for src, dst in edges() if dst == "bot.app"}
    assert importers and all(is_entry(m) for m in importers)


def test_adding_a_feature_is_one_package_and_one_line(sim) -> None:  # noqa: ANN001
    """The worked example of docs/architecture.md: handlers/office is a package with a manifest,
    listed once in bot.app.features(); its keyword answers through the real webhook."""
    import bot.app
    import handlers.office

    assert handlers.office.FEATURE in bot.app.features()
    source = (ROOT / "bot" / "app.py").read_text(encoding="utf-8")
    assert source.count("handlers.office") == 2  # the import and the one line in the list


async def test_the_example_feature_answers(sim, settings) -> None:  # noqa: ANN001
    reply = await sim.user("oOffice").voice(recognition="办公时间。")
    assert settings.office.phone in reply and settings.office.hours in reply


def test_no_isdigit_before_int() -> None:
    """`str.isdigit()` is true for 「²」, which `int()` refuses (a 500 from `?year=²²²²`);
    `isdecimal()` is true exactly for what `int()` reads."""
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in all_modules().values()
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if ".isdigit()" in line]
    assert offenders == []
