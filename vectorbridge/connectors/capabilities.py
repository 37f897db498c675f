"""What an engine holds and runs, as data: :class:`Capabilities`, and what happens without
each one (:data:`WITHOUT`).

Refusals, the docs' capability table and the tests' skips all read these values, never engine
names or prose (:mod:`vectorbridge.connectors.registry`). Each engine's values live in its
own package (:mod:`vectorbridge.connectors.qdrant.capabilities`,
:mod:`vectorbridge.connectors.milvus.capabilities`), beside the code that honours them, in
modules that import no database client; this module names no engine. ``QDRANT``,
``QDRANT_EDGE``, ``QDRANT_LOCAL`` and ``MILVUS`` still resolve here (their home before), on
first use: those modules import this one, so an import at the top would be a cycle.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vectorbridge.connectors.fusion import Fusion

if TYPE_CHECKING:
    from vectorbridge.connectors.milvus.capabilities import MILVUS  # noqa: F401
    from vectorbridge.connectors.qdrant.capabilities import (  # noqa: F401
        QDRANT, QDRANT_EDGE, QDRANT_LOCAL,
    )
    from vectorbridge.connectors.spec import CollectionSpec


@dataclass(frozen=True)
class Capabilities:
    """What one engine holds and runs in the engine (what it lacks is refused, or done
    client-side where a fallback exists).

    Attributes:
        sparse: Sparse vector fields.
        engine_idf: IDF applied by the engine to client-made sparse vectors
            (``SparseField(idf=True)``); without it BM25 queries carry the IDF.
        engine_bm25: BM25 computed by the engine from raw text, documents and queries
            (``SparseField(bm25="engine")``): its statistics follow every write.
        bm25_global_stats: The engine's BM25 statistics (IDF, average length) span the
            whole collection; without it each segment scores with its own (Milvus Lite
            3.2.2: a collection that grew in two flushes ranks each part by its own IDF).
        multivector: Multi-vector (per-token) fields.
        native_maxsim: MaxSim computed by the engine (else over stored token vectors, here).
        binary: Binary vector fields (Hamming distance).
        multiple_vector_fields: More than one vector field per collection.
        hybrid_search: Several branches searched and fused in one request.
        native_fusion: Fusion kinds the engine runs itself (with equal weights).
        weighted_fusion: Of those, the kinds whose branch weights the engine applies.
        quantization: Engine quantization of dense fields is applied (not only accepted).
        ivf_pq: Product-quantized IVF indexes (Milvus) are built.
        token_codes: uint8 multi-vector fields (residual token codes).
        sharding: Shards, replicas and shard keys are applied (servers only).
        native_grouping: ``group_by`` searches run in the engine in one request (Qdrant
            ``query_points_groups``; Milvus ``group_by_field``, on the spec's ``group_key``);
            without it the connector pages the plain search.
        native_mmr: Maximal marginal relevance over a dense field runs in the engine
            (Qdrant's ``Mmr``: ``Connector.mmr_search``).
        turbo_quant: TurboQuant engine quantization (``DenseField(quantization="turbo-4bit")``).
        acorn: ACORN filtered-search traversal is applied (``QdrantConnector(acorn=True)``).
        native_formula: Score boosting and decay (:class:`~vectorbridge.connectors.scoring.
            ScoreFormula`) run in the engine (Qdrant ``FormulaQuery``).
        native_feedback: A dense query steered by scored examples runs in the engine
            (:class:`~vectorbridge.connectors.queries.FeedbackQuery`: Qdrant's relevance
            feedback).
        scalar_index: Keys of ``CollectionSpec(payload_indexes=...)`` get an engine index
            (Qdrant payload indexes; Milvus INVERTED on the typed column, from 2.4).
        on_disk_vectors: ``DenseField(on_disk=True)`` keeps the float originals in files,
            read through the page cache, and the quantized copies in RAM (Qdrant ``memory``
            placement of the vector storage).
        index_every: Points written after which a long ingest should have the engine index
            them (``Connector.optimize``: Milvus seals its growing segments, which it
            searches unindexed); ``None``: only at the end of a bulk load, because the engine
            searches unindexed data fast enough (Qdrant Edge scans a small segment exactly,
            faster than through a graph). Applied by every write path alike
            (:mod:`~vectorbridge.connectors.indexing`), in the ingest's writer thread.
    """

    sparse: bool = True
    engine_idf: bool = False
    engine_bm25: bool = False
    bm25_global_stats: bool = False
    multivector: bool = True
    native_maxsim: bool = True
    binary: bool = True
    multiple_vector_fields: bool = True
    hybrid_search: bool = True
    native_fusion: frozenset[str] = frozenset()
    weighted_fusion: frozenset[str] = frozenset()
    quantization: bool = True
    ivf_pq: bool = True
    token_codes: bool = False
    sharding: bool = False
    native_grouping: bool = False
    native_mmr: bool = False
    native_feedback: bool = False
    native_formula: bool = False
    turbo_quant: bool = False
    acorn: bool = False
    scalar_index: bool = True
    on_disk_vectors: bool = False
    index_every: int | None = None

    def fuses_natively(self, fusion: Fusion) -> bool:
        """Whether ``fusion`` runs in the engine (else the connector fuses per-branch results)."""
        if not self.hybrid_search or fusion.kind not in self.native_fusion:
            return False
        return fusion.equal_weights or fusion.kind in self.weighted_fusion


#: What happens where an engine lacks a capability: the docs' answer to "why was my call
#: refused?" (every field of :class:`Capabilities` has an entry; a test keeps them in step).
WITHOUT: dict[str, str] = {
    "sparse": "sparse fields are refused at `create_collection`, with the engines that have them",
    "engine_idf": "`SparseField(idf=True)` is refused; `BM25Encoder(idf=\"client\").fit(corpus)` "
                  "puts IDF into the queries (`HybridRetriever.from_texts` switches to it itself)",
    "engine_bm25": "`SparseField(bm25=\"engine\")` is refused; a `BM25Encoder` fills the field "
                   "with client-made vectors (`HybridRetriever` chooses that itself), with the "
                   "engine's IDF where it has `engine_idf`, else IDF fitted on the corpus",
    "bm25_global_stats": "`SparseField(bm25=\"engine\")` works, scored per segment; "
                         "`HybridRetriever` does not choose it by itself (BM25 queries carry "
                         "IDF fitted on the corpus instead)",
    "multivector": "multi-vector fields are refused",
    "native_maxsim": "MaxSim runs client-side over the stored token vectors (Milvus: a companion "
                     "collection with one row per token)",
    "binary": "binary fields are refused (client `BinaryQuantizer` / `ProductQuantizer` codes "
              "need one); use engine quantization or another engine",
    "multiple_vector_fields": "a collection with more than one vector field is refused; use one "
                              "collection per field or another engine",
    "hybrid_search": "each branch is searched on its own and the connector fuses the rankings "
                     "(one request per branch)",
    "native_fusion": "fusion kinds not listed run client-side over per-branch searches, with the "
                     "same formulas",
    "weighted_fusion": "branch weights of kinds not listed are applied client-side",
    "quantization": "engine quantization settings are accepted but not applied: searches stay "
                    "exact over the float vectors",
    "ivf_pq": "`pq-xN` engine quantization is refused; `scalar-int8` or client PQ codes instead",
    "token_codes": "uint8 token-code fields (`ResidualCodec`) are refused; store float tokens or "
                   "pool them (`TokenPooler`)",
    "sharding": "`shards`, `replicas` and shard keys are stored in the spec, not applied",
    "native_grouping": "`group_by` pages the ordinary search (filter in the engine) until `k` "
                       "groups of `group_size` fill: same groups, more requests",
    "native_mmr": "`Connector.mmr_search` is refused; `VectorBridgeStore`'s MMR fetches "
                  "`fetch_k` vectors and selects client-side (LangChain's formula, same result)",
    "native_formula": "the connector applies `ScoreFormula` to the same `depth` candidates' "
                      "payloads (same result, the candidates' payloads cross the wire)",
    "turbo_quant": "`turbo-*` quantizations are refused, naming `scalar-int8` / `pq-xN`",
    "acorn": "`acorn=` is passed and not applied (qdrant-client local mode searches exactly)",
    "native_feedback": "`FeedbackQuery` is refused; `PseudoRelevanceFeedback(dense_mode=\"engine\")` "
                       "falls back to Rocchio (the query moved towards the feedback documents)",
    "scalar_index": "`payload_indexes` keys still live in typed columns (Milvus), which filters "
                    "scan without an index",
    "on_disk_vectors": "`DenseField(on_disk=True)` is accepted and not applied by qdrant-client "
                       "local mode (all in memory) and refused on Milvus, naming Qdrant",
    "index_every": "an ingest indexes only at the end of a bulk load (`from_texts`, a copy, a "
                   "reindex); `VectorBridgeStore(index_after=n)` or `Connector.optimize` to "
                   "index sooner",
}


def capability_gaps(spec: "CollectionSpec", caps: Capabilities, engine: str) -> list[str]:
    """Reasons a spec needs what ``caps`` lacks, for the capabilities every engine refuses
    the same way (engines add their own reasons in :meth:`Engine.unsupported`)."""
    from vectorbridge.connectors.spec import DenseField, SparseField

    out = []
    for name, f in spec.fields.items():
        if isinstance(f, SparseField) and f.from_text and caps.sparse and not caps.engine_bm25:
            out.append(f"field {name!r}: {engine} has no BM25 of its own over raw text (Milvus "
                       "added its BM25 function in 2.5; Qdrant engines have it). Fill a "
                       "SparseField(idf=False) with BM25Encoder(idf='client').fit(corpus) "
                       "vectors, or use Milvus >= 2.5, Milvus Lite or Qdrant")
        if isinstance(f, DenseField) and (f.quantization or "").startswith("turbo-") and \
                not caps.turbo_quant:
            out.append(f"field {name!r}: {engine} has no TurboQuant ({f.quantization}); use "
                       "quantization='scalar-int8' or 'pq-xN', or Qdrant")
    return out


#: Engine values that moved to their engine's package -> the module that holds them now.
ENGINE_VALUES = {
    "QDRANT": "vectorbridge.connectors.qdrant.capabilities",
    "QDRANT_EDGE": "vectorbridge.connectors.qdrant.capabilities",
    "QDRANT_LOCAL": "vectorbridge.connectors.qdrant.capabilities",
    "MILVUS": "vectorbridge.connectors.milvus.capabilities",
}


def __getattr__(name: str) -> Any:
    """``QDRANT`` & co. from their engine's package, imported on first use (PEP 562)."""
    if name in ENGINE_VALUES:
        value = getattr(importlib.import_module(ENGINE_VALUES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Capabilities", "capability_gaps", "QDRANT", "QDRANT_EDGE", "QDRANT_LOCAL", "MILVUS",
           "WITHOUT"]
