"""Observability: OpenTelemetry spans for every connector operation and retrieval stage, and
LangChain callback events per stage, checked with the SDK's in-memory exporter; and nothing at
all when OpenTelemetry is absent or no SDK is configured."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Sequence

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.documents import BaseDocumentCompressor, Document
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from qdrant_client import QdrantClient

from vectorbridge import tracing
from vectorbridge.connectors import QdrantConnector, ReferenceConnector
from vectorbridge.encoders import BM25Encoder
from vectorbridge.errors import VectorBridgeError
from vectorbridge.retrievers import MMR, HybridRetriever, MaxSim, Rerank
from tests.fakes import BagDense, BagTokens
from tests.test_faults import FAST, Flaky, data, refused, spec_for

TEXTS = ["vitamin c prevents scurvy in sailors", "insulin is made by beta cells",
         "sleep helps memory consolidation", "scurvy is a lack of vitamin c",
         "beta cells fail in diabetes", "memory and sleep in the elderly",
         "citrus fruit carries vitamin c", "diabetes and insulin resistance"]


@pytest.fixture
def spans():
    """Spans recorded while the test runs, from a provider of its own (not the global one)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    tracing.use_tracer_provider(None)


class Reverse(BaseDocumentCompressor):
    """A reranker that puts the documents in reverse order, counting its calls."""

    calls: int = 0

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks=None) -> Sequence[Document]:
        self.calls += 1
        return list(reversed(documents))


@pytest.fixture(params=["reference", "qdrant-edge"])
def retriever(request, tmp_path):
    conn = ReferenceConnector() if request.param == "reference" \
        else QdrantConnector(path=str(tmp_path / "edge"))
    r = HybridRetriever.from_texts(
        TEXTS, ids=[f"d{i}" for i in range(len(TEXTS))], connector=conn, collection="docs",
        dense=BagDense(), sparse=BM25Encoder(stopwords=None), fusion="rrf",
        stages=[MaxSim(BagTokens(), mode="replace", k=6), Rerank(Reverse(), k=6)], k=3)
    yield r
    conn.close()


def _tree(finished) -> tuple[object, dict[int, list]]:
    """The root span of one retrieval and each span's children, in start order."""
    children: dict[int, list] = {}
    root = None
    for s in sorted(finished, key=lambda s: s.start_time):
        if s.parent is None:
            root = s
        else:
            children.setdefault(s.parent.span_id, []).append(s)
    return root, children


def _names(children, s) -> list[str]:
    return [c.name for c in children.get(s.context.span_id, [])]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_span_tree_of_a_hybrid_query_with_maxsim_and_a_reranker_is_what_ran(
        retriever, spans, mode):
    spans.clear()  # the ingest's spans are another test's subject
    docs = retriever.invoke("what prevents scurvy") if mode == "sync" \
        else asyncio.run(retriever.ainvoke("what prevents scurvy"))
    root, children = _tree(spans.get_finished_spans())
    assert root.name == "vectorbridge.retrieve"
    assert root.attributes["db.collection.name"] == "docs"
    assert list(root.attributes["vectorbridge.stages"]) == ["MaxSim", "Rerank"]
    assert root.attributes["vectorbridge.hits"] == len(docs) == 3  # what invoke returned
    # MaxSim over float tokens is the engine's second stage: an attribute of its call, not
    # a stage span of its own (nothing ran client-side)
    assert _names(children, root) == [
        "vectorbridge.spec", "vectorbridge.encode.dense", "vectorbridge.encode.query",
        "vectorbridge.candidates", "vectorbridge.stage.Rerank"]
    by_name = {c.name: c for c in children[root.context.span_id]}
    assert list(by_name["vectorbridge.encode.query"].attributes["vectorbridge.fields"]) == \
        ["sparse", "tokens"]
    found = by_name["vectorbridge.candidates"]
    assert found.attributes["vectorbridge.source"] == "engine"
    assert list(found.attributes["vectorbridge.branch_fields"]) == ["dense", "sparse"]
    (engine_call,) = children[found.context.span_id]  # one fused query, in the engine
    assert engine_call.name == "vectorbridge.hybrid_search"
    assert engine_call.attributes["vectorbridge.branches"] == 2
    assert engine_call.attributes["vectorbridge.fusion"] == "rrf"
    assert engine_call.attributes["vectorbridge.fusion.k"] == 2  # the retriever's default
    assert engine_call.attributes["vectorbridge.rescore.field"] == "tokens"
    assert engine_call.attributes["vectorbridge.rescore.mode"] == "replace"
    assert engine_call.attributes["vectorbridge.rescore.k"] == 6
    assert engine_call.attributes["vectorbridge.hits"] == found.attributes["vectorbridge.hits"] == 6
    assert engine_call.attributes["vectorbridge.engine"] == retriever.connector.engine
    rerank = by_name["vectorbridge.stage.Rerank"]
    assert rerank.attributes["vectorbridge.hits_in"] == rerank.attributes["vectorbridge.hits"]
    assert retriever.stages[-1].compressor.calls == 1
    # every span of the query is inside the root's time, and every one ended cleanly
    assert all(root.start_time <= s.start_time <= s.end_time <= root.end_time
               for s in spans.get_finished_spans())
    assert all(s.status.status_code != StatusCode.ERROR for s in spans.get_finished_spans())


