"""Architecture: no import cycles in production code, and the packages depend as a star."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("broker_config", "rider_api", "stop_gateway", "driver_display", "simulators")
COMPONENTS = ("rider_api", "stop_gateway", "driver_display")
SCANNED = (*PRODUCTION, "tests", "bench")
# The star: the hub imports no spoke, spokes import neither each other nor the simulators,
# and nothing shipped imports test or benchmark code.
FORBIDDEN: dict[str, frozenset[str]] = {
    "broker_config": frozenset({*COMPONENTS, "simulators", "tests", "bench"}),
    **{c: frozenset({*COMPONENTS, "simulators", "tests", "bench"} - {c}) for c in COMPONENTS},
    "simulators": frozenset({"tests", "bench"}),
}


@dataclass(frozen=True)
class Edge:
    """One import statement of `source`, resolved to the project module `target`."""

    source: str
    target: str
    path: Path
    line: int

    def where(self) -> str:
        """The importing file and line, relative to the project root."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_name(path: Path) -> str:
    """Dotted module name of a file; a package's `__init__.py` is the package itself."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every scanned module, by dotted name."""
    return {module_name(p): p for pkg in SCANNED for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported_names(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> Iterator[str]:
    """Dotted names one import statement loads, `from X import Y` as `X.Y` if that is a module."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    for alias in node.names:
        yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base


def known_prefix(name: str) -> str | None:
    """The longest prefix of `name` that is a scanned module (None if outside the project)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules():
            return ".".join(parts[:end])
    return None


@cache
def direct_edges() -> tuple[Edge, ...]:
    """Every import written in a scanned file, to a scanned module."""
    edges = []
    for module, path in modules().items():
        # ast.walk, not the top level: a lazy import inside a function or under
        # `if TYPE_CHECKING:` still ties the two modules together, so it is still a cycle.
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in imported_names(node, module, path):
                    if (target := known_prefix(name)) is not None:
                        edges.append(Edge(module, target, path, node.lineno))
    return tuple(edges)


def runs_code(module: str) -> bool:
    """Whether importing the package runs anything (an empty `__init__.py` cannot close a cycle)."""
    return bool(modules()[module].read_text(encoding="utf-8").strip())


def production_graph() -> tuple[dict[str, set[str]], list[Edge]]:
    """Module graph of the production packages, with the implied parent-package imports."""
    graph: dict[str, set[str]] = {m: set() for m in modules() if m.split(".")[0] in PRODUCTION}
    edges = []
    for edge in direct_edges():
        if edge.source not in graph or edge.target not in graph:
            continue
        edges.append(edge)
        parts = edge.target.split(".")
        for parent in (".".join(parts[:end]) for end in range(1, len(parts))):
            # The importer itself and its ancestors have already started running: no new edge.
            if runs_code(parent) and not f"{edge.source}.".startswith(f"{parent}."):
                edges.append(Edge(edge.source, parent, edge.path, edge.line))
    for edge in edges:
        graph[edge.source].add(edge.target)
    return graph, edges


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, plus self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_cycle_finder_detects_a_cycle_and_ignores_a_chain() -> None:
    """The finder reports a->b->a and self-imports, but not the chain a->b->c."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_parser_sees_the_real_graph() -> None:
    """The graph is not empty: rider_api.app exists and imports broker_config."""
    assert len(modules()) > 100, sorted(modules())
    graph, _ = production_graph()
    assert "rider_api.app" in graph
    assert any(t.split(".")[0] == "broker_config" for t in graph["rider_api.app"])


def test_no_import_cycles() -> None:
    """No cycle among production modules, counting lazy and TYPE_CHECKING imports."""
    graph, edges = production_graph()
    report = []
    for component in cycles(graph):
        members = set(component)
        report.append("cycle: " + ", ".join(component))
        inner = {
            (e.source, e.target): e for e in reversed(edges) if {e.source, e.target} <= members
        }
        report += [f"    {s} -> {t}  ({e.where()})" for (s, t), e in sorted(inner.items())]
    assert not report, "import cycles:\n" + "\n".join(report)


def test_packages_form_a_star() -> None:
    """broker_config is the hub, components never import each other, no one ships tests."""
    bad = sorted(
        f"{e.where()}: {e.source} imports {e.target}"
        for e in direct_edges()
        if e.target.split(".")[0] in FORBIDDEN.get(e.source.split(".")[0], frozenset())
    )
    assert not bad, "imports against the star:\n" + "\n".join(bad)
