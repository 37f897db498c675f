"""What each Milvus version holds and runs, as data (:data:`MILVUS`,
:func:`milvus_capabilities`).

Its own module, apart from :mod:`.schema` and :mod:`.engine`, so that the registry, the docs'
table and the tests' skips can read Milvus' capabilities without importing pymilvus (and the
pandas it pulls in): this module imports nothing but the dataclass.
"""

from __future__ import annotations

import re
from dataclasses import replace

from vectorbridge.connectors.capabilities import Capabilities

#: Milvus >= 2.5 servers: RRFRanker(k) with equal weights, WeightedRanker, the BM25 function;
#: token vectors in a companion collection. Growing segments are searched unindexed, so a long
#: ingest seals them every 8,192 points (measured on Milvus Lite, 60,000 streamed texts:
#: 2,048 halves the ingest rate, 16,384 leaves p50 2.6x worse; docs: Operations, *Indexing
#: during ingest*).
MILVUS = Capabilities(engine_bm25=True, bm25_global_stats=True, native_grouping=True,
                      native_maxsim=False, native_fusion=frozenset({"rrf", "weighted"}),
                      weighted_fusion=frozenset({"weighted"}), sharding=True,
                      index_every=8192)


def milvus_capabilities(server_version: str) -> Capabilities:
    """What one Milvus engine supports, from ``get_server_version()``: Milvus Lite has
    everything but binary vectors and IVF_PQ (it accepts the index and then fails to build
    it, "reserved for a future phase", searching the raw vectors), applies no sharding and
    keeps BM25 statistics per segment (measured: tests/test_engine_bm25.py);
    Milvus < 2.4: binary vectors, one vector field per collection, no sparse vectors and no
    ``hybrid_search``, no ``group_by_field``; 2.4: no BM25 function; 2.5+ (or an
    unparseable version, assumed recent): everything."""
    if server_version.startswith("milvus_lite"):
        return replace(MILVUS, binary=False, ivf_pq=False, sharding=False, bm25_global_stats=False)
    m = re.match(r"v?(\d+)\.(\d+)", server_version)
    version = (int(m.group(1)), int(m.group(2))) if m else (99, 0)
    if version >= (2, 5):
        return MILVUS
    if version >= (2, 4):
        return replace(MILVUS, engine_bm25=False, bm25_global_stats=False)
    return replace(MILVUS, sparse=False, engine_bm25=False, bm25_global_stats=False,
                   scalar_index=False,
                   multiple_vector_fields=False,
                   hybrid_search=False, native_fusion=frozenset(), weighted_fusion=frozenset(),
                   native_grouping=False)


__all__ = ["MILVUS", "milvus_capabilities"]
