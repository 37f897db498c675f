"""Stored points <-> LangChain ``Document``\\ s, shared by the store and the retrievers.

A document is stored as its text under the collection's ``text_key`` plus its metadata as
the other payload keys (flat, so payload filters address metadata keys directly). Reading
back gives ``Document(id=<original id>, page_content=<text>, metadata=<the rest>)``: no
internal key ever shows up in metadata.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

import numpy as np
from langchain_core.documents import Document

from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.twins import Flow, twin

#: Default payload key of a document's text.
TEXT_KEY = "page_content"


def check_texts(texts: Sequence[str], start: int = 0) -> str:
    """Refuse a text that is not a non-empty str (``start``: the position of ``texts[0]``
    in a stream); returns what the refusal would say was written."""
    written = "Nothing was written." if not start else \
        f"The {start} texts before it were written (ids are idempotent: fix and re-run)."
    for i, text in enumerate(texts, start):
        if not isinstance(text, str):
            raise InvalidInputError(f"texts[{i}] is {type(text).__name__}, not str; convert or "
                                    f"drop it before adding it. {written}")
        if not text.strip():
            raise InvalidInputError(f"texts[{i}] is empty; drop empty documents before adding "
                                    f"them. {written}")
    return written


def to_payloads(texts: Sequence[str], metadatas: Sequence[Mapping[str, Any] | None] | None,
                text_key: str, start: int = 0) -> list[dict[str, Any]]:
    """One payload per text: the metadata plus the text under ``text_key``.

    Texts are checked here, before any embedding runs: an embedding model given ``None`` or
    an empty string fails obscurely or embeds noise. ``start``: the position of ``texts[0]``
    in a stream (the ``start`` texts before it were written already)."""
    written = check_texts(texts, start)
    if metadatas is not None and len(metadatas) != len(texts):
        raise InvalidInputError(f"{len(metadatas)} metadatas for {len(texts)} texts; give one "
                                "dict (or None) per text.")
    out = []
    for i, text in enumerate(texts):
        meta = dict((metadatas[i] if metadatas is not None else None) or {})
        if text_key in meta:
            raise InvalidInputError(
                f"metadatas[{start + i}] has the key {text_key!r}, which holds the document "
                f"text in this collection; rename that metadata key. {written}"
            )
        meta[text_key] = text
        out.append(meta)
    return out


def fill_ids(ids: Sequence[str | None] | None, n: int) -> list[str]:
    """The ids to write: those given, with a fresh uuid4 for every missing one."""
    if ids is None:
        return [str(uuid.uuid4()) for _ in range(n)]
    if isinstance(ids, str) or len(ids) != n:
        raise InvalidInputError(f"ids must be a list of {n} strings (one per text).")
    return [str(uuid.uuid4()) if i is None else i for i in ids]


def to_document(pid: str, payload: Mapping[str, Any], text_key: str,
                extra: Mapping[str, Any] | None = None) -> Document:
    """A stored point as a ``Document`` (``extra`` adds metadata such as a score)."""
    meta = {k: v for k, v in payload.items() if k != text_key}
    if extra:
        meta.update(extra)
    return Document(id=pid, page_content=str(payload.get(text_key, "")), metadata=meta)


def embed_documents(embedding: Any, texts: list[str]) -> Flow[np.ndarray]:
    """Document vectors as float32 ``(n, dim)``: a vectorbridge encoder's ``encode_documents``
    (no list round trip) or any LangChain ``Embeddings.embed_documents``; async through their
    ``a``-prefixed twins."""
    method = "encode_documents" if hasattr(embedding, "aencode_documents") else "embed_documents"
    return np.asarray((yield twin(embedding, method, texts)), dtype=np.float32)
