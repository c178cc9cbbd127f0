"""The layout the README's "How it fits together" describes holds in the imports: the contract
package imports neither service, the facade never imports the decision service, the engine
imports no service runtime, and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contract", "decision", "facade", "plumbing")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (at any depth: run time or type checking)."""
    modules = {
        _module(p): p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if not p.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


GRAPH = _imports()


def _edges_from(prefix: str) -> list[tuple[str, str]]:
    return [(a, b) for a, targets in GRAPH.items() if a.startswith(prefix) for b in targets]


def test_the_contract_imports_neither_service():
    bad = [(a, b) for a, b in _edges_from("contract") if b.startswith(("decision", "facade"))]
    assert bad == []


def test_the_facade_never_imports_the_decision_service():
    assert [(a, b) for a, b in _edges_from("facade") if b.startswith("decision")] == []


def test_the_engine_imports_no_adapter():
    bad = [
        (a, b)
        for a, b in _edges_from("decision.engine")
        if b.startswith("decision.") and not b.startswith("decision.engine")
    ]
    assert bad == []


def test_plumbing_knows_nothing_of_routing():
    assert [(a, b) for a, b in _edges_from("plumbing") if not b.startswith("plumbing")] == []


def test_no_import_cycles():
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError(" -> ".join(cycle))
        if module in done:
            return
        for target in sorted(GRAPH[module]):
            # A package's __init__ re-exporting its own modules is not a cycle of the layout.
            if not target.startswith(module + "."):
                visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
