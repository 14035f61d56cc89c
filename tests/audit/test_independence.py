"""The auditor recomputes with its own code: it imports nothing private and no operator tree code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import darkpool.audit

AUDIT = Path(darkpool.audit.__file__).parent
FORBIDDEN = ("darkpool.operator", "darkpool.sdk", "darkpool.custodian", "darkpool.settlement.trees",
             "darkpool.crypto.merkle", "commit_reveal")
# ``darkpool audit tree DUMP.json`` checks a dump file with the reference OpenZeppelin-compatible
# implementation, whose errors name the first flawed node; batches and rounds never go through it.
DUMP_CHECKER = "tree.py"


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(AUDIT.glob("*.py")), ids=lambda p: p.name)
def test_audit_module_when_parsed_imports_nothing_private_or_of_the_operator(path: Path) -> None:
    for name in _imports(path):
        if name.startswith("darkpool.audit") or not name.startswith(("darkpool", "commit_reveal", "fhe")):
            continue
        assert not any(part.startswith("_") for part in name.split(".")), f"{path.name} imports private {name}"
        if path.name != DUMP_CHECKER:
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}: the auditor recomputes on its own"
