"""Learned sparse embeddings (SPLADE) through sentence-transformers' ``SparseEncoder``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorbridge.encoders._st import Kind, STEncoder
from vectorbridge.encoders.types import SparseVector
from vectorbridge.extras import requires

with requires("encoders", "SpladeEncoder"):
    from sentence_transformers import SparseEncoder


class SpladeEncoder(STEncoder[SparseEncoder]):
    """Text -> :class:`SparseVector` over the model's vocabulary (term id = token id).

    Documents use ``SparseEncoder.encode_document`` and queries ``encode_query``: for
    inference-free SPLADE models these route queries through a different (lighter) module; for
    plain SPLADE they are the same network with the model's prompts, if any.

    Args:
        model: A sentence-transformers sparse model name, local folder, or ``SparseEncoder``.
        batch_size: Texts per forward pass.
        device: Torch device; ``None`` lets sentence-transformers pick.
        progress: tqdm bar; ``None`` shows one for 256 texts or more.
        max_active_dims: Keep at most this many highest-weight terms per vector (``None``: all).
        precision: ``"auto"`` (default), ``"float32"`` or ``"bfloat16"``, as for ``DenseEncoder``
            (passed on through ``**model_kwargs``).
        **model_kwargs: Passed to ``SparseEncoder``.

    Examples:
        >>> sp = SpladeEncoder("naver/splade-v3")  # doctest: +SKIP
        >>> sp.encode_queries(["protein folding"])[0]  # doctest: +SKIP
        SparseVector(nnz=..., {...})
    """

    model_class = SparseEncoder

    def __init__(self, model: str | Path | SparseEncoder, *, batch_size: int = 32,
                 device: str | None = None, progress: bool | None = None,
                 max_active_dims: int | None = None, **model_kwargs: Any) -> None:
        super().__init__(model, batch_size=batch_size, device=device, progress=progress,
                         **model_kwargs)
        self.max_active_dims = max_active_dims
        self.cache_namespace = (*self.cache_namespace, max_active_dims)  # changes the output

    @property
    def vocab_size(self) -> int:
        """Size of the term space (indices lie in ``[0, vocab_size)``)."""
        return self.dim

    def _encode(self, texts: Sequence[str], kind: Kind) -> list[SparseVector]:
        texts, out = self._run(texts, kind, convert_to_sparse_tensor=True,
                               max_active_dims=self.max_active_dims)
        if out is None:
            return []
        out = out.coalesce()
        rows, cols = out.indices().cpu().numpy()
        vals = out.values().float().cpu().numpy()
        keep = vals > 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        bounds = np.searchsorted(rows, np.arange(len(texts) + 1))  # coalesce sorts by row
        return [SparseVector(cols[a:b], vals[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Sparse vectors of documents."""
        return self._encode(texts, "document")

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Sparse vectors of queries: ``encode_documents`` through the query path/prompt."""
        return self._queries(texts, lambda miss: self._encode(miss, "query"))

    def __repr__(self) -> str:
        return f"SpladeEncoder(vocab_size={self.vocab_size})"
