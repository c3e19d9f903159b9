"""Every action the code records in the audit log has a Chinese label on the audit page
(bot/admin/audit.py ACTION_LABELS), and every label is of an action still recorded.

The action names are read from the code itself: every `audit.record(...)` /
`audit.record_refused(...)` call in bot/, handlers/ and scheduler/, its `action=` followed
through literals, `a if c else b`, f-strings, local variables and the parameters of the small
helpers that pass it on (`_audit(db, ctx, "signup.qr", ...)`), the list exports' `audit=` names
and the permission middleware's names for refused requests. An action this reading can't
resolve fails the test too: name it with a literal, or teach DYNAMIC below where it comes from.
"""
from __future__ import annotations

import ast
import importlib
import itertools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from bot.admin import audit, permissions

ROOT = Path(__file__).resolve().parents[2]
DIRS = ("bot", "handlers", "scheduler")


def _hardship_actions() -> set[str]:
    from handlers.hardship import ops

    return {f"hardship.{a}" for a in ops.STAFF_ACTIONS}


# Names built from values the code checks at run time (file, the expression as written) → the names.
DYNAMIC: dict[tuple[str, str], Callable[[], set[str]]] = {
    # /admin/hardship/<id>/act/<action>: one of the request's staff actions (ops.STAFF_ACTIONS)
    ("handlers/hardship/admin.py", "f'hardship.{action}'"): _hardship_actions,
    # a list export: `Export(audit=...)`, every one of which is read below (EXPORT_NAMES)
    ("bot/admin/lists.py", "exp.audit or f\"{self.name.split('.')[0]}.export\""): lambda: set(),
    # a refused request: permissions.refused_action, whose names are checked below
    ("bot/admin/permissions.py", "action[:64]"): lambda: set(),
}


def _sources() -> Iterable[Path]:
    for d in DIRS:
        yield from sorted((ROOT / d).rglob("*.py"))


def _is_audit_call(call: ast.Call) -> bool:
    f = call.func
    return isinstance(f, ast.Attribute) and f.attr in ("record", "record_refused") and \
        isinstance(f.value, ast.Name) and f.value.id == "audit"


class Module:
    """One source file: its functions, imports and module constants, for following a name."""

    def __init__(self, path: Path, rel: str = "") -> None:
        self.path = path
        self.rel = rel or path.relative_to(ROOT).as_posix()
        self.tree = ast.parse(path.read_text("utf-8"))
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.imports: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = alias.name

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def calls_of(self, name: str) -> list[ast.Call]:
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.Call) and (
            (isinstance(n.func, ast.Name) and n.func.id == name)
            or (isinstance(n.func, ast.Attribute) and n.func.attr == name and isinstance(n.func.value, ast.Name)
                and n.func.value.id in ("self", "cls")))]

    def values(self, expr: ast.AST, depth: int = 0) -> set[str] | None:
        """Every string `expr` can be, or None when that can't be read from the code."""
        if depth > 8:
            return None
        known = DYNAMIC.get((self.rel, ast.unparse(expr)))
        if known is not None:
            return known()
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            a, b = self.values(expr.body, depth + 1), self.values(expr.orelse, depth + 1)
            return None if a is None or b is None else a | b
        if isinstance(expr, ast.JoinedStr):
            parts: list[set[str]] = []
            for v in expr.values:
                got = self.values(v.value if isinstance(v, ast.FormattedValue) else v, depth + 1)
                if got is None:
                    return None
                parts.append(got)
            return {"".join(p) for p in itertools.product(*parts)}
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice):
            return self.values(expr.value, depth + 1)  # action[:64]
        if isinstance(expr, ast.Subscript):  # NAMES[key] of a module's dict of names: any of them
            table = self._imported(expr.value)
            if isinstance(table, dict) and table and all(isinstance(v, str) for v in table.values()):
                return set(table.values())
            return None
        if isinstance(expr, ast.Attribute):
            value = self._imported(expr)
            return {value} if isinstance(value, str) else None
        if isinstance(expr, ast.Name):
            return self._name(expr, depth)
        return None

    def _imported(self, expr: ast.AST) -> object:
        """The value of `module.NAME` (an imported module's attribute), or None."""
        if not (isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name)
                and expr.value.id in self.imports):
            return None
        try:
            return getattr(importlib.import_module(self.imports[expr.value.id]), expr.attr, None)
        except ImportError:
            return None

    def _name(self, expr: ast.Name, depth: int) -> set[str] | None:
        func = self.function_of(expr)
        scope = func if func is not None else self.tree
        assigned = [n.value for n in ast.walk(scope) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == expr.id for t in n.targets)]
        if assigned:
            out: set[str] = set()
            for value in assigned:
                got = self.values(value, depth + 1)
                if got is None:
                    return None
                out |= got
            return out
        if func is None:
            return None
        params = [a.arg for a in func.args.posonlyargs + func.args.args]
        if expr.id not in params + [a.arg for a in func.args.kwonlyargs]:
            return None
        callers = self.calls_of(func.name)
        if not callers:
            return None
        out = set()
        for call in callers:
            arg = next((k.value for k in call.keywords if k.arg == expr.id), None)
            if arg is None and expr.id in params:
                index = params.index(expr.id) - (1 if params and params[0] in ("self", "cls") else 0)
                arg = call.args[index] if index < len(call.args) else None
            got = self.values(arg, depth + 1) if arg is not None else None
            if got is None:
                return None
            out |= got
        return out


