"""LangChain components over vectorbridge connectors.

- :class:`VectorBridgeStore`: a drop-in ``VectorStore`` (sync and native async).
- :class:`HybridRetriever`: dense + sparse (+ MaxSim) retrieval fused in the engine, with
  stage objects (:class:`MaxSim`, :class:`Quantized`, :class:`Reduction`, :class:`AdaptQuery`,
  :class:`PseudoRelevanceFeedback`, :class:`Grouping`, :class:`Formula`, :class:`MMR`,
  :class:`Calibrate`, :class:`Rerank`) in ``stages=[...]``.
- :class:`CrossEncoderReranker`, :class:`MaxSimReranker`: second stages as document compressors.
- :class:`PseudoRelevanceFeedback`: Rocchio + RM3 settings for ``HybridRetriever(prf=)``.
- :class:`ScoreCalibrator`: calibrated relevance for ``HybridRetriever(calibrator=, score_threshold=)``.
- :func:`reindex`, :func:`promote`, :func:`rollback`, :class:`QualityGate`,
  :class:`VersionedRetriever`: a new embedding model behind an alias, without downtime.
"""

from vectorbridge.retrievers.calibration import ScoreCalibrator
from vectorbridge.retrievers.diversity import MMR
from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback
from vectorbridge.retrievers.gate import GateReport, QualityGate
from vectorbridge.retrievers.hybrid import SCORE_KEY, HybridRetriever
from vectorbridge.retrievers.layout import FieldNames
from vectorbridge.retrievers.rerankers import RERANK_SCORE_KEY, CrossEncoderReranker, MaxSimReranker
from vectorbridge.retrievers.stages import AdaptQuery, Calibrate, Formula, Grouping, MaxSim, \
    Quantized, Reduction, Rerank, Stage
from vectorbridge.retrievers.store import VectorBridgeStore
from vectorbridge.retrievers.versions import (
    Promotion, ReindexReport, VersionedRetriever, drop_old_versions, next_version, promote,
    reindex, rollback,
)

__all__ = ["VectorBridgeStore", "HybridRetriever", "MMR", "CrossEncoderReranker", "MaxSimReranker",
           "PseudoRelevanceFeedback", "ScoreCalibrator", "SCORE_KEY", "RERANK_SCORE_KEY",
           "reindex", "promote", "rollback", "next_version", "drop_old_versions", "QualityGate",
           "GateReport", "VersionedRetriever", "Promotion", "ReindexReport", "Stage", "MaxSim",
           "Quantized", "Reduction", "AdaptQuery", "Grouping", "Formula", "Calibrate", "Rerank",
           "FieldNames"]
