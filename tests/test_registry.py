"""The engine registry is the truth the rest reads: each entry's capabilities are what a live
connector on that engine reports, and the README's engine table is generated from it."""

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


def test_unknown_engine_names_the_known_ones():
    with pytest.raises(InvalidInputError, match="qdrant-edge"):
        engine("qdrant-edg")