def test_a_client_side_stage_owns_the_engine_calls_it_makes(spans, tmp_path):
    """Client MMR over a fused query reads the candidates' vectors: that ``get`` is a child
    of the MMR stage's span, not of the retrieval's."""
    conn = QdrantConnector(path=str(tmp_path / "edge"))
    r = HybridRetriever.from_texts(TEXTS, connector=conn, collection="docs", dense=BagDense(),
                                   sparse=BM25Encoder(stopwords=None),
                                   stages=[MMR(fetch_k=6, lambda_mult=0.5)], k=3)
    spans.clear()
    asyncio.run(r.ainvoke("vitamin c"))
    conn.close()
    root, children = _tree(spans.get_finished_spans())
    assert _names(children, root) == [
        "vectorbridge.spec", "vectorbridge.encode.dense", "vectorbridge.encode.query",
        "vectorbridge.candidates", "vectorbridge.stage.MMR"]
    mmr = next(c for c in children[root.context.span_id] if c.name == "vectorbridge.stage.MMR")
    assert _names(children, mmr) == ["vectorbridge.get"]
    assert mmr.attributes["vectorbridge.hits_in"] == 6 and mmr.attributes["vectorbridge.hits"] == 3
    assert children[mmr.context.span_id][0].attributes["vectorbridge.ids"] == 6


def test_connector_operations_carry_engine_collection_sizes_and_hits(spans, tmp_path):
    conn = QdrantConnector(path=str(tmp_path / "edge"))
    ids, vectors, payloads = data(30)
    conn.create_collection(spec_for("docs"))
    conn.upsert("docs", ids, vectors, payloads, batch_size=10)
    hits = conn.search("docs", "dense", vectors["dense"][4], k=5, filter={"i": {"$gte": 0}})
    asyncio.run(conn.asearch("docs", "dense", vectors["dense"][4], k=5,
                             filter={"i": {"$gte": 0}}))
    conn.close()
    by_name: dict[str, list] = {}
    for s in spans.get_finished_spans():
        by_name.setdefault(s.name, []).append(s)
    upsert = by_name["vectorbridge.upsert"][0].attributes
    assert upsert["db.system.name"] == "qdrant" and upsert["vectorbridge.engine"] == "qdrant-edge"
    assert upsert["db.collection.name"] == "docs" and upsert["vectorbridge.batch_size"] == 10
    assert upsert["vectorbridge.ids"] == 30
    assert upsert["vectorbridge.bytes_written"] >= vectors["dense"].nbytes
    assert by_name["vectorbridge.create_collection"][0].attributes["db.collection.name"] == "docs"
    sync, async_ = (dict(s.attributes) for s in by_name["vectorbridge.search"])
    assert sync == async_  # the async twin's span says what the sync one says
    assert sync["vectorbridge.k"] == 5 and sync["vectorbridge.hits"] == len(hits) == 5
    assert sync["vectorbridge.filtered"] is True and sync["vectorbridge.field"] == "dense"


