"""mkdocs hook: pages say ``<!-- engines:table -->`` / ``<!-- engines:notes -->`` and get the
tables generated from the engine registry, so the docs cannot drift from the code."""

from __future__ import annotations

from typing import Any


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- engines:" not in markdown:
        return markdown
    from vectorbridge.connectors.registry import capability_notes, capability_table

    return (markdown.replace("<!-- engines:table -->", capability_table())
            .replace("<!-- engines:notes -->", capability_notes()))
