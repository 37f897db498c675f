"""A retrieval = a layout + an ordered list of stages, written once for sync and async.

:class:`Pipeline` is what ``HybridRetriever`` and ``VectorBridgeStore`` run: its methods are
flows (:mod:`~vectorbridge.retrievers.twins`) that ``invoke`` drives with :func:`run` and
``ainvoke`` with :func:`arun`, so the two paths cannot drift apart. A query is embedded (the
dense model through its async twin, the other encoders in a worker thread under ``arun``),
planned (:func:`~vectorbridge.retrievers.stages.candidates.plan_query`, then each stage's
``plan`` hook), and then goes through the stages in their order, the candidate search among
them. It is built from the face's options on each call (a few references, no I/O); what must
survive between calls lives in the face's :class:`~vectorbridge.retrievers.stages.candidates.Memo`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence, Sized

import numpy as np
from langchain_core.documents import Document
from tqdm.auto import tqdm

from vectorbridge import tracing
from vectorbridge.connectors.journal import as_journal
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.documents import fill_ids, to_payloads
from vectorbridge.retrievers.ingest import CHUNK_SIZE, FIT_SAMPLE, BackgroundWriter, \
    chunk_digest, chunks
from vectorbridge.retrievers.stages.base import CANDIDATES, DOCUMENTS, Query, Stage, first_depth
from vectorbridge.retrievers.stages.candidates import Memo, Scope, candidates, plan_query, \
    query_vectors, to_documents
from vectorbridge.retrievers.twins import Flow, blocking, twin

#: Metadata key of the first-stage score (fused, or MaxSim when a multi-vector stage ran).
SCORE_KEY = "score"
#: RRF's rank constant when a retriever names only the kind (``fusion="rrf"``): 2, the best
#: of the grid on SciFact train (docs: Benchmarks, fusion defaults), not the papers' 60.
RRF_K = 2


@dataclass(frozen=True)
class Pipeline:
    """The stages of one retrieval, in run order (:func:`~vectorbridge.retrievers.stages.check_stages`
    made them so), and the call's defaults."""

    scope: Scope
    memo: Memo
    stages: tuple[Stage, ...] = ()
    k: int = 10
    filter: Any = None
    score_key: str = SCORE_KEY

    def query(self, text: str | None, k: int | None, flt: Any, callbacks: Any = None, *,
              vector: Any = None, extra: Sequence[Stage] = ()) -> Flow[Query]:
        """``text`` (or a dense ``vector`` given as it is, no query adapter) through every
        stage (and ``extra``: per-call stages such as the store's MMR); the :class:`Query`
        holds the hits and the documents."""
        stages = tuple(sorted((*self.stages, *extra), key=lambda s: s.order)) if extra \
            else self.stages
        with tracing.span("vectorbridge.retrieve", lambda: {
                "db.collection.name": self.scope.collection, "vectorbridge.k": k or self.k,
                "vectorbridge.stages": [type(s).__name__ for s in stages]}) as root:
            q = yield from self._query(stages, text, k, flt, callbacks, vector)
            tracing.note_result(root, (q.docs or [])[: q.plan.final_k])  # what is returned
        return q

    def _query(self, stages: tuple[Stage, ...], text: str | None, k: int | None, flt: Any,
               callbacks: Any, vector: Any) -> Flow[Query]:
        scope, layout, conn = self.scope, self.scope.layout, self.scope.connector
        spec = yield twin(conn, "spec", scope.collection)
        self.memo.check(layout, spec)
        if spec.name != scope.collection:  # an alias, resolved once: every stage below reads
            layout = replace(layout, collection=spec.name)  # the one collection it names now
            scope = replace(scope, layout=layout)
        if vector is not None:
            if layout.multivector is not None:
                raise InvalidInputError("a search by vector cannot run MaxSim, which encodes "
                                        "the query's text into token vectors: search by text.")
            dense_q = np.asarray(vector, np.float32)
        elif layout.dense is not None:
            with tracing.span("vectorbridge.encode.dense"):
                dense_q = np.asarray((yield twin(layout.dense, "embed_query", text)), np.float32)
        else:
            dense_q = None
        vectors = {}
        if text is not None and (layout.sparse is not None or layout.multivector is not None):
            with tracing.span("vectorbridge.encode.query") as encoding:
                vectors = yield blocking(query_vectors, layout, spec, text)
                if encoding.is_recording():
                    encoding.set_attribute("vectorbridge.fields", sorted(vectors))
        k = check_k(self.k if k is None else k)
        plan = plan_query(layout, dense_q, vectors, k=k, first_k=first_depth(stages, k),
                          flt=self.filter if flt is None else flt)
        q = Query(text or "", k, scope, spec, dense_q, vectors, plan, layout.read_key(spec),
                  callbacks, extra={"vector_given": vector is not None})
        for s in stages:
            s.plan(q)
        for s in stages:
            if s.order >= CANDIDATES:
                break
            yield from _staged(s, q)
        started = time.perf_counter()
        with tracing.span("vectorbridge.candidates") as found_span:
            for s in stages:
                found = yield from s.source(q)
                if found is not None:
                    q.hits, q.source = found, s
                    break
            if q.hits is None:
                q.hits = yield from candidates(scope, plan, self.memo)
            if found_span.is_recording():
                found_span.set_attributes({
                    "vectorbridge.source": "engine" if q.source is None
                    else type(q.source).__name__, "vectorbridge.hits": len(q.hits),
                    "vectorbridge.branch_fields": sorted(plan.queries),
                    "vectorbridge.first_k": plan.k})
        yield from _event(q, "candidates", started, len(q.hits))
        for s in stages:
            if CANDIDATES <= s.order < DOCUMENTS:
                yield from _staged(s, q)
        q.docs = to_documents(q.hits, q.text_key, self.score_key)
        for s in stages:
            if s.order >= DOCUMENTS:
                yield from _staged(s, q)
        return q

    def retrieve(self, text: str, k: int | None, flt: Any, callbacks: Any) -> Flow[list[Document]]:
        """The documents for ``text``, best first."""
        q = yield from self.query(text, k, flt, callbacks)
        return (q.docs or [])[: q.plan.final_k]

    def add(self, texts: Iterable[str], ids: Iterable[str | None] | None,
            metadatas: Iterable[dict[str, Any] | None] | None, *, batch_size: int,
            recreate: bool = False, chunk_size: int = CHUNK_SIZE, journal: Any = None,
            progress: bool = False, adopt: bool = False,
            indexing: Any = None) -> Flow[list[str]]:
        """Encode ``texts`` (any iterable, read in chunks) with the layout's encoders and
        upsert them, each chunk written in the background while the next is encoded
        (:mod:`~vectorbridge.retrievers.ingest`), creating the collection on first use (an
        existing one must have the fields these encoders fill). ``progress``: one tqdm bar
        in documents/s. ``journal``: skip the chunks an earlier run of the same call wrote.
        ``adopt``: an existing collection is used as it is when it holds these fields (the
        store's contract), instead of having to match the encoders' spec exactly.
        ``indexing``: the :class:`~vectorbridge.connectors.indexing.IndexSchedule` the writer
        applies after each chunk (default: the connector's, by the engine's policy)."""
        for what, v in (("batch_size", batch_size), ("chunk_size", chunk_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{what} must be a positive int, got {v!r}.")
        if not isinstance(recreate, bool):
            raise InvalidInputError(f"recreate must be True or False, got {recreate!r}.")
        acked = as_journal(journal)
        if acked is not None and ids is None:
            raise InvalidInputError("journal= needs ids: generated ids differ between runs, so "
                                    "a resumed ingest would write its documents twice.")
        layout, conn = self.scope.layout, self.scope.connector
        first = max(chunk_size, FIT_SAMPLE) if layout.unfitted(conn.capabilities) else chunk_size
        writer, out = BackgroundWriter(conn, indexing or conn.index_schedule(
            self.scope.collection)), []
        bar = tqdm(total=len(texts) if isinstance(texts, Sized) else None, unit="doc",
                   desc=f"ingest {self.scope.collection}", disable=not progress)
        try:
            tenant = getattr(conn, "tenant_id", None)  # one tenant's chunks are not another's
            journal_key = self.scope.collection + ("" if tenant is None else f"\0{tenant}")
            for part, part_ids, part_meta in chunks(texts, ids, metadatas, first, chunk_size):
                id_list = fill_ids(part_ids, len(part))
                payloads = to_payloads(part, part_meta, layout.write_key(), start=len(out))
                ack = None
                if acked is not None:
                    if any(i is None for i in part_ids or ()):
                        raise InvalidInputError("journal= needs an id for every text (a None "
                                                "id is generated anew on each run).")
                    ack = (acked, chunk_digest(journal_key, id_list, part, payloads),
                           len(part))
                if out and ack is not None and ack[1] in acked:  # written by an earlier run
                    yield blocking(layout.observe, part)
                    out += id_list
                    bar.update(len(part))
                    continue
                spec, vectors = yield from layout.encode(part, conn.capabilities)
                if not out and getattr(conn, "tenant_id", None) is not None:
                    spec = yield from _tenant_spec(conn, spec)
                if not out:  # the first chunk fits the encoders and names the fields
                    if adopt and (yield twin(conn, "has_collection", spec.name)):
                        layout.check_holds((yield twin(conn, "spec", spec.name)), spec)
                    else:
                        yield twin(conn, "create_collection", spec, recreate=recreate)
                if ack is None or ack[1] not in acked:
                    yield twin(writer, "write", spec.name, id_list, vectors, payloads,
                               batch_size=batch_size, ack=ack)
                out += id_list
                bar.update(len(part))
        finally:
            yield twin(writer, "drain")
            bar.close()
        self.memo.clear()
        return out

    def delete(self, ids: Sequence[str] | None, flt: Any) -> Flow[None]:
        """Delete points by id and / or filter."""
        yield twin(self.scope.connector, "delete", self.scope.collection, ids, filter=flt)
        self.memo.clear()


def _found(q: Query) -> int:
    """How many results ``q`` holds now: documents once made, else candidates."""
    return len(q.docs if q.docs is not None else q.hits or ())


def _staged(s: Stage, q: Query) -> Flow[None]:
    """``s.run(q)`` in a span of its own, then its LangChain event; a stage whose work went
    into the candidate query (grouping, a formula, MaxSim over float tokens: attributes of
    the engine call's span) runs nothing here and gets neither."""
    if type(s).run is Stage.run or not s.runs(q):
        return
    name, before, started = type(s).__name__, _found(q), time.perf_counter()
    with tracing.span(f"vectorbridge.stage.{name}") as span:
        yield from s.run(q)
        if span.is_recording():
            span.set_attributes({"vectorbridge.hits_in": before, "vectorbridge.hits": _found(q)})
    yield from _event(q, name, started, _found(q))


def _event(q: Query, stage: str, started: float, hits: int) -> Flow[None]:
    """The :data:`~vectorbridge.tracing.STAGE_EVENT` of one stage to the run's LangChain
    callbacks (``on_custom_event``), where a handler listens."""
    if q.callbacks is not None and getattr(q.callbacks, "handlers", None):
        yield twin(tracing.StageEvents, "emit", q.callbacks, {
            "stage": stage, "ms": (time.perf_counter() - started) * 1e3, "hits": hits,
            "collection": q.scope.collection})


def _tenant_spec(conn: Any, spec: Any) -> Flow[Any]:
    """``spec`` written through a tenant handle: the existing collection's tenant key and
    distribution, or a new tenant collection keyed by ``"tenant"``."""
    from vectorbridge.connectors.tenants import DEFAULT_TENANT_KEY

    if (yield twin(conn, "has_collection", spec.name)):
        existing = yield twin(conn, "spec", spec.name)
        return replace(spec, **existing.distribution)
    return replace(spec, tenant_key=DEFAULT_TENANT_KEY)


__all__ = ["Pipeline"]
