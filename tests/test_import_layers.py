"""The packages' imports point one way: each package imports only the layers below it, domain code never
imports Dagster, and no module takes part in an import cycle (imports inside functions count too).

The layers are declared in LAYERS below, lowest first; docs/architecture.md explains each package's job."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A package may import packages of lower layers only; packages of one layer are independent.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("contracts",),
    ("gdc", "lake"),
    ("transforms", "analyses"),
    ("models", "quality"),
    ("reports",),
    ("warehouse", "sandbox"),
    ("assets",),
    ("orchestration",),
)
PACKAGES = {package: level for level, layer in enumerate(LAYERS) for package in layer}
# Where Dagster may be imported: the wiring and the thin assets. Everything else runs and tests without it.
DAGSTER_PACKAGES = frozenset({"assets", "orchestration"})


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _imports(path: Path, module: str) -> set[str]:
    """Every module `path` imports (top level or inside functions), resolved to the project's modules when it
    is one (`from lake import files` -> lake.files) and kept as written otherwise (dagster, polars)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    # Imports only a type checker runs (`if TYPE_CHECKING:`) are not run, so they make no cycle.
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(submodules)
            # `from package import submodule` depends on the submodule; any other name comes from `base` itself.
            if len(submodules) < len(node.names):
                found.add(base)
    return found


def _graph() -> dict[str, set[str]]:
    return {module: _imports(path, module) for module, path in MODULES.items()}


GRAPH = _graph()


def test_every_package_is_in_a_layer_and_says_its_job() -> None:
    on_disk = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")}
    assert on_disk - set(PACKAGES) == set(), "add the new package to LAYERS (and to docs/architecture.md)"
    for package in PACKAGES:
        docstring = ast.get_docstring(ast.parse((REPO_ROOT / package / "__init__.py").read_text()))
        assert docstring and len(docstring.split()) >= 8, f"{package}/__init__.py must say the package's job"


@pytest.mark.parametrize("package", list(PACKAGES))
def test_a_package_imports_only_layers_below_it(package: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] in PACKAGES
        and target.split(".")[0] != package
        and PACKAGES[target.split(".")[0]] >= PACKAGES[package]
    )
    assert wrong == [], f"{package} (layer {PACKAGES[package]}) reaches up or sideways:\n" + "\n".join(wrong)


def test_domain_code_never_imports_dagster() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] not in DAGSTER_PACKAGES
        for target in targets
        if target.split(".")[0] in {"dagster", "dagster_postgres", "dagster_k8s", "dagster_duckdb"}
    )
    assert wrong == [], "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    edges = {m: sorted(t for t in targets if t in graph and t != m) for m, targets in graph.items()}
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_no_module_is_part_of_an_import_cycle() -> None:
    # A package's __init__ importing its own submodules is not a cycle worth reporting; there are none today.
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert _cycles(dict(graph)) == [["a", "b", "c"]]