def recorded_actions() -> tuple[set[str], list[str]]:
    """(the action names the code records, the calls whose name couldn't be read)."""
    names: set[str] = set()
    unresolved: list[str] = []
    for path in _sources():
        mod = Module(path)
        for call in (n for n in ast.walk(mod.tree) if isinstance(n, ast.Call) and _is_audit_call(n)):
            expr = next((k.value for k in call.keywords if k.arg == "action"), None)
            if expr is None:
                continue
            got = mod.values(expr)
            if got is None:
                unresolved.append(f"{mod.rel}:{call.lineno} action={ast.unparse(expr)}")
                continue
            names |= got
    return names, unresolved


def export_names() -> tuple[set[str], list[str]]:
    """The `audit=` names of the list exports (an Export without one is listed as missing)."""
    names: set[str] = set()
    missing: list[str] = []
    for path in _sources():
        mod = Module(path)
        for call in ast.walk(mod.tree):
            if isinstance(call, ast.Call) and getattr(call.func, "attr", getattr(call.func, "id", "")) == "Export" \
                    and mod.rel != "bot/admin/lists.py":
                kw = next((k.value for k in call.keywords if k.arg == "audit"), None)
                got = mod.values(kw) if kw is not None else None
                if got is None:
                    missing.append(f"{mod.rel}:{call.lineno}")
                else:
                    names |= got
    return names, missing


def test_every_recorded_action_has_a_label() -> None:
    names, unresolved = recorded_actions()
    assert not unresolved, "audit actions this test can't read (use a literal or add to DYNAMIC):\n" + \
        "\n".join(unresolved)
    exports, missing = export_names()
    assert not missing, f"list exports without an audit= name: {missing}"
    refused = set(permissions.REFUSED_AS.values()) | {permissions.REFUSED_OTHER}
    refused = {n for n in refused if "{" not in n}  # templated ones fall back to REFUSED_OTHER unlabelled
    everything = names | exports | refused
    # the test reads what it should: the actions of every feature and of the site itself
    assert {"auth.login", "staff.create", "hardship.view", "hardship.reveal_id", "hardship.deliver",
            "inbox.reply", "inbox.close", "faq.edit", "menu.publish", "texts.edit", "quiz.period_delete",
            "signup.qr", "chairs.reveal_mobile", "member.reveal_phone", "audit.export"} <= everything
    bad = sorted(n for n in everything if not audit.ACTION_RE.match(n))
    assert not bad, f"audit actions not named feature.verb: {bad}"
    unlabelled = sorted(everything - set(audit.ACTION_LABELS))
    assert not unlabelled, f"audit actions without a label in bot/admin/audit.py ACTION_LABELS: {unlabelled}"
    stale = sorted(set(audit.ACTION_LABELS) - everything)
    assert not stale, f"labels of actions nothing records any more (rename or remove them): {stale}"


def test_the_reader_follows_helpers_and_variables(tmp_path) -> None:
    """The reading fails on what it can't follow (so this test can't pass by reading nothing)."""
    src = tmp_path / "m.py"
    src.write_text(
        "async def _audit(db, ctx, action, target):\n"
        "    await audit.record(db, action=action, target=target)\n"
        "async def a(db, x):\n"
        "    await _audit(db, 1, 'x.one' if x else 'x.two', 't')\n"
        "    verb = 'three'\n"
        "    await audit.record(db, action=f'x.{verb}')\n"
        "    await audit.record(db, action=x.name)\n", "utf-8")
    mod = Module(src, rel="m.py")
    calls = [n for n in ast.walk(mod.tree) if isinstance(n, ast.Call) and _is_audit_call(n)]
    got = [mod.values(next(k.value for k in c.keywords if k.arg == "action")) for c in calls]
    assert got == [{"x.one", "x.two"}, {"x.three"}, None]


def test_refused_requests_are_named_like_the_done_actions() -> None:
    name = permissions.refused_action
    assert name("hardship.reveal", {}, {"field": "id"}) == "hardship.reveal_id"
    assert name("hardship.reveal", {}, {"field": "phone"}) == "hardship.reveal_phone"
    assert name("hardship.act", {"action": "approve"}, {}) == "hardship.approve"
    assert name("hardship.act", {"action": "no_such_thing"}, {}) == permissions.REFUSED_OTHER
    assert name("hardship.detail", {"id": "3"}, {}) == "hardship.view"
    assert name("inbox.reveal", {"id": "3"}, {}) == "inbox.reveal_phone"
    assert name("inbox.reply", {"id": "3"}, {}) == "inbox.reply"  # the route is named as the action
    assert name("inbox.list", {}, {}) == permissions.REFUSED_OTHER  # a page: "opened a page", path in target
    assert re.match(audit.ACTION_RE, permissions.REFUSED_OTHER)
