"""``VectorBridgeStore``: a langchain-core ``VectorStore`` over either connector.

Why another store when langchain-qdrant and langchain-milvus exist: they differ in what a
round trip returns (ids lost, internal keys in metadata, no ``get_by_ids``, MMR's
``lambda_mult`` reversed in one of them). This one behaves the same on Qdrant and Milvus,
passes LangChain's standard ``VectorStoreIntegrationTests`` on both, and its async methods
run on the engines' async clients. It runs on the retriever's pipeline
(:mod:`~vectorbridge.retrievers.pipeline`): one ingest path, one MMR stage, one query adapter
stage for both faces.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from vectorbridge.connectors.base import DEFAULT_PREFETCH_K, Connector, Hit
from vectorbridge.connectors.grouping import check_grouping
from vectorbridge.connectors.indexing import IndexSchedule
from vectorbridge.connectors.filters import Eq
from vectorbridge.connectors.tenants import scoped, tenant_of
from vectorbridge.connectors.spec import Metric, check_name
from vectorbridge.errors import InvalidInputError
from vectorbridge.options import checked_keywords, refuse_unknown
from vectorbridge.retrievers.diversity import MMR
from vectorbridge.retrievers.documents import TEXT_KEY, to_document
from vectorbridge.retrievers.ingest import CHUNK_SIZE
from vectorbridge.retrievers.layout import FieldNames, Layout
from vectorbridge.retrievers.pipeline import Pipeline
from vectorbridge.retrievers.stages.base import Stage
from vectorbridge.retrievers.stages.candidates import Memo, Scope
from vectorbridge.retrievers.stages.shaping import AdaptQuery, Grouping
from vectorbridge.retrievers.twins import Flow, arun, run, twin

#: What the searches take besides their named parameters (LangChain's ``**kwargs``): an
#: unknown keyword is refused, not ignored (a misspelt ``tenant=`` must not go unnoticed).
_SEARCH_OPTIONS = ("group_by", "group_size", "tenant")


class VectorBridgeStore(VectorStore):
    """A LangChain vector store on a vectorbridge connector (Qdrant or Milvus).

    The collection is created on the first write, with one dense field sized by the
    embedding; an existing collection is used as it is (its spec must have ``vector_field``).

    Args:
        connector: A :class:`~vectorbridge.connectors.QdrantConnector` or
            :class:`~vectorbridge.connectors.MilvusConnector`.
        collection: Collection name.
        embedding: A :class:`~vectorbridge.encoders.DenseEncoder` or any LangChain ``Embeddings``.
        vector_field: Name of the dense field.
        metric: Similarity of a newly created collection (``"cosine"``, ``"dot"``, ``"euclid"``).
        text_key: Payload key holding the document text; metadata keys are the other keys.
        batch_size: Points per upsert request.
        index_after: After this many points written by this store since it last did so, ask
            the engine to index them (``connector.optimize``: Milvus seals its growing
            segments, which it otherwise searches unindexed; Qdrant Edge builds its HNSW
            graph), in the ingest's writer thread while the next chunk is encoded. ``None``
            (default): the engine's policy (``capabilities.index_every``, counted per
            collection on the connector: :meth:`Connector.index_schedule
            <vectorbridge.connectors.base.Connector.index_schedule>`). ``from_texts`` always
            indexes once at the end; an ``add_texts`` call, when 1,000 or more points are
            left unindexed. 0: never during writes (call ``connector.optimize`` yourself).
        query_adapter: A trained :class:`~vectorbridge.encoders.QueryAdapter`: each text
            query's embedding is mapped by it before the search (the stored documents stay as
            they are). Searches by a vector you pass (``*_by_vector``) use it unchanged.
        tenant: Confine the store to this tenant of a collection with a ``tenant_key``
            (:mod:`~vectorbridge.connectors.tenants`): every read and write sees that tenant's
            documents only; a new collection gets ``tenant_key="tenant"``.

    Examples:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> from vectorbridge.connectors import QdrantConnector
        >>> store = VectorBridgeStore(connector=QdrantConnector(location=":memory:"),
        ...                           collection="lc", embedding=DeterministicFakeEmbedding(size=8))
        >>> store.add_texts(["hello", "world"], ids=["1", "2"])
        ['1', '2']
        >>> store.get_by_ids(["2"])[0].page_content
        'world'
    """

    @checked_keywords
    def __init__(
        self,
        connector: Connector,
        collection: str,
        embedding: Embeddings,
        *,
        vector_field: str = "dense",
        metric: Metric | str = Metric.COSINE,
        text_key: str = TEXT_KEY,
        batch_size: int = 256,
        index_after: int | None = None,
        query_adapter: Any = None,
        tenant: str | None = None,
    ) -> None:
        if not isinstance(connector, Connector):
            raise InvalidInputError("connector must be a QdrantConnector or MilvusConnector, got "
                                    f"{type(connector).__name__}.")
        if tenant is not None:
            connector = scoped(connector, tenant)
        if not isinstance(embedding, Embeddings):
            raise InvalidInputError("embedding must be a LangChain Embeddings (e.g. a DenseEncoder), "
                                    f"got {type(embedding).__name__}.")
        check_name(collection, "collection")
        check_name(vector_field, "field")
        try:
            metric = Metric(metric)
        except ValueError:
            raise InvalidInputError(f"metric={metric!r} is not one of "
                                    f"{[m.value for m in Metric]}.") from None
        if not isinstance(text_key, str) or not text_key:
            raise InvalidInputError(f"text_key must be a non-empty string, got {text_key!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        if index_after is not None and (isinstance(index_after, bool) or
                                        not isinstance(index_after, int) or index_after < 0):
            raise InvalidInputError(f"index_after must be None or an int >= 0, got "
                                    f"{index_after!r}.")
        self._stages: tuple[Stage, ...] = () if query_adapter is None else \
            (AdaptQuery(query_adapter),)
        self._memo = Memo()
        self.query_adapter = query_adapter
        self.index_after = index_after
        self._indexing = connector.index_schedule(collection) if index_after is None else \
            IndexSchedule(connector, collection, every=index_after)
        self.connector, self.collection, self.embedding = connector, collection, embedding
        self.vector_field, self.metric = vector_field, metric
        self.text_key, self.batch_size = text_key, batch_size

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def _pipeline(self, tenant: str | None = None) -> Pipeline:
        """The pipeline of this store: one dense field, the query adapter if any;
        ``tenant``: this call's tenant (the searches' ``tenant=`` keyword)."""
        layout = Layout(self.collection, FieldNames(dense=self.vector_field),
                        dense=self.embedding, text_key=self.text_key, dense_metric=self.metric)
        conn = self.connector if tenant is None else scoped(self.connector, tenant)
        scope = Scope(conn, layout, self.connector.default_fusion, DEFAULT_PREFETCH_K)
        return Pipeline(scope, self._memo, self._stages)

    # -- writing (each operation is one flow, run sync or async: retrievers/twins.py) ------
    def _add(self, texts: Iterable[str], metadatas: Iterable[Mapping[str, Any]] | None,
             ids: Iterable[str | None] | None, options: Mapping[str, Any]) -> Flow[list[str]]:
        """Texts of any number, embedded a chunk at a time while the chunk before is written
        (the pipeline's ingest); an existing collection is used as it is. The engine's
        policy indexes during the call, and at its end a tail of ``REST_LIMIT`` (1,000) or
        more unindexed points (unless ``index_after=0``): a LangChain ``add_documents`` of a
        few texts pays no index build, and no search scans a long unindexed tail (docs:
        Operations, *Indexing during ingest*). ``options``: ``tenant=`` (this call's)."""
        refuse_unknown(type(self).__name__ + ".add_texts", options, ("tenant",))
        out = yield from self._pipeline(options.get("tenant")).add(
            texts, ids, metadatas, batch_size=self.batch_size, chunk_size=CHUNK_SIZE,
            adopt=True, indexing=self._indexing)
        if out and self.index_after != 0:
            yield twin(self._indexing, "settle")
        return out

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Embed and upsert ``texts``; ids from ``ids`` (``None`` entries get a uuid4).
        Re-adding an id replaces that document. ``tenant=``: this call's tenant."""
        return run(self._add(texts, metadatas, ids, kwargs))

    async def aadd_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                         ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Async :meth:`add_texts` on the engine's async client."""
        return await arun(self._add(texts, metadatas, ids, kwargs))

    def _delete(self, ids: list[str] | None, options: Mapping[str, Any]) -> Flow[bool]:
        refuse_unknown(type(self).__name__ + ".delete", options, ("filter", "tenant"))
        flt, name = options.get("filter"), self.collection
        conn = self.connector if options.get("tenant") is None else \
            scoped(self.connector, options["tenant"])
        if not (yield twin(conn, "has_collection", name)):
            return True
        tenant = tenant_of(conn)
        if ids is None and flt is None and tenant is not None:  # every document of the tenant
            key = (yield twin(conn, "spec", name)).tenant_key
            yield twin(conn, "delete", name, filter=Eq(key, tenant))
        elif ids is None and flt is None:  # refused for a collection of tenants
            yield twin(conn, "drop_collection", name)
        else:
            yield twin(conn, "delete", name, ids, filter=flt)
        return True

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents by id (missing ids are ignored), or by ``filter=``; with neither,
        every document (the collection is dropped and recreated on the next write; a
        collection of tenants is never dropped here: with ``tenant=`` (the store's or this
        call's) the tenant's documents are deleted, without, it is refused)."""
        return run(self._delete(ids, kwargs))

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Async :meth:`delete`."""
        return await arun(self._delete(ids, kwargs))

    # -- reading ----------------------------------------------------------------------------
    def _get(self, ids: Sequence[str]) -> Flow[list[Document]]:
        if not (yield twin(self.connector, "has_collection", self.collection)):
            return []
        records = yield twin(self.connector, "get", self.collection, list(ids))
        return [to_document(r.id, r.payload, self.text_key) for r in records]

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents for ``ids`` in the order asked; missing ids are left out."""
        return run(self._get(ids))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids`."""
        return await arun(self._get(ids))

    def _hits(self, query: str | None, embedding: Any, k: int, flt: Any,
              extra: Sequence[Stage] = (), tenant: str | None = None) -> Flow[list[Hit]]:
        """The pipeline's hits for a text ``query`` (embedded, then adapted) or an
        ``embedding`` used as it is, with per-call stages (grouping, MMR)."""
        if not (yield twin(self.connector, "has_collection", self.collection)):
            return []
        q = yield from self._pipeline(tenant).query(query, k, flt, vector=embedding,
                                                    extra=extra)
        return q.hits or []

    def _scored(self, query: str | None, embedding: Any, k: int, flt: Any,
                options: Mapping[str, Any]) -> Flow[list[tuple[Document, float]]]:
        """``options``: the search methods' ``**kwargs``; ``group_by="doc_id", group_size=n``
        return the best ``k`` documents' best ``n`` chunks, group by group; ``tenant=``:
        this call's tenant (a store confined to another one refuses it)."""
        refuse_unknown(type(self).__name__ + " search", options, _SEARCH_OPTIONS)
        extra = []
        group_by, group_size = check_grouping(options.get("group_by"), options.get("group_size", 1))
        if group_by is not None:
            extra.append(Grouping(group_by, group_size))
        hits = yield from self._hits(query, embedding, k, flt, extra, options.get("tenant"))
        return [(to_document(h.id, h.payload, self.text_key), h.score) for h in hits]

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``embedding`` with their similarity (higher is better;
        negated distance for euclid). ``filter``: a vectorbridge filter or filter dict."""
        return run(self._scored(None, embedding, k, filter, kwargs))

    async def asimilarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score_by_vector`."""
        return await arun(self._scored(None, embedding, k, filter, kwargs))

    def similarity_search_with_score(self, query: str, k: int = 4, filter: Any = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """Documents most similar to ``query`` with their similarity scores."""
        return run(self._scored(query, None, k, filter, kwargs))

    async def asimilarity_search_with_score(self, query: str, k: int = 4, filter: Any = None,
                                            **kwargs: Any) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        return await arun(self._scored(query, None, k, filter, kwargs))

    def similarity_search(self, query: str, k: int = 4, filter: Any = None,
                          **kwargs: Any) -> list[Document]:
        """Documents most similar to ``query``, best first."""
        return [d for d, _ in run(self._scored(query, None, k, filter, kwargs))]

    async def asimilarity_search(self, query: str, k: int = 4, filter: Any = None,
                                 **kwargs: Any) -> list[Document]:
        """Async :meth:`similarity_search`."""
        return [d for d, _ in await arun(self._scored(query, None, k, filter, kwargs))]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: Any = None,
                                    **kwargs: Any) -> list[Document]:
        """Documents nearest to ``embedding``, best first."""
        return [d for d, _ in run(self._scored(None, embedding, k, filter, kwargs))]

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4,
                                           filter: Any = None, **kwargs: Any) -> list[Document]:
        """Async :meth:`similarity_search_by_vector`."""
        return [d for d, _ in await arun(self._scored(None, embedding, k, filter, kwargs))]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Similarity -> [0, 1]: cosine (and dot on unit vectors) ``(1 + s) / 2``; euclid
        ``1 - d / 2`` (unit vectors are at most 2 apart)."""
        if self.metric is Metric.EUCLID:
            return lambda s: max(0.0, 1.0 + s / 2.0)
        return lambda s: min(1.0, max(0.0, (1.0 + s) / 2.0))

    # -- MMR --------------------------------------------------------------------------------
    def _mmr(self, query: str | None, embedding: Any, k: int, fetch_k: int, lambda_mult: float,
             flt: Any, options: Mapping[str, Any] | None = None) -> Flow[list[Document]]:
        """The pipeline's MMR stage: in the engine where it has MMR (one request, no vectors
        sent back), else over the ``fetch_k`` nearest's stored vectors with LangChain's
        selection."""
        options = options or {}
        refuse_unknown(type(self).__name__ + " MMR search", options, ("tenant",))
        hits = yield from self._hits(query, embedding, k, flt, [MMR(lambda_mult, fetch_k)],
                                     options.get("tenant"))
        return [to_document(h.id, h.payload, self.text_key) for h in hits]

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """Maximal marginal relevance over the ``fetch_k`` nearest documents, LangChain's
        meaning: ``lambda_mult=1`` is pure relevance, ``0`` is maximum diversity."""
        return run(self._mmr(None, embedding, k, fetch_k, lambda_mult, filter, kwargs))

    async def amax_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search_by_vector`."""
        return await arun(self._mmr(None, embedding, k, fetch_k, lambda_mult, filter, kwargs))

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20,
                                      lambda_mult: float = 0.5, filter: Any = None,
                                      **kwargs: Any) -> list[Document]:
        """MMR for a text query (see :meth:`max_marginal_relevance_search_by_vector`)."""
        return run(self._mmr(query, None, k, fetch_k, lambda_mult, filter, kwargs))

    async def amax_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20,
                                             lambda_mult: float = 0.5, filter: Any = None,
                                             **kwargs: Any) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search`."""
        return await arun(self._mmr(query, None, k, fetch_k, lambda_mult, filter, kwargs))

    # -- construction -----------------------------------------------------------------------
    def _load(self, texts: list[str], metadatas: Any, ids: Any) -> Flow["VectorBridgeStore"]:
        yield from self._add(texts, metadatas, ids, {})
        yield twin(self._indexing, "finish")  # a bulk load: index what is left now
        return self

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings,
                   metadatas: list[dict] | None = None, *, ids: list[str] | None = None,
                   connector: Connector | None = None, collection: str = "vectorbridge",
                   **kwargs: Any) -> "VectorBridgeStore":
        """A store holding ``texts``; without ``connector``, an in-memory Qdrant."""
        store = cls(connector=connector or _memory_connector(), collection=collection,
                    embedding=embedding, **kwargs)
        return run(store._load(texts, metadatas, ids))

    @classmethod
    async def afrom_texts(cls, texts: list[str], embedding: Embeddings,
                          metadatas: list[dict] | None = None, *, ids: list[str] | None = None,
                          connector: Connector | None = None, collection: str = "vectorbridge",
                          **kwargs: Any) -> "VectorBridgeStore":
        """Async :meth:`from_texts`."""
        store = cls(connector=connector or _memory_connector(), collection=collection,
                    embedding=embedding, **kwargs)
        return await arun(store._load(texts, metadatas, ids))


def _memory_connector() -> Connector:
    from vectorbridge.connectors.qdrant import QdrantConnector

    return QdrantConnector(location=":memory:")


__all__ = ["VectorBridgeStore"]
