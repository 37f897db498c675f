"""Second-stage rerankers as LangChain ``BaseDocumentCompressor``\\ s.

Both rescore the (query, document) pairs a first stage returned and sort by the new score,
which goes into ``metadata["rerank_score"]`` (the first-stage score stays where it was).
With ``blend=Fusion("rrf", k, weights)`` they instead fuse the incoming order (weight first)
with their own: a reranker weaker than the first stage on its own can still add to it
(measured with MiniLM token MaxSim on SciFact: docs, Benchmarks, *Hybrid retrieval quality*).

- :class:`CrossEncoderReranker`: a sentence-transformers ``CrossEncoder`` reads query and
  document together (most accurate, one forward pass per pair, batched);
- :class:`MaxSimReranker`: late interaction with a :class:`~vectorbridge.encoders.TokenEncoder`
  (query tokens against document tokens; one matmul per candidate batch).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict

from vectorbridge.connectors.fusion import Fusion, fuse
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import need
from vectorbridge.options import checked_keywords, refuse_unknown

#: Metadata key of the reranker's score.
RERANK_SCORE_KEY = "rerank_score"


def _rank(documents: Sequence[Document], scores: np.ndarray, top_n: int | None,
          blend: Fusion | None = None) -> list[Document]:
    """Documents sorted by ``scores`` (stable for ties), or by the RRF of that order with the
    order they came in (``blend``), with the reranker's score in their metadata."""
    order = np.argsort(-scores, kind="stable")
    if blend is not None:
        # zero-padded positions as ids: fuse() breaks ties by id, i.e. by incoming order
        incoming = [(f"{i:09d}", 0.0) for i in range(len(documents))]
        reranked = [(f"{i:09d}", 0.0) for i in order]
        order = np.array([int(i) for i, _ in fuse([incoming, reranked], blend, len(documents))])
    order = order[: top_n if top_n is not None else len(documents)]
    out = []
    for i in order:
        d = documents[int(i)]
        out.append(Document(id=d.id, page_content=d.page_content,
                            metadata={**d.metadata, RERANK_SCORE_KEY: float(scores[i])}))
    return out


def _check_options(top_n: int | None, batch_size: int, blend: Any) -> None:
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InvalidInputError(f"top_n must be a positive int or None (keep all), got {top_n!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
    if blend is not None and not isinstance(blend, Fusion):
        raise InvalidInputError(f"blend= takes a Fusion(...) or None, got {blend!r}.")


class CrossEncoderReranker(BaseDocumentCompressor):
    """Rerank with a sentence-transformers cross-encoder.

    Args:
        model: A model name or folder (loaded with ``sentence_transformers.CrossEncoder``),
            or a loaded ``CrossEncoder``.
        top_n: Documents kept (``None`` keeps all, reordered).
        batch_size: Pairs per forward pass.
        blend: Fuse the incoming order with the model's (RRF) instead of replacing it.

    Examples:
        >>> rr = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2", top_n=5)  # doctest: +SKIP
        >>> rr.compress_documents(docs, "what causes scurvy?")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any
    top_n: int | None = None
    batch_size: int = 32
    blend: Fusion | None = None

    @checked_keywords
    def __init__(self, model: str | Path | Any, top_n: int | None = None, *,
                 batch_size: int = 32, blend: Fusion | None = None, **model_kwargs: Any) -> None:
        _check_options(top_n, batch_size, blend)
        CrossEncoder = need("sentence_transformers", "encoders", "CrossEncoderReranker").CrossEncoder

        loader = [n for n in inspect.signature(CrossEncoder.__init__).parameters
                  if n not in ("self", "args", "kwargs")]
        refuse_unknown(type(self).__name__, model_kwargs,
                       loader + ["model", "top_n", "batch_size", "blend"])
        if isinstance(model, (str, Path)):
            model = CrossEncoder(str(model), **model_kwargs)
        elif model_kwargs:
            raise InvalidInputError(f"options {sorted(model_kwargs)} load a CrossEncoder; this "
                                    "model is loaded already: pass its name or folder instead.")
        super().__init__(model=model, top_n=top_n, batch_size=batch_size, blend=blend)

    def score(self, query: str, documents: Sequence[Document]) -> np.ndarray:
        """The model's score of each (query, document) pair, shape (n_documents,)."""
        pairs = [(query, d.page_content) for d in documents]
        return np.asarray(self.model.predict(pairs, batch_size=self.batch_size,
                                             show_progress_bar=False), dtype=np.float64).reshape(-1)

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """``documents`` reordered by the cross-encoder's score, best first."""
        if not documents:
            return []
        return _rank(documents, self.score(query, documents), self.top_n, self.blend)


class MaxSimReranker(BaseDocumentCompressor):
    """Rerank by late interaction: sum over query tokens of the best document-token cosine.

    Documents are token-encoded at rerank time (use a multi-vector field in
    :class:`HybridRetriever` to keep token vectors in the engine instead).

    Args:
        encoder: A :class:`~vectorbridge.encoders.TokenEncoder` (or anything with
            ``encode_queries`` / ``encode_documents`` returning ``(n_tokens, dim)`` arrays).
        top_n: Documents kept (``None`` keeps all, reordered).
        batch_size: Documents scored per matmul.
        blend: Fuse the incoming order with MaxSim's (RRF) instead of replacing it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    encoder: Any
    top_n: int | None = None
    batch_size: int = 64
    blend: Fusion | None = None

    @checked_keywords
    def __init__(self, encoder: Any, top_n: int | None = None, *, batch_size: int = 64,
                 blend: Fusion | None = None) -> None:
        _check_options(top_n, batch_size, blend)
        super().__init__(encoder=encoder, top_n=top_n, batch_size=batch_size, blend=blend)

    def score(self, query: str, documents: Sequence[Document]) -> np.ndarray:
        """MaxSim of each document against ``query``, shape (n_documents,)."""
        q = self.encoder.encode_queries([query])[0]
        mats = self.encoder.encode_documents([d.page_content for d in documents])
        return maxsim_batch(q, mats, self.batch_size)

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """``documents`` reordered by MaxSim, best first."""
        if not documents:
            return []
        return _rank(documents, self.score(query, documents), self.top_n, self.blend)


def maxsim_batch(query: np.ndarray, docs: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """MaxSim of one query (n_q, dim) against many documents, one matmul per batch.

    Documents of a batch are stacked into one ``(total_tokens, dim)`` matrix; the per-document
    maximum is a ``np.maximum.reduceat`` over their token ranges.
    """
    out = np.empty(len(docs), dtype=np.float64)
    for start in range(0, len(docs), batch_size):
        part = docs[start:start + batch_size]
        lengths = np.array([len(m) for m in part])
        if (lengths == 0).any():
            raise InvalidInputError("a document has no token vectors; MaxSim needs at least one.")
        sims = np.concatenate(part).astype(np.float32) @ query.T.astype(np.float32)  # (tokens, n_q)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        out[start:start + len(part)] = np.maximum.reduceat(sims, offsets, axis=0).sum(axis=1)
    return out


__all__ = ["CrossEncoderReranker", "MaxSimReranker", "RERANK_SCORE_KEY", "maxsim_batch"]
