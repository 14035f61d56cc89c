"""The dependency rule of DESIGN.md §8 (issue 10, deliverable 7), read from the source.

Every module of ``darkpool``, ``fhe`` and ``commit_reveal`` is parsed; every import statement
counts, also those inside functions and ``TYPE_CHECKING`` blocks: a lazy import still ties two
rooms. The rules:

- ``core``: the core (domain, errors, crypto, clearing, margin, ledger) imports no adapter;
- ``sdk``: the SDK imports nothing of the operator or the custodian, nor a server framework;
- ``audit``: the auditor imports nothing private of another package, nothing of the operator
  or the SDK;
- ``concrete``: only ``fhe`` imports concrete;
- ``cycle``: no import cycle among the project's modules (strongly connected components);
- ``size``: no module over 500 lines.

``KNOWN_VIOLATIONS`` lists what still breaks a rule while its owners fix it. The test subtracts
it and also fails when a listed violation no longer occurs, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("darkpool", "fhe", "commit_reveal")
MAX_LINES = 500
RULES = ("core", "sdk", "audit", "concrete", "cycle", "size")

Violation = tuple[str, str, str]
"""``(rule, module, target)``: for ``cycle`` the module is the cycle's first member and the target
the others; for ``size`` the target is empty."""

KNOWN_VIOLATIONS: frozenset[Violation] = frozenset()

CORE = ("darkpool.domain", "darkpool.errors", "darkpool.jsontext", "darkpool.crypto", "darkpool.clearing",
        "darkpool.margin", "darkpool.ledger")
ADAPTERS = ("fhe", "commit_reveal", "concrete", "fastapi", "starlette", "httpx", "web3", "eth_tester", "ray",
            "uvicorn", "darkpool.operator", "darkpool.custodian", "darkpool.verifier", "darkpool.web",
            "darkpool.sdk", "darkpool.audit", "darkpool.demo", "darkpool.settlement", "darkpool.cli")
SERVER_SIDE = ("darkpool.operator", "darkpool.custodian", "fastapi", "uvicorn")
AUDIT_FORBIDDEN = ("darkpool.operator", "darkpool.sdk")


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@dataclass(frozen=True)
class Import:
    """One imported name, resolved: ``module`` is the project module it loads (None if external)."""

    importer: str
    target: str  # absolute dotted name as written, e.g. "darkpool.ledger._journal.Journal" or "fastapi"
    module: str | None
    line: int


def discover(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module under the given top-level package directories, by dotted name."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest project module that ``name`` starts with, or None for an external name."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> Iterator[Import]:
    """Every import of ``module`` (anywhere in the file), each imported name resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, _resolve(alias.name, modules), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "__future__":
                continue
            for alias in node.names:
                # ``from pkg import name``: the module pkg.name if it is one, else pkg itself.
                target = base if alias.name == "*" else f"{base}.{alias.name}"
                yield Import(module, target, _resolve(target, modules), node.lineno)


def import_graph(modules: Mapping[str, Path]) -> dict[str, list[Import]]:
    return {m: list(imports_of(m, p, modules)) for m, p in modules.items()}


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges[succ])))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _is_private(target: str, importer_top: str) -> bool:
    """Whether ``target`` names a ``_``-prefixed module or name outside the importer's package."""
    if _within(target, (importer_top,)):
        return False
    return any(part.startswith("_") and not part.startswith("__") for part in target.split("."))


def violations(modules: Mapping[str, Path]) -> dict[str, set[Violation]]:
    """Every violation of every rule, by rule."""
    graph = import_graph(modules)
    found: dict[str, set[Violation]] = {rule: set() for rule in RULES}
    for module, imports in graph.items():
        for imp in imports:
            # Project targets are reported as the module they load; external ones as their package.
            target = imp.module or imp.target.partition(".")[0]
            if _within(module, CORE) and _within(target, ADAPTERS):
                found["core"].add(("core", module, target))
            if _within(module, ("darkpool.sdk",)) and _within(target, SERVER_SIDE):
                found["sdk"].add(("sdk", module, target))
            if _within(module, ("darkpool.audit",)):
                if _within(target, AUDIT_FORBIDDEN):
                    found["audit"].add(("audit", module, target))
                elif imp.module is not None and _is_private(imp.target, "darkpool.audit"):
                    found["audit"].add(("audit", module, imp.target))
            if target == "concrete" and not _within(module, ("fhe",)):
                found["concrete"].add(("concrete", module, target))
    edges = {m: sorted({i.module for i in imports if i.module and i.module != m}) for m, imports in graph.items()}
    for component in strongly_connected(edges):
        found["cycle"].add(("cycle", component[0], " ".join(component[1:])))
    for module, path in modules.items():
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES:
            found["size"].add(("size", module, ""))
    return found


