"""The layers run one way: core <- marketdata <- strategies <- backtests <- analytics <- interfaces <- config.

Every module of the project is parsed; an import (at module level or inside a function) or a dotted-path
string naming a module of a higher layer fails the test, and so does an import cycle between modules.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "marketdata", "strategies", "backtests", "analytics", "interfaces", "config"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}
DOTTED = re.compile(rf"^({'|'.join(LAYERS)})(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (``a.b.c`` may be the attribute ``c`` of module ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


#: The settings module's name is what an entry point hands Django (manage.py, the notebook's ``setup()``), not a
#: use of the config layer's code: the one dotted string every layer may name.
SETTINGS_MODULE = "config.settings"


def references(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, str]]:
    """(target module, line, how) for every import and dotted-path string in ``path``."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[tuple[str, str]] = []
        if isinstance(node, ast.Import):
            names = [(alias.name, "import") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [(f"{base}.{alias.name}", "import") for alias in node.names] + [(base, "import")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.match(node.value) \
                and node.value != SETTINGS_MODULE:
            names = [(node.value, "dotted-path string")]
        for name, how in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.append((target, getattr(node, "lineno", 0), how))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (strings are not imports; a package's own ``__init__``, which
    Python initialises before any of its submodules, is not an edge from them)."""
    modules = project_modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for target, _, how in references(module, path, modules):
            if how == "import" and not module.startswith(f"{target}."):
                edges[module].add(target)
    return edges


def test_no_module_imports_a_higher_layer():
    modules = project_modules()
    upward = []
    for module, path in sorted(modules.items()):
        layer = module.split(".")[0]
        for target, line, how in references(module, path, modules):
            if RANK[target.split(".")[0]] > RANK[layer]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {module} -> {target} ({how})")
    assert not upward, "upward references:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    edges = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(project_modules()):
        if node not in index:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("source, expected", [
    ("from analytics.research import research_run\n", "analytics.research"),
    ("def f():\n    from interfaces.api import urls\n", "interfaces.api.urls"),
    ('TASK = "analytics.services.montecarlo_job"\n', "analytics.services"),
])
def test_the_walker_sees_module_function_and_string_references(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = {target for target, _, _ in references("marketdata.probe", path, project_modules())}
    assert expected in found
