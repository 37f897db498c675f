"""What each Qdrant deployment holds and runs, as data (:class:`~vectorbridge.connectors.
capabilities.Capabilities` values).

Its own module, apart from :mod:`.engine`, so that the registry, the docs' table and the
tests' skips can read Qdrant's capabilities without importing qdrant-client or Qdrant Edge:
this module imports nothing but the dataclass.
"""

from __future__ import annotations

from dataclasses import replace

from vectorbridge.connectors.capabilities import Capabilities

#: Qdrant (server, Edge, local mode): RRF with k and weights, DBSF with equal weights; BM25
#: from text by Qdrant's own BM25 model (``qdrant_edge.Bm25``, the server's ``qdrant/bm25``).
QDRANT = Capabilities(engine_idf=True, engine_bm25=True, bm25_global_stats=True,
                      native_fusion=frozenset({"rrf", "dbsf"}),
                      weighted_fusion=frozenset({"rrf"}), ivf_pq=False, token_codes=True,
                      native_grouping=True, native_mmr=True, native_feedback=True,
                      native_formula=True, turbo_quant=True, acorn=True, on_disk_vectors=True)
#: A Qdrant server or cluster: everything Qdrant has, sharding included (the only deployment
#: that applies shards, replicas and shard keys).
QDRANT_SERVER = replace(QDRANT, sharding=True)
#: Qdrant Edge: Qdrant's engine without the server's group API.
QDRANT_EDGE = replace(QDRANT, native_grouping=False)
#: qdrant-client's local mode: exact search, quantization and ACORN accepted, not applied.
QDRANT_LOCAL = replace(QDRANT, quantization=False, acorn=False, on_disk_vectors=False)

__all__ = ["QDRANT", "QDRANT_SERVER", "QDRANT_EDGE", "QDRANT_LOCAL"]
