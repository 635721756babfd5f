"""The package layout: no import circles among cptdyn's modules, and layers point down.

The import graph is read from the source (the AST of every ``.py`` file), not from the running
interpreter, so function-level imports count as much as module-level ones. Folders map to import
paths as in pyproject.toml: ``cptdyn/x.py`` -> ``cptdyn.x``, ``schedules/x.py`` ->
``cptdyn.schedules.x`` and so on; sub-folders are walked too, so the test follows files that move.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> import path of the package it holds (setuptools package-dir mapping)
FOLDERS = {
    "cptdyn": "cptdyn",
    "schedules": "cptdyn.schedules",
    "dynamics": "cptdyn.dynamics",
    "planner": "cptdyn.planner",
}
LAYERS = ("cptdyn.schedules", "cptdyn.dynamics", "cptdyn.planner", "cptdyn.report", "cptdyn.cli")
#: modules kept only to forward an old import path; exempt from the core rule
SHIMS = {"cptdyn._cli"}  # ``cptdyn._cli:main`` entry points of earlier installs (one release)


def _modules() -> dict[str, tuple[Path, bool]]:
    """``{module name: (file, is_package)}`` for every .py file under the mapped folders."""
    out: dict[str, tuple[Path, bool]] = {}
    for folder, pkg in FOLDERS.items():
        base = ROOT / folder
        for f in sorted(base.rglob("*.py")):
            rel = f.relative_to(base).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in rel):
                continue
            is_pkg = rel[-1] == "__init__"
            parts = rel[:-1] if is_pkg else rel
            out[".".join((pkg, *parts))] = (f, is_pkg)
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:`` (never run)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str) -> str | None:
    """The longest prefix of dotted ``name`` that is one of our modules."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in MODULES:
            return cand
    return None


def _imports(module: str) -> set[str]:
    """Our modules that ``module`` imports (relative imports resolved)."""
    path, is_pkg = MODULES[module]
    package = module if is_pkg else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            # ``from pkg import sub`` imports the submodule when there is one
            targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in MODULES else src
                       for a in node.names]
        for t in targets:
            hit = _known(t)
            if hit is not None and hit != module:
                out.add(hit)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        path = [start]
        color[start] = GREY
        iters = [iter(sorted(graph[start]))]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                color[path.pop()] = BLACK
                iters.pop()
            elif color.get(nxt, BLACK) == GREY:
                return path[path.index(nxt):] + [nxt]
            elif color.get(nxt) == WHITE:
                color[nxt] = GREY
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt])))
    return None


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(layer: str | None, forbidden: tuple[str, ...]) -> list[str]:
    """``importer -> imported`` lines where a module of ``layer`` (None: the core modules
    ``cptdyn/_*.py``, not dunder files nor shims) imports one of the ``forbidden`` packages."""
    bad = []
    for m, deps in sorted(GRAPH.items()):
        if layer is None:
            name = m.partition(".")[2]
            mine = (m.count(".") == 1 and m.startswith("cptdyn._")
                    and not name.startswith("__") and m not in SHIMS)
        else:
            mine = _in(m, layer)
        if not mine:
            continue
        bad += [f"{m} -> {d}" for d in sorted(deps) if any(_in(d, f) for f in forbidden)]
    return bad


def test_walk_finds_the_layers():
    for pkg in ("cptdyn", *LAYERS):
        assert pkg in MODULES, pkg


def test_graph_sees_function_level_and_relative_imports():
    # cptdyn.cli imports its command modules; command handlers import the layers lazily
    assert "cptdyn.cli._common" in GRAPH["cptdyn.cli._demo"]
    assert any(_in(d, "cptdyn.dynamics") for d in GRAPH["cptdyn.cli._dynamics"])


def test_cycle_finder_reports_a_circle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles():
    cycle = _find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


LAYER_RULES = [
    ("cptdyn.schedules", ("cptdyn.dynamics", "cptdyn.planner", "cptdyn.report", "cptdyn.cli")),
    ("cptdyn.dynamics", ("cptdyn.planner", "cptdyn.report", "cptdyn.cli", "cptdyn.schedules")),
    ("cptdyn.planner", ("cptdyn.report", "cptdyn.cli")),
    ("cptdyn.report", ("cptdyn.cli",)),
    (None, LAYERS),
]


@pytest.mark.parametrize("layer,forbidden", LAYER_RULES,
                         ids=["schedules", "dynamics", "planner", "report", "core"])
def test_layers_point_down(layer, forbidden):
    bad = _violations(layer, forbidden)
    assert not bad, "layering: " + "; ".join(bad)


def test_cli_command_modules_share_only_common_and_report():
    # cptdyn.cli wires the command modules; they never import one another
    shared = {"cptdyn.cli._common", "cptdyn.cli._report", "cptdyn.cli._output",
              "cptdyn.cli._progress"}
    bad = [f"{m} -> {d}" for m, deps in sorted(GRAPH.items()) if _in(m, "cptdyn.cli")
           and m != "cptdyn.cli" for d in sorted(deps)
           if _in(d, "cptdyn.cli") and d not in shared]
    assert not bad, "; ".join(bad)