@pytest.fixture(scope="module")
def project_violations() -> dict[str, set[Violation]]:
    return violations(discover(ROOT, PACKAGES))


def _lines(entries: Iterable[Violation]) -> str:
    return "\n".join(f"  {entry!r}," for entry in sorted(entries))


@pytest.mark.parametrize("rule", RULES)
def test_layering_when_project_scanned_only_known_violations_remain(
    rule: str, project_violations: dict[str, set[Violation]]
) -> None:
    found = project_violations[rule]
    known = {v for v in KNOWN_VIOLATIONS if v[0] == rule}
    new, fixed = found - known, known - found
    assert not new, f"new {rule!r} violations (rule in the module docstring):\n{_lines(new)}"
    assert not fixed, f"fixed: remove these from KNOWN_VIOLATIONS so they cannot come back:\n{_lines(fixed)}"


def test_known_violations_when_listed_name_rules_that_exist() -> None:
    assert {rule for rule, _, _ in KNOWN_VIOLATIONS} <= set(RULES)


def test_discover_when_project_scanned_finds_every_package() -> None:
    modules = discover(ROOT, PACKAGES)
    assert {"darkpool", "darkpool.clearing.vectorized", "fhe", "commit_reveal", "darkpool.cli"} <= set(modules)
    assert len(modules) > 50


# The checker itself, on a small synthetic project: each rule must be able to fail.

def _project(tmp_path: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return discover(tmp_path, PACKAGES)


def test_violations_when_lazy_relative_and_private_imports_reports_each(tmp_path: Path) -> None:
    modules = _project(tmp_path, {
        "darkpool/__init__.py": "",
        "darkpool/clearing/__init__.py": "def f():\n    import fastapi\n    from ..operator import core\n",
        "darkpool/operator/__init__.py": "",
        "darkpool/operator/core.py": "from darkpool.sdk import client\n",
        "darkpool/sdk/__init__.py": "",
        "darkpool/sdk/client.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import darkpool.custodian\n"
        ),
        "darkpool/custodian/__init__.py": "",
        "darkpool/ledger/__init__.py": "",
        "darkpool/ledger/_journal.py": "import darkpool.audit\n",
        "darkpool/audit/__init__.py": "from darkpool.ledger._journal import *\nfrom darkpool.ledger import _books\n",
        "darkpool/audit/report.py": "from . import _own\nfrom darkpool.audit._own import x\nimport concrete.fhe\n",
        "darkpool/audit/_own.py": "x = 1\n" * (MAX_LINES + 1),
        "fhe/__init__.py": "from concrete import fhe\n",
        "commit_reveal/__init__.py": "",
    })
    found = violations(modules)
    assert found["core"] == {
        ("core", "darkpool.clearing", "fastapi"),
        ("core", "darkpool.clearing", "darkpool.operator.core"),
        ("core", "darkpool.ledger._journal", "darkpool.audit"),
    }
    assert found["sdk"] == {("sdk", "darkpool.sdk.client", "darkpool.custodian")}
    assert found["audit"] == {
        ("audit", "darkpool.audit", "darkpool.ledger._journal"),
        ("audit", "darkpool.audit", "darkpool.ledger._books"),
    }
    assert found["concrete"] == {("concrete", "darkpool.audit.report", "concrete")}
    assert found["cycle"] == {("cycle", "darkpool.audit", "darkpool.ledger._journal")}
    assert found["size"] == {("size", "darkpool.audit._own", "")}


def test_strongly_connected_when_two_cycles_and_a_tail_reports_both() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": ["a"]}
    assert strongly_connected(edges) == [["a", "b", "c"], ["d", "e"]]
