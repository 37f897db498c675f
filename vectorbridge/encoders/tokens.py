"""Per-token embeddings for late interaction (ColBERT-style MaxSim)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vectorbridge.encoders._st import Kind, STEncoder
from vectorbridge.encoders.scoring import maxsim  # noqa: F401  (re-exported: scores these outputs)
from vectorbridge.extras import requires

with requires("encoders", "TokenEncoder"):
    from sentence_transformers import SentenceTransformer


class TokenEncoder(STEncoder[SentenceTransformer]):
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
        precision: ``"auto"`` (default), ``"float32"`` or ``"bfloat16"``, as for ``DenseEncoder``.
        backend: ``"torch"`` or ``"onnx"`` (ONNX Runtime), as for ``DenseEncoder``.
        quantize: ``"int8"`` with the ONNX backend, as for ``DenseEncoder``.
        onnx_cache: Folder of exported ONNX models, as for ``DenseEncoder``.
        **model_kwargs: Passed to ``SentenceTransformer``.

    Examples:
        >>> tok = TokenEncoder("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> [m.shape for m in tok.encode_documents(["hello world"])]  # doctest: +SKIP
        [(4, 384)]
    """

    model_class = SentenceTransformer
    onnx_capable = True

    def _encode(self, texts: Sequence[str], kind: Kind) -> list[np.ndarray]:
        _, out = self._run(texts, kind, output_value="token_embeddings", convert_to_numpy=False)
        mats = []
        for t in out or []:  # each (n_tokens, dim), padding already cut by the attention mask
            m = t.float().cpu().numpy()
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            mats.append(np.ascontiguousarray(m / np.maximum(norms, 1e-12), dtype=np.float32))
        return mats

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token matrices of documents: a list of ``(n_tokens, dim)`` float32 arrays."""
        return self._encode(texts, "document")

    def encode_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token matrices of queries: ``encode_documents`` with the query prompt, if any."""
        return self._queries(texts, lambda miss: self._encode(miss, "query"))

    def __repr__(self) -> str:
        return f"TokenEncoder(dim={self.dim})"