def test_a_failed_operation_is_an_error_span_and_retries_are_events(spans):
    client = Flaky(QdrantClient(location=":memory:"))
    conn = QdrantConnector(client=client, retry=FAST)
    conn.remote = True  # the stand-in plays a server: its failures are network failures
    ids, vectors, payloads = data(10)
    conn.create_collection(spec_for("docs"))
    conn.upsert("docs", ids, vectors, payloads)
    client.fail("query_points", refused(), refused())
    assert conn.search("docs", "dense", vectors["dense"][0], k=1)[0].id == ids[0]
    with pytest.raises(VectorBridgeError):
        conn.search("missing", "dense", vectors["dense"][0], k=1)
    searches = [s for s in spans.get_finished_spans() if s.name == "vectorbridge.search"]
    retried, failed = searches
    assert [e.name for e in retried.events] == ["retry", "retry"]
    assert retried.events[0].attributes["error.type"] == "ResponseHandlingException"
    assert retried.attributes["vectorbridge.retries"] == 2
    assert retried.status.status_code != StatusCode.ERROR
    assert failed.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" for e in failed.events)


class _Events(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []

    def on_custom_event(self, name, data, *, run_id, **kwargs) -> None:
        self.seen.append((name, data))


class _AsyncEvents(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []

    async def on_custom_event(self, name, data, *, run_id, **kwargs) -> None:
        self.seen.append((name, data))


@pytest.mark.parametrize("handler", [_Events, _AsyncEvents])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_each_stage_is_a_langchain_callback_event(retriever, handler, mode):
    events = handler()
    config = {"callbacks": [events]}
    if mode == "sync":
        retriever.invoke("insulin beta cells", config=config)
    else:
        asyncio.run(retriever.ainvoke("insulin beta cells", config=config))
    assert [name for name, _ in events.seen] == [tracing.STAGE_EVENT] * 2
    stages = [d for _, d in events.seen]
    assert [d["stage"] for d in stages] == ["candidates", "Rerank"]  # MaxSim: in the engine
    assert [d["hits"] for d in stages] == [6, 6]
    assert all(d["ms"] >= 0 and d["collection"] == "docs" for d in stages)


def test_without_opentelemetry_or_an_sdk_nothing_is_recorded(retriever, monkeypatch):
    expected = [(d.id, d.metadata["score"]) for d in retriever.invoke("sleep memory")]
    assert not tracing.enabled()  # the API is installed here, but no SDK provider is set
    assert tracing.span("vectorbridge.x") is tracing._NO_SPAN
    monkeypatch.setattr(tracing, "_trace", None)  # as if the API were not installed
    assert tracing.span("vectorbridge.x") is tracing._NO_SPAN
    assert not tracing.current().is_recording()
    assert [(d.id, d.metadata["score"]) for d in retriever.invoke("sleep memory")] == expected
    assert [(d.id, d.metadata["score"])
            for d in asyncio.run(retriever.ainvoke("sleep memory"))] == expected


def test_stage_events_show_in_astream_events(retriever):
    async def events():
        return [e async for e in retriever.astream_events("sleep memory", version="v2")]

    custom = [e for e in asyncio.run(events()) if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom] == [tracing.STAGE_EVENT] * 2
    assert [e["data"]["stage"] for e in custom] == ["candidates", "Rerank"]


class _SlowDense(BagDense):
    async def aembed_query(self, text: str) -> list[float]:
        await asyncio.sleep(5)
        return self.embed_query(text)


def test_a_cancelled_query_ends_its_spans_and_leaves_no_context(spans, caplog):
    """A timeout around ``ainvoke`` in the caller's own task: the flow is unwound where it
    was cancelled, in that task's context, so its spans end there and the caller's context
    is its own again (not a dead span's, and no "Failed to detach context" later)."""
    r = HybridRetriever.from_texts(TEXTS, connector=ReferenceConnector(), collection="docs",
                                   dense=_SlowDense(), k=3)
    spans.clear()

    async def caller():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await r.ainvoke("vitamin c")
        return tracing.current()

    with caplog.at_level(logging.ERROR):
        after = asyncio.run(caller())
        gc.collect()
    assert not [rec for rec in caplog.records if "detach" in rec.getMessage()]
    assert not after.get_span_context().is_valid  # nothing of the cancelled query is current
    ended = {s.name: s for s in spans.get_finished_spans()}
    assert {"vectorbridge.retrieve", "vectorbridge.encode.dense"} <= set(ended)
    assert ended["vectorbridge.encode.dense"].parent.span_id == \
        ended["vectorbridge.retrieve"].context.span_id
