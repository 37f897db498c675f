"""LangChain components over vectorbridge connectors.

- :class:`VectorBridgeStore`: a drop-in ``VectorStore`` (sync and native async).
- :class:`HybridRetriever`: dense + sparse (+ MaxSim) retrieval fused in the engine.
- :class:`CrossEncoderReranker`, :class:`MaxSimReranker`: second stages as document compressors.
- :class:`PseudoRelevanceFeedback`: Rocchio + RM3 settings for ``HybridRetriever(prf=)``.
- :class:`ScoreCalibrator`: calibrated relevance for ``HybridRetriever(calibrator=, score_threshold=)``.
"""

from vectorbridge.retrievers.calibration import ScoreCalibrator
from vectorbridge.retrievers.diversity import MMR
from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback
from vectorbridge.retrievers.hybrid import SCORE_KEY, HybridRetriever
from vectorbridge.retrievers.rerankers import RERANK_SCORE_KEY, CrossEncoderReranker, MaxSimReranker
from vectorbridge.retrievers.store import VectorBridgeStore

__all__ = ["VectorBridgeStore", "HybridRetriever", "MMR", "CrossEncoderReranker", "MaxSimReranker",
           "PseudoRelevanceFeedback", "ScoreCalibrator", "SCORE_KEY", "RERANK_SCORE_KEY"]
