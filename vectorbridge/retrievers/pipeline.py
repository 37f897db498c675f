"""A retrieval = a layout + an ordered list of stages, written once for sync and async.

:class:`Pipeline` is what ``HybridRetriever`` runs: its methods are flows
(:mod:`~vectorbridge.retrievers.twins`) that ``invoke`` drives with :func:`run` and
``ainvoke`` with :func:`arun`, so the two paths cannot drift apart. It is built from the
retriever's options on each call (a few references, no I/O); what must survive between calls
lives in the retriever's :class:`~vectorbridge.retrievers.stages.Memo`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence, Sized

import numpy as np
from langchain_core.documents import Document
from tqdm.auto import tqdm

from vectorbridge.connectors.base import RescoreMode
from vectorbridge.connectors.journal import as_journal
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.diversity import client_mmr, native_mmr
from vectorbridge.retrievers.documents import fill_ids, to_payloads
from vectorbridge.retrievers.ingest import CHUNK_SIZE, FIT_SAMPLE, BackgroundWriter, \
    chunk_digest, chunks
from vectorbridge.retrievers.stages import Memo, Scope, calibrate, candidates, decoded_maxsim, \
    feedback, plan_query, rerank, to_documents
from vectorbridge.retrievers.twins import Flow, twin


@dataclass(frozen=True)
class Pipeline:
    """The stages of ``HybridRetriever`` and their settings (its attributes say what each
    option does)."""

    scope: Scope
    memo: Memo
    k: int = 10
    filter: Any = None
    maxsim: RescoreMode | None = None
    prf: Any = None
    rerank: Any = None
    rerank_k: int = 100
    calibrator: Any = None
    score_threshold: float | None = None
    relevance_key: str = "relevance"
    score_key: str = "score"
    group_by: str | None = None
    group_size: int = 1
    formula: Any = None
    mmr: Any = None
    query_adapter: Any = None

    def _first_k(self, k: int) -> int:
        first_k = max(self.rerank_k, k) if self.rerank is not None else k
        if self.mmr is not None:  # MMR picks k of the first stage's fetch_k
            first_k = max(first_k, self.mmr.fetch_k)
        if self.calibrator is not None:  # its input includes the query's top scores
            first_k = max(first_k, self.calibrator.score_features)
        return first_k

    def retrieve(self, query: str, k: int | None, flt: Any, callbacks: Any) -> Flow[list[Document]]:
        """The documents for ``query``: plan, feedback, candidates, decoding, MMR,
        calibration, reranking, in that order (each only where its option is set)."""
        scope, layout, conn = self.scope, self.scope.layout, self.scope.connector
        spec = yield twin(conn, "spec", scope.collection)
        self.memo.check(layout, spec)
        if spec.name != scope.collection:  # an alias, resolved once: every stage below reads
            layout = replace(layout, collection=spec.name)  # the one collection it names now
            scope = replace(scope, layout=layout)
        dense_q = (yield twin(layout.dense, "embed_query", query)) if layout.dense is not None else None
        if self.query_adapter is not None:  # domain-adapted query, same stored documents
            dense_q = self.query_adapter.transform(np.asarray(dense_q, np.float32)[None])[0]
        k = check_k(self.k if k is None else k)
        plan = plan_query(layout, spec, query, dense_q, k=k, first_k=self._first_k(k),
                          flt=self.filter if flt is None else flt, rerank_k=self.rerank_k,
                          maxsim=self.maxsim)
        plan.formula = self.formula
        if self.group_by is not None:  # k documents of group_size chunks each
            plan.group_by, plan.group_size = self.group_by, self.group_size
            plan.final_k = k * self.group_size
        text_key = layout.read_key(spec)
        if self.prf is not None:
            yield from feedback(scope, self.prf, query, plan, text_key)
        hits = None
        if self.mmr is not None:
            hits = yield from native_mmr(conn, scope.collection, layout.names.dense,
                                         plan.queries, k, self.mmr, plan.filter)
        if hits is None:
            hits = yield from candidates(scope, plan, self.memo)
            if plan.decode is not None and hits:
                hits = yield from decoded_maxsim(scope, plan, hits)
            if self.mmr is not None:
                hits = yield from client_mmr(conn, scope.collection, layout.names.dense,
                                             dense_q, hits, k, self.mmr)
        docs = to_documents(hits, text_key, self.score_key)
        if self.calibrator is not None:
            docs = calibrate(self.calibrator, self.score_threshold, self.relevance_key, docs,
                             hits, dense_q)
        if self.rerank is not None:
            docs = yield from rerank(self.rerank, docs, query, callbacks)
        return docs[: plan.final_k]

    def add(self, texts: Iterable[str], ids: Iterable[str | None] | None,
            metadatas: Iterable[dict[str, Any] | None] | None, *, batch_size: int,
            recreate: bool = False, chunk_size: int = CHUNK_SIZE, journal: Any = None,
            progress: bool = False) -> Flow[list[str]]:
        """Encode ``texts`` (any iterable, read in chunks) with the layout's encoders and
        upsert them, each chunk written in the background while the next is encoded
        (:mod:`~vectorbridge.retrievers.ingest`), creating the collection on first use (an
        existing one must have the fields these encoders fill). ``progress``: one tqdm bar
        in documents/s. ``journal``: skip the chunks an earlier run of the same call wrote."""
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
        writer, out = BackgroundWriter(conn), []
        bar = tqdm(total=len(texts) if isinstance(texts, Sized) else None, unit="doc",
                   desc=f"ingest {self.scope.collection}", disable=not progress)
        try:
            for part, part_ids, part_meta in chunks(texts, ids, metadatas, first, chunk_size):
                id_list = fill_ids(part_ids, len(part))
                payloads = to_payloads(part, part_meta, layout.write_key(), start=len(out))
                ack = None
                if acked is not None:
                    if any(i is None for i in part_ids or ()):
                        raise InvalidInputError("journal= needs an id for every text (a None "
                                                "id is generated anew on each run).")
                    ack = (acked, chunk_digest(self.scope.collection, id_list, part, payloads),
                           len(part))
                if out and ack is not None and ack[1] in acked:  # written by an earlier run
                    layout.observe(part)
                    out += id_list
                    bar.update(len(part))
                    continue
                spec, vectors = yield from layout.encode(part, conn.capabilities)
                if not out:  # the first chunk fits the encoders and names the fields
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


__all__ = ["Pipeline"]
