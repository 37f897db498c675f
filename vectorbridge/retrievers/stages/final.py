"""The last stages, over documents: calibrated relevance (with an optional threshold) and
reranking by any LangChain document compressor (a cross-encoder, :class:`MaxSimReranker`).

Calibration runs before reranking: it maps the first stage's scores, which a reranker would
replace. A compressor without an async twin of its own runs in LangChain's executor under
``ainvoke`` (``BaseDocumentCompressor.acompress_documents``), off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.stages.base import DOCUMENTS, Query, Stage
from vectorbridge.retrievers.twins import Flow, blocking, twin


@dataclass(frozen=True, eq=False)
class Calibrate(Stage):
    """``Calibrate(ScoreCalibrator(...).fit(...), threshold=0.5)``: each document's
    calibrated relevance in ``metadata[key]``; with ``threshold``, only the documents at least
    that relevant (a per-query cutoff instead of a fixed k)."""

    calibrator: Any
    threshold: float | None = None
    key: str = "relevance"
    order = DOCUMENTS

    def __post_init__(self) -> None:
        from vectorbridge.retrievers.calibration import ScoreCalibrator

        if not isinstance(self.calibrator, ScoreCalibrator):
            raise InvalidInputError(f"calibrator= takes a fitted ScoreCalibrator, got "
                                    f"{type(self.calibrator).__name__}.")
        self.calibrator._check_fitted()
        t = self.threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                              or not 0.0 <= t <= 1.0):
            raise InvalidInputError(f"score_threshold must be a probability in [0, 1], got {t!r}.")
        if not isinstance(self.key, str) or not self.key:
            raise InvalidInputError(f"relevance_key must be a non-empty str, got {self.key!r}.")

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"calibrated"})

    @property
    def requires(self) -> Mapping[Any, str]:
        return {"dense": "Calibrate (flat: calibrator=) maps scores by the query embedding: give dense=."}

    def widen(self, k: int) -> int:
        return max(k, self.calibrator.score_features)  # its input: the query's top scores

    def run(self, q: Query) -> Flow[None]:
        if not q.hits or not q.docs:
            return
        scores = [h.score for h in q.hits]
        scores += scores[-1:] * (self.calibrator.score_features - len(scores))  # few hits: pad
        rel = (yield blocking(self.calibrator.calibrate, np.asarray(q.dense, np.float32)[None],
                              np.asarray(scores)[None]))[0]
        for d, p in zip(q.docs, rel):
            d.metadata[self.key] = float(p)
        if self.threshold is not None:
            q.docs = [d for d, p in zip(q.docs, rel) if p >= self.threshold]


@dataclass(frozen=True, eq=False)
class Rerank(Stage):
    """``Rerank(CrossEncoderReranker(...), k=100)``: a LangChain ``BaseDocumentCompressor``
    over the first stage's best ``k`` documents."""

    compressor: Any
    k: int = 100
    order = DOCUMENTS + 10

    def __post_init__(self) -> None:
        from langchain_core.documents import BaseDocumentCompressor

        if not isinstance(self.compressor, BaseDocumentCompressor):
            raise InvalidInputError(f"rerank= takes a LangChain BaseDocumentCompressor (e.g. "
                                    f"CrossEncoderReranker), got {type(self.compressor).__name__}.")
        try:
            check_k(self.k)
        except InvalidInputError:
            raise InvalidInputError(f"rerank_k (Rerank k) must be a positive integer, got "
                                    f"{self.k!r}.") from None

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"reranked"})

    def widen(self, k: int) -> int:
        return max(k, self.k)

    def run(self, q: Query) -> Flow[None]:
        if q.docs:
            q.docs = list((yield twin(self.compressor, "compress_documents", q.docs, q.text,
                                      callbacks=q.callbacks)))


__all__ = ["Calibrate", "Rerank"]
