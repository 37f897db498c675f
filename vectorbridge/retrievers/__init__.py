"""LangChain components over vectorbridge connectors.

- :class:`VectorBridgeStore`: a drop-in ``VectorStore`` (sync and native async).
- :class:`HybridRetriever`: dense + sparse (+ MaxSim) retrieval fused in the engine.
- :class:`CrossEncoderReranker`, :class:`MaxSimReranker`: second stages as document compressors.
"""

from vectorbridge.retrievers.hybrid import SCORE_KEY, HybridRetriever
from vectorbridge.retrievers.rerankers import RERANK_SCORE_KEY, CrossEncoderReranker, MaxSimReranker
from vectorbridge.retrievers.store import VectorBridgeStore

__all__ = ["VectorBridgeStore", "HybridRetriever", "CrossEncoderReranker", "MaxSimReranker",
           "SCORE_KEY", "RERANK_SCORE_KEY"]
