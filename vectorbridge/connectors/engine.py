"""What an engine can do, as data: :class:`Capabilities`.

Each connector exposes ``connector.capabilities``; the registry
(:mod:`vectorbridge.connectors.registry`) holds each known engine's, so tests, the bench, the
demo and the docs ask the same value instead of re-deriving it from engine names.
"""

from __future__ import annotations

from dataclasses import dataclass

from vectorbridge.connectors.fusion import Fusion


@dataclass(frozen=True)
class Capabilities:
    """What one engine holds and runs in the engine (what it lacks is refused, or done
    client-side where a fallback exists).

    Attributes:
        sparse: Sparse vector fields.
        engine_idf: IDF applied by the engine to client-made sparse vectors
            (``SparseField(idf=True)``); without it BM25 queries carry the IDF.
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
    """

    sparse: bool = True
    engine_idf: bool = False
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
}


#: Qdrant (server, Edge, local mode): RRF with k and weights, DBSF with equal weights.
QDRANT = Capabilities(engine_idf=True, native_fusion=frozenset({"rrf", "dbsf"}),
                      weighted_fusion=frozenset({"rrf"}), ivf_pq=False, token_codes=True)
#: Milvus >= 2.4 servers: RRFRanker(k) with equal weights, WeightedRanker; token vectors in a
#: companion collection.
MILVUS = Capabilities(native_maxsim=False, native_fusion=frozenset({"rrf", "weighted"}),
                      weighted_fusion=frozenset({"weighted"}), sharding=True)


__all__ = ["Capabilities", "QDRANT", "MILVUS", "WITHOUT"]
