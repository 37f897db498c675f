"""Text -> vectors. Nothing here knows a database exists.

- :class:`DenseEncoder`: one float32 vector per text (sentence-transformers).
- :class:`BM25Encoder`: BM25 sparse vectors with hashed term ids.
- :class:`SpladeEncoder`: learned sparse vectors (sentence-transformers ``SparseEncoder``).
- :class:`TokenEncoder`: per-token vectors for late interaction (MaxSim).
- :class:`SparseVector`: the sparse value type every sparse encoder returns.
- :class:`FDEEncoder`: MUVERA Fixed Dimensional Encodings (token matrices -> one vector).
- :class:`BinaryQuantizer`, :class:`ProductQuantizer`: compact codes for dense vectors.
- :class:`TokenPooler`: fewer token vectors per document, by clustering (token pooling).
- :class:`ResidualCodec`: token vectors as ColBERTv2 residual codes (centroid id + 1-2 bits/dim).
- :class:`LinearReducer`: fewer dense dimensions by a learned projection (LeanVec).
- :class:`QueryAdapter`: a residual map on query vectors trained against the stored documents.
- :class:`QueryCache` (``DenseEncoder(..., query_cache=4096)``), :class:`CachedQueryEmbeddings`:
  repeated queries skip the model.

Names are imported on first use, so ``vectorbridge.connectors`` (which needs only
:class:`SparseVector`) does not pay for importing torch and sentence-transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vectorbridge.encoders.adapter import QueryAdapter  # noqa: F401
    from vectorbridge.encoders.query_cache import CachedQueryEmbeddings, QueryCache  # noqa: F401
    from vectorbridge.encoders.binary import BinaryQuantizer  # noqa: F401
    from vectorbridge.encoders.bm25 import BM25Encoder  # noqa: F401
    from vectorbridge.encoders.dense import DenseEncoder  # noqa: F401
    from vectorbridge.encoders.fde import FDEEncoder  # noqa: F401
    from vectorbridge.encoders.pooling import TokenPooler  # noqa: F401
    from vectorbridge.encoders.pq import ProductQuantizer  # noqa: F401
    from vectorbridge.encoders.reduction import LinearReducer  # noqa: F401
    from vectorbridge.encoders.residual import ResidualCodec  # noqa: F401
    from vectorbridge.encoders.scoring import maxsim  # noqa: F401
    from vectorbridge.encoders.splade import SpladeEncoder  # noqa: F401
    from vectorbridge.encoders.tokens import TokenEncoder  # noqa: F401
    from vectorbridge.encoders.types import SparseVector  # noqa: F401

#: Public name -> module defining it (the registry the lazy import reads).
_EXPORTS = {
    "DenseEncoder": "vectorbridge.encoders.dense",
    "BM25Encoder": "vectorbridge.encoders.bm25",
    "SpladeEncoder": "vectorbridge.encoders.splade",
    "TokenEncoder": "vectorbridge.encoders.tokens",
    "SparseVector": "vectorbridge.encoders.types",
    "maxsim": "vectorbridge.encoders.scoring",
    "FDEEncoder": "vectorbridge.encoders.fde",
    "BinaryQuantizer": "vectorbridge.encoders.binary",
    "ProductQuantizer": "vectorbridge.encoders.pq",
    "TokenPooler": "vectorbridge.encoders.pooling",
    "ResidualCodec": "vectorbridge.encoders.residual",
    "LinearReducer": "vectorbridge.encoders.reduction",
    "QueryAdapter": "vectorbridge.encoders.adapter",
    "QueryCache": "vectorbridge.encoders.query_cache",
    "CachedQueryEmbeddings": "vectorbridge.encoders.query_cache",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vectorbridge.encoders' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
