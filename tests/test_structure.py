"""The layout holds: no import circles, no import hidden in a function, every import points down.

Read from the source with ``ast`` (nothing is imported), over every module
the distribution ships and the benchmarks. The floors, top to bottom, are
those docs/architecture.md draws; the sandboxed workflow modules reach
nothing but ``workflows`` and the pure domain in ``models``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workflows.sandbox import SANDBOXED

ROOT = Path(__file__).resolve().parents[1]

#: Top to bottom: a module may import from its own floor's other folders only where
#: listed as the same floor, and from any floor below.
FLOORS: list[set[str]] = [
    {"bench"},
    {"cli"},
    {"api", "worker"},
    {"activities", "intake"},
    {"door"},
    {"paper", "channels"},
    {"workflows"},
    {"audit"},
    {"ops"},
    {"db"},
    {"models"},
    {"config"},
    {"crypto"},
]
TOP_LEVEL = {name for floor in FLOORS for name in floor}
#: Pure domain modules a sandboxed workflow may use (passed through from the host).
DOMAIN = {"models", "models.case", "models.domain", "models.policy", "models.assessment", "models.io",
          "models.search_attributes", "models.validation", "models.incident", "models.errors", "models.records",
          "models.watch", "models.digest"}
#: Libraries of storage: the database's tables and queries live in db/, never in the domain.
DATABASE_LIBRARIES = ("sqlalchemy", "sqlmodel", "alembic", "psycopg")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for top in TOP_LEVEL:
        base = ROOT / top
        for path in [base.with_suffix(".py")] if base.with_suffix(".py").exists() else base.rglob("*.py"):
            found[_module_name(path)] = path
    return found


SOURCES = _sources()


def _resolve(name: str) -> str | None:
    """The project module an import names (``models.case`` of ``from models.case import X``), if any."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import of ``module``."""
    tree = ast.parse(SOURCES[module].read_text(), str(SOURCES[module]))
    out = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module if SOURCES[module].name == "__init__.py" else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".strip(".")
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in SOURCES else base for alias in child.names]
            elif isinstance(child, ast.Call) and getattr(child.func, "attr", getattr(child.func, "id", "")) in (
                "import_module", "__import__"
            ):
                out.append(("<dynamic import>", child.lineno, True))
            for name in names:
                target = _resolve(name)
                if target is not None and target != module:
                    out.append((target, child.lineno, in_function))
                elif target is None and in_function:
                    out.append((name, child.lineno, True))  # a library imported inside a function
            visit(child, nested)

    visit(tree, False)
    return out


GRAPH = {module: _imports(module) for module in SOURCES}


def _floor(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, floor in enumerate(FLOORS) if top in floor)


def test_the_tree_is_read():
    assert {"workflows.case_workflow", "workflows.machine", "models.domain", "cli.dev", "api.app", "worker"} <= set(
        SOURCES
    )


#: Modules that import on purpose when called: the command registry (``cli/__init__.py``) imports a
#: command's module only to run it, so that ``crisisflow --help`` loads none (tests/test_cli.py loads each).
IMPORTS_WHEN_CALLED = {"cli"}


def test_no_import_sits_inside_a_function():
    hidden = sorted(
        {f"{m}:{line} imports {target}" for m, edges in GRAPH.items() for target, line, inner in edges
         if inner and not (m in IMPORTS_WHEN_CALLED and target == "<dynamic import>")}
    )
    assert not hidden, "imports belong at the top of the module:\n" + "\n".join(hidden)


def test_no_import_circles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def strongconnect(v: str, counter=[0]) -> None:  # noqa: B006 - Tarjan's counter
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        for w, _, _ in GRAPH[v]:
            if w not in GRAPH:
                continue
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            strongconnect(module)
    assert not circles, f"modules that import each other in a circle: {circles}"


def test_every_import_points_down():
    upward = [
        f"{m}:{line} imports {target} (floor {_floor(target)} is above floor {_floor(m)})"
        for m, edges in GRAPH.items()
        for target, line, _ in edges
        if target in GRAPH
        and (_floor(target) < _floor(m) or (_floor(target) == _floor(m) and target.split(".")[0] != m.split(".")[0]))
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("module", SANDBOXED)
def test_sandboxed_workflows_reach_only_the_domain(module):
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [target for target, _, _ in GRAPH[current] if target in GRAPH]
    outside = sorted(m for m in seen if not (m in DOMAIN or m in SANDBOXED or m == "workflows"))
    assert not outside, f"{module} reaches code that must not run in the workflow sandbox: {outside}"


def _libraries(module: str) -> set[str]:
    """The top-level names of everything ``module`` imports, project modules or not."""
    tree = ast.parse(SOURCES[module].read_text(), str(SOURCES[module]))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_domain_holds_no_database():
    """models/ is the pure domain the workflow sandbox shares: tables and queries are db/'s."""
    leaks = sorted(f"{m} imports {lib}" for m in SOURCES if m.split(".")[0] == "models"
                   for lib in _libraries(m) if lib in DATABASE_LIBRARIES)
    assert not leaks, "models/ must not reach the database:\n" + "\n".join(leaks)
