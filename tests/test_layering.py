"""The package's layers, checked on every import statement (module level and lazy ones).

``genflow.core`` imports no other part of genflow; ``genflow.model`` and ``genflow.hull`` import
only the core (and themselves); ``genflow.workflows`` imports the core, model and hull; the
campaign layer sits on those, the evaluation layer on the campaign layer, and only the CLI
package (``genflow.cli``) and the read-only web view beside it (``genflow.web``, which the CLI's
``genflow web`` starts) sit on everything.

Three run-time links are forbidden as well, because an import check alone does not see them:

- **cycles**: no two genflow modules import each other, directly or through others, counting
  imports inside functions (a lazy import that closes a cycle is still a cycle);
- **rebinding**: no module assigns an attribute of another module (``other.GLOBAL = ...`` or
  ``setattr(other, ...)``): a room's behaviour is decided by its own code and its callers'
  arguments, never patched from above;
- **writes from below**: ``hull/`` scores and returns; only the candidates repository writes
  the candidates collection (``tests/test_candidate_writes.py``, with its planted cases).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# source folder → the genflow package it installs as (pyproject's package-dir)
ROOMS = {
    "genflow/core": "genflow.core",
    "genflow/campaign": "genflow.campaign",
    "genflow/evaluation": "genflow.evaluation",
    "genflow/cli": "genflow.cli",
    "model": "genflow.model",
    "hull": "genflow.hull",
    "workflows": "genflow.workflows",
    "genflow/web": "genflow.web",
}
_BELOW_CLI = {
    "genflow.core",
    "genflow.model",
    "genflow.hull",
    "genflow.workflows",
    "genflow.campaign",
    "genflow.evaluation",
}
ALLOWED = {
    "genflow.core": {"genflow.core"},
    "genflow.model": {"genflow.core", "genflow.model"},
    "genflow.hull": {"genflow.core", "genflow.hull"},
    "genflow.workflows": {"genflow.core", "genflow.model", "genflow.hull", "genflow.workflows"},
    "genflow.campaign": {
        "genflow.core", "genflow.model", "genflow.hull", "genflow.workflows", "genflow.campaign",
    },
    # the evaluation layer sits on the campaign layer (its report reads campaign status)
    "genflow.evaluation": _BELOW_CLI,
    "genflow.web": _BELOW_CLI | {"genflow.web"},
    "genflow.cli": _BELOW_CLI | {"genflow.cli", "genflow.web"},
}  # fmt: skip


# --------------------------------------------------------------------------- module graph
def module_name(path: Path, rooms: dict[str, str] = ROOMS, root: Path = REPO) -> str:
    """The import name of a source file (``model/unimat/net.py`` → ``genflow.model.unimat.net``)."""
    rel = path.relative_to(root)
    for folder, package in rooms.items():
        if rel.is_relative_to(folder):
            parts = list(rel.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise ValueError(f"{rel} is in no room")


def _sources(rooms: dict[str, str] = ROOMS, root: Path = REPO) -> list[tuple[Path, str]]:
    return [
        (p, module_name(p, rooms, root))
        for folder in rooms
        for p in sorted((root / folder).rglob("*.py"))
    ]


def _imported(node: ast.AST, here: str, is_package: bool) -> Iterator[tuple[str, str | None]]:
    """(module, imported name or None) for one import statement, relative ones resolved."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, None
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = here.split(".")
            parts = parts if is_package else parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(p for p in [*parts, base] if p)
        for alias in node.names:
            yield base, alias.name


def genflow_imports(
    path: Path, modules: Iterable[str] = (), here: str | None = None
) -> list[tuple[int, str]]:
    """Every ``genflow`` module a file imports, wherever the statement sits (line, module).

    ``from genflow.x import y`` counts as importing ``genflow.x.y`` when that is a module
    (one of ``modules``), else ``genflow.x``; relative imports resolve from ``here`` (the
    file's own module name, by default from its path in this repository).
    """
    known = set(modules)
    here = here or module_name(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        for module, name in _imported(node, here, is_package):
            if not (module == "genflow" or module.startswith("genflow.")):
                continue
            target = f"{module}.{name}" if name else module
            if name and (target in known or module == "genflow"):
                found.append((node.lineno, target))
            else:
                found.append((node.lineno, module))
    return found


def import_graph(rooms: dict[str, str] = ROOMS, root: Path = REPO) -> dict[str, set[str]]:
    """genflow module → the genflow modules it imports (package imports of itself excluded)."""
    sources = _sources(rooms, root)
    names = {name for _, name in sources}
    graph: dict[str, set[str]] = {}
    for path, name in sources:
        targets = set()
        for _, module in genflow_imports(path, names, name):
            # the longest known module the statement names (``genflow.x.y.Class`` → genflow.x.y)
            while module not in names and "." in module:
                module = module.rsplit(".", 1)[0]
            if module in names and module != name:
                targets.add(module)
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


# --------------------------------------------------------------------------- run-time links
def _where(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


def rebindings(path: Path, modules: Iterable[str]) -> list[str]:
    """Lines where a file assigns an attribute of a genflow module it imported."""
    known = set(modules)
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name.split(".")[0] for a in node.names
                        if a.name.startswith("genflow")}  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genflow"):
            aliases |= {a.asname or a.name for a in node.names
                        if f"{node.module}.{a.name}" in known}  # fmt: skip
    bad = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in {"setattr", "delattr"} and node.args
        ):  # fmt: skip
            targets = [ast.Attribute(value=node.args[0], attr="?")]
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute):
                root = root.value
            if (
                isinstance(target, ast.Attribute)
                and isinstance(root, ast.Name)
                and root.id in aliases
            ):
                bad.append(f"{_where(path)}:{node.lineno} rebinds {ast.unparse(target)}")
    return bad


