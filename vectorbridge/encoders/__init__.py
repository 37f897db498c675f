"""Text -> vectors. Nothing here knows a database exists.

- :class:`DenseEncoder`: one float32 vector per text (sentence-transformers).
- :class:`BM25Encoder`: BM25 sparse vectors with hashed term ids.
- :class:`SpladeEncoder`: learned sparse vectors (sentence-transformers ``SparseEncoder``).
- :class:`TokenEncoder`: per-token vectors for late interaction (MaxSim).
- :class:`SparseVector`: the sparse value type every sparse encoder returns.
"""

from vectorbridge.encoders.bm25 import BM25Encoder
from vectorbridge.encoders.dense import DenseEncoder
from vectorbridge.encoders.splade import SpladeEncoder
from vectorbridge.encoders.tokens import TokenEncoder, maxsim
from vectorbridge.encoders.types import SparseVector

__all__ = ["DenseEncoder", "BM25Encoder", "SpladeEncoder", "TokenEncoder", "SparseVector", "maxsim"]
