"""The package's shape, kept: data flows one way (encoders -> connectors -> retrievers), the
encoders never import a database client, and no module grows past one idea's size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vectorbridge"
#: What each layer may not import (its consumers, and for encoders the database clients).
FORBIDDEN = {
    "encoders": ("vectorbridge.connectors", "vectorbridge.retrievers", "vectorbridge.bench",
                 "qdrant_client", "qdrant_edge", "pymilvus"),
    "connectors": ("vectorbridge.retrievers", "vectorbridge.bench", "vectorbridge.demo",
                   "langchain_core"),
    "retrievers": ("vectorbridge.bench", "vectorbridge.demo"),
    "poisoning": ("vectorbridge.bench", "vectorbridge.demo"),
}
MAX_LINES = 420


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_its_consumers(layer):
    bad = [(str(p.relative_to(PACKAGE)), m) for p in sorted((PACKAGE / layer).rglob("*.py"))
           for m in sorted(imports(p)) if m.startswith(FORBIDDEN[layer])]
    assert not bad, f"upward imports: {bad}"


def test_modules_stay_small():
    big = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these modules by idea: {big}"
