"""LangChain's own standard suites, unmodified, on every backend of the matrix.

``VectorStoreIntegrationTests`` (sync, async, get_by_ids) runs against
:class:`VectorBridgeStore` and ``RetrieversIntegrationTests`` against :class:`HybridRetriever`
(dense + BM25, fused in the engine). Nothing is overridden, skipped or xfailed: the only
code here is the fixtures the suites ask for.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests, VectorStoreIntegrationTests

from tests.backends import unique_name
from tests.corpus import TEXTS
from vectorbridge.connectors import CollectionSpec
from vectorbridge.encoders import BM25Encoder
from vectorbridge.retrievers import HybridRetriever, VectorBridgeStore



class TestVectorBridgeStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, conn):  # type: ignore[override]
        store = VectorBridgeStore(connector=conn, collection=unique_name("lc"),
                                  embedding=self.get_embeddings())
        yield store
        store.delete()  # drops the collection (shared servers stay clean)


class TestHybridRetriever(RetrieversIntegrationTests):
    _params: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _collection(self, conn):
        """Store the corpus on this backend; the suite then builds retrievers over it."""
        from langchain_core.embeddings import DeterministicFakeEmbedding

        name = unique_name("hy")
        # dense + BM25 where the engine has sparse vectors; dense alone where not (Milvus 2.3)
        has_sparse = not conn.unsupported(CollectionSpec(name=name, sparse=["s"]))
        built = HybridRetriever.from_texts(
            TEXTS, ids=[f"doc-{i}" for i in range(len(TEXTS))],
            metadatas=[{"n": i} for i in range(len(TEXTS))], connector=conn, collection=name,
            dense=DeterministicFakeEmbedding(size=16), sparse=BM25Encoder() if has_sparse else None,
            k=4)
        type(self)._params = {"connector": conn, "collection": name, "dense": built.dense,
                              "sparse": built.sparse, "k": 4}
        yield
        conn.drop_collection(name)

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "vitamin C and scurvy"
