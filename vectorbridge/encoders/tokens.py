"""Per-token embeddings for late interaction (ColBERT-style MaxSim)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sentence_transformers import SentenceTransformer

from vectorbridge.encoders._st import load_model, show_progress
from vectorbridge.encoders.types import check_texts


def maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Late-interaction score: sum over query tokens of the best dot product with a doc token.

    Args:
        query: (n_query_tokens, dim).
        doc: (n_doc_tokens, dim).
    """
    if len(query) == 0 or len(doc) == 0:
        return 0.0
    return float((query @ doc.T).max(axis=1).sum())


class TokenEncoder:
    """Text -> one L2-normalised float32 ``(n_tokens, dim)`` matrix per text.

    Uses the transformer's contextual token states (sentence-transformers
    ``output_value="token_embeddings"``) before pooling; padding positions are removed, the
    special tokens ([CLS]/[SEP]) are kept as ColBERT keeps them. Queries use the model's query
    prompt where it defines one. Scores are computed with :func:`maxsim`.

    Args:
        model: A sentence-transformers name, a local folder, or a loaded ``SentenceTransformer``.
        batch_size: Texts per forward pass.
        device: Torch device; ``None`` lets sentence-transformers pick.
        progress: tqdm bar; ``None`` shows one for 256 texts or more.
        **model_kwargs: Passed to ``SentenceTransformer``.

    Example:
        >>> tok = TokenEncoder("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> [m.shape for m in tok.encode_documents(["hello world"])]  # doctest: +SKIP
        [(4, 384)]
    """

    def __init__(
        self,
        model: str | Path | SentenceTransformer,
        *,
        batch_size: int = 32,
        device: str | None = None,
        progress: bool | None = None,
        **model_kwargs: Any,
    ) -> None:
        self.model = load_model(model, SentenceTransformer, device, **model_kwargs)
        self.batch_size = batch_size
        self.progress = progress

    @property
    def dim(self) -> int:
        """Token vector dimension."""
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(self, texts: Sequence[str], kind: str) -> list[np.ndarray]:
        texts = check_texts(texts)
        if not texts:
            return []
        fn = self.model.encode_query if kind == "query" else self.model.encode_document
        out = fn(
            texts,
            batch_size=self.batch_size,
            output_value="token_embeddings",
            convert_to_numpy=False,
            show_progress_bar=show_progress(self.progress, len(texts)),
        )
        mats = []
        for t in out:  # each (n_tokens, dim), padding already cut by attention mask
            m = t.float().cpu().numpy().astype(np.float32, copy=False)
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            mats.append(np.ascontiguousarray(m / np.maximum(norms, 1e-12), dtype=np.float32))
        return mats

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token matrices of documents: a list of ``(n_tokens, dim)`` float32 arrays."""
        return self._encode(texts, "document")

    def encode_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token matrices of queries: ``encode_documents`` with the query prompt, if any."""
        return self._encode(texts, "query")

    def __repr__(self) -> str:
        return f"TokenEncoder(dim={self.dim})"
