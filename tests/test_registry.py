"""The engine registry is the truth the rest reads: each entry's capabilities are what a live
connector on that engine reports, and the README's and the docs' engine tables are generated
from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vectorbridge.connectors import ENGINES
from vectorbridge.connectors.registry import capability_table, engine
from vectorbridge.errors import InvalidInputError
from tests.backends import LOCAL

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("backend", LOCAL, indirect=True)
def test_registry_capabilities_are_what_the_engine_reports(backend, conn):
    assert conn.capabilities == ENGINES[backend.name].capabilities


def test_readme_engine_table_is_generated_from_the_registry():
    block = re.search(r"<!-- engines:begin -->\n(.*?)\n<!-- engines:end -->", README.read_text(),
                      re.S)
    assert block, "README lost its generated engine table"
    assert block.group(1) == capability_table(), \
        "README's engine table differs from the registry: paste capability_table() output"


def test_docs_engine_page_gets_both_tables_from_the_registry():
    import importlib.util
    from dataclasses import fields

    from vectorbridge.connectors import Capabilities
    from vectorbridge.connectors.engine import WITHOUT

    assert set(WITHOUT) == {f.name for f in fields(Capabilities)}, \
        "every capability says what happens without it"
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("docs_hooks", root / "scripts/docs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = hooks.on_page_markdown((root / "docs/engines.md").read_text(), page=None)
    assert capability_table() in page and "<!-- engines:" not in page
    for name, consequence in WITHOUT.items():
        assert f"| {name.replace('_', ' ')} | " in page and consequence in page


def test_unknown_engine_names_the_known_ones():
    with pytest.raises(InvalidInputError, match="qdrant-edge"):
        engine("qdrant-edg")