def _room(module: str) -> str | None:
    """The room a ``genflow.*`` module belongs to (``genflow`` itself for the package root)."""
    parts = module.split(".")
    if parts[0] != "genflow":
        return None
    if len(parts) == 1:
        return "genflow"
    candidate = ".".join(parts[:2])
    return candidate if candidate in ALLOWED else module


def upward_imports(folder: str, root: Path = REPO, rooms: dict[str, str] = ROOMS) -> list[str]:
    room = rooms[folder]
    sources = _sources(rooms, root)
    names = {n for _, n in sources}
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path, here in sources
        if path.is_relative_to(root / folder)
        for line, module in genflow_imports(path, names, here)
        if _room(module) not in ALLOWED[room]
    ]


# --------------------------------------------------------------------------- the tree
@pytest.mark.parametrize("folder", sorted(ROOMS))
def test_rooms_import_only_downward(folder: str) -> None:
    bad = upward_imports(folder)
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles (lazy imports counted):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_module_rebinds_another() -> None:
    names = {n for _, n in _sources()}
    bad = [line for path, _ in _sources() for line in rebindings(path, names)]
    assert not bad, "run-time rebinding of another module's globals:\n" + "\n".join(bad)


def test_only_the_cli_imports_evaluation() -> None:
    """Below the evaluation layer nothing may import it; the CLI package does."""
    assert all("genflow.evaluation" not in allowed for room, allowed in ALLOWED.items()
               if room not in {"genflow.evaluation", "genflow.cli", "genflow.web"})  # fmt: skip
    graph = import_graph()
    assert any(t.startswith("genflow.evaluation") for m, ts in graph.items()
               if m.startswith("genflow.cli") for t in ts)  # fmt: skip


def test_every_source_file_is_in_a_room() -> None:
    """No module sits loose in genflow/ beside the rooms except the package root."""
    loose = sorted(p.name for p in (REPO / "genflow").glob("*.py"))
    assert loose == ["__init__.py"]
    assert len(_sources()) > 50


# --------------------------------------------------------------------------- the checker
def _plant(tmp_path: Path, files: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A toy tree of two rooms (``genflow.core`` in core/, ``genflow.hull`` in hull/)."""
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path, {"core": "genflow.core", "hull": "genflow.hull"}


def test_the_checker_sees_a_planted_upward_import(tmp_path: Path) -> None:
    root, rooms = _plant(tmp_path, {
        "core/__init__.py": "",
        "core/low.py": "def f():\n    from genflow.hull.high import g\n",
        "hull/__init__.py": "",
        "hull/high.py": "from genflow.core.low import f\n",
    })  # fmt: skip
    assert upward_imports("core", root, rooms) == ["core/low.py:2 imports genflow.hull.high"]
    assert upward_imports("hull", root, rooms) == []


def test_the_checker_sees_a_planted_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    root, rooms = _plant(tmp_path, {
        "hull/__init__.py": "",
        "hull/a.py": "from genflow.hull import b\n",
        "hull/b.py": "def late():\n    from genflow.hull.c import x\n",
        "hull/c.py": "from . import a\nx = 1\n",
        "hull/d.py": "from genflow.hull.a import b\n",
    })  # fmt: skip
    graph = import_graph(rooms, root)
    assert graph["genflow.hull.b"] == {"genflow.hull.c"}
    assert graph["genflow.hull.c"] == {"genflow.hull.a"}  # relative import resolved
    assert import_cycles(graph) == [["genflow.hull.a", "genflow.hull.b", "genflow.hull.c"]]


def test_the_checker_sees_a_planted_rebinding(tmp_path: Path) -> None:
    root, rooms = _plant(tmp_path, {
        "core/__init__.py": "",
        "core/cli.py": "WRITER = None\n",
        "hull/__init__.py": "",
        "hull/patch.py": (
            "from genflow.core import cli as core_cli\nimport genflow.core.cli\n"
            "def hook():\n    core_cli.WRITER = print\n    setattr(genflow.core.cli, 'X', 1)\n"
            "    local = object()\n    local.attr = 1\n"
        ),
    })  # fmt: skip
    names = {n for _, n in _sources(rooms, root)}
    assert rebindings(root / "hull/patch.py", names) == [
        "patch.py:4 rebinds core_cli.WRITER", "patch.py:5 rebinds genflow.core.cli.?",
    ]  # fmt: skip
