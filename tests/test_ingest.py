"""Streaming, pipelined ingest (retrievers/ingest.py): any iterable of texts, read in chunks;
chunk i is written by one background writer while chunk i+1 is encoded, with a queue of one;
a journal makes a re-run skip the chunks already written, without encoding them again."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from vectorbridge.connectors import QdrantConnector
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers import HybridRetriever, VectorBridgeStore
from vectorbridge.retrievers.ingest import chunks
from tests.fakes import BagDense, VOCAB


def texts(n: int, start: int = 0):
    """A generator: the corpus is never a list."""
    for i in range(start, start + n):
        yield f"{VOCAB[i % 60]} {VOCAB[(i * 7) % 60]} {VOCAB[(i * 13) % 60]}"


class Events(BagDense):
    """An encoder that logs each chunk it encodes, in order with the writer's log."""

    def __init__(self, log: list[tuple[str, int]], fail_at: int | None = None) -> None:
        self.log, self.fail_at, self.chunks = log, fail_at, 0

    def embed_documents(self, batch: list[str]) -> list[list[float]]:
        i, self.chunks = self.chunks, self.chunks + 1
        if i == self.fail_at:
            raise RuntimeError(f"encoder failed on chunk {i}")
        self.log.append(("encode", i))
        return super().embed_documents(batch)


class SlowWrites(QdrantConnector):
    """Edge whose writes of 512-text chunks wait until the next chunk's encoding has begun
    (or 2 s), logging how many writes run at once: a pipelined ingest never waits long."""

    def __init__(self, path: str, log: list[tuple[str, int]]) -> None:
        super().__init__(path=path)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_in_flight", [0, 0])  # now, most

    def upsert(self, *args, **kwargs):
        log, flight = self._log, self._in_flight
        flight[0] += 1
        flight[1] = max(flight[1], flight[0])
        chunk = int(args[1][0][1:]) // 512  # ids d0, d512, ...: which chunk this is
        for _ in range(200):  # the next chunk's encoding starts while this write runs
            if ("encode", chunk + 1) in log or chunk == 9:
                break
            threading.Event().wait(0.01)
        try:
            return super().upsert(*args, **kwargs)
        finally:
            log.append(("written", chunk))
            flight[0] -= 1


def test_a_generator_is_encoded_while_the_chunk_before_is_written(tmp_path):
    log: list[tuple[str, int]] = []
    conn = SlowWrites(str(tmp_path / "e"), log)
    r = HybridRetriever.from_texts(texts(5000), (f"d{i}" for i in range(5000)),
                                   connector=conn, collection="c", dense=Events(log),
                                   chunk_size=512, batch_size=128)
    assert conn.count("c") == 5000 and r.invoke("w0 w0 w0")[0].page_content == "w0 w0 w0"
    n_chunks = 10
    assert [i for e, i in log if e == "encode"] == list(range(n_chunks))
    # write i finished only after encode i+1 had begun: the two overlapped
    order = {e: n for n, e in enumerate(log)}
    assert all(order[("encode", i + 1)] < order[("written", i)] for i in range(n_chunks - 1))
    # back-pressure: one write at a time, and encoding never ran two chunks ahead
    assert conn._in_flight[1] == 1
    assert all(order[("written", i)] < order[("encode", i + 2)] for i in range(n_chunks - 2))


def test_async_ingest_streams_too(tmp_path):
    conn = QdrantConnector(path=str(tmp_path / "e"))
    ids = asyncio.run(HybridRetriever(connector=conn, collection="c", dense=BagDense())
                      .aadd_texts(texts(3000), chunk_size=700))
    assert len(ids) == len(set(ids)) == 3000 == conn.count("c")


def test_bad_streams_are_refused_at_the_chunk_that_is_bad(tmp_path):
    conn = QdrantConnector(path=str(tmp_path / "e"))
    r = HybridRetriever(connector=conn, collection="c", dense=BagDense())
    with pytest.raises(InvalidInputError, match="ids ran out at text 1000.*1000 texts before"):
        r.add_texts(texts(1500), (f"d{i}" for i in range(1000)), chunk_size=500)
    assert conn.count("c") == 1000  # the chunks before the bad one, all of them
    with pytest.raises(InvalidInputError, match="texts\\[1203\\] is empty.*1200 texts before"):
        r.add_texts((t if i != 1203 else " " for i, t in enumerate(texts(1500))),
                    chunk_size=400)
    with pytest.raises(InvalidInputError, match="more ids than texts"):
        r.add_texts(texts(10), (f"x{i}" for i in range(11)))
    # a list is checked whole first: nothing of it is written
    before = conn.count("c")
    corpus = list(texts(1500))
    corpus[1400] = ""
    with pytest.raises(InvalidInputError, match="texts\\[1400\\] is empty.*Nothing was written"):
        r.add_texts(corpus, chunk_size=100)
    with pytest.raises(InvalidInputError, match="single text in a list"):
        r.add_texts("one text")
    assert conn.count("c") == before


def test_a_journal_resumes_without_encoding_what_was_written(tmp_path):
    path, journal = str(tmp_path / "e"), tmp_path / "ingest.journal"
    log: list[tuple[str, int]] = []
    conn = QdrantConnector(path=path)
    ids = [f"d{i}" for i in range(2000)]
    first = HybridRetriever(connector=conn, collection="c", dense=Events(log, fail_at=3))
    with pytest.raises(RuntimeError, match="chunk 3"):
        first.add_texts(texts(2000), ids, chunk_size=400, journal=journal)
    assert conn.count("c") == 1200  # chunks 0, 1, 2: written and journaled
    log.clear()
    again = HybridRetriever(connector=conn, collection="c", dense=Events(log))
    assert again.add_texts(texts(2000), ids, chunk_size=400, journal=journal) == ids
    # chunk 0 is encoded again (it fits the encoders), 1 and 2 are skipped, 3 and 4 run
    assert [i for e, i in log if e == "encode"] == [0, 1, 2]  # this encoder's own count
    assert conn.count("c") == 2000
    q = np.asarray(BagDense().embed_query("w5 w35 w5"), np.float32)
    assert conn.search("c", "dense", q, k=1)[0].payload["page_content"] == "w5 w35 w5"
    with pytest.raises(InvalidInputError, match="journal= needs ids"):
        again.add_texts(texts(10), journal=journal)


def test_the_store_streams_a_generator(tmp_path):
    conn = QdrantConnector(path=str(tmp_path / "e"))
    store = VectorBridgeStore(connector=conn, collection="s", embedding=BagDense())
    ids = store.add_texts(texts(4500), ids=(f"s{i}" for i in range(4500)))
    assert ids[:2] == ["s0", "s1"] and conn.count("s") == 4500


def test_chunks_read_ids_and_metadatas_in_lockstep():
    got = list(chunks(iter("abcde"), ["1", "2", "3", "4", "5"], None, 2, 2))
    assert got == [(["a", "b"], ["1", "2"], None), (["c", "d"], ["3", "4"], None),
                   (["e"], ["5"], None)]
    with pytest.raises(InvalidInputError, match="2 metadatas for 3 texts; give one per text. Nothing"):
        list(chunks(["a", "b", "c"], None, [{}, {}], 2, 2))


# -- indexing during ingest: the engine's policy, applied once for every write path ----------
def _counting(index_every):
    """A reference connector whose engine asks for an index every ``index_every`` points,
    logging the collections ``optimize`` was called for, in order."""
    from dataclasses import replace

    from vectorbridge.connectors import ReferenceConnector
    from vectorbridge.connectors.reference import REFERENCE

    conn = ReferenceConnector()
    conn.backend.capabilities = replace(REFERENCE, index_every=index_every)
    calls: list[str] = []
    optimize = conn.optimize
    conn.optimize = lambda name: (calls.append(name), optimize(name))[1]
    return conn, calls


def test_the_engines_index_policy_is_applied_by_every_write_path():
    from vectorbridge.connectors.copying import copy_collection
    from vectorbridge.retrievers.versions import reindex

    conn, calls = _counting(1000)
    # the store, by default the engine's policy: during the call, and what is left at its end
    store = VectorBridgeStore(connector=conn, collection="s", embedding=BagDense())
    store.add_texts(texts(2500))
    assert calls == ["s"]  # the chunk of 2,048 (past 1,000); the 452 left are a short tail
    store.add_texts(texts(500, 2500))
    assert calls == ["s"]  # a small call pays no index build: 952 unindexed, counted on
    assert conn.index_schedule("s").unindexed == 952
    asyncio.run(store.aadd_texts(texts(1500, 3000)))
    assert calls == ["s"] * 2  # the async writer: 952 + 1,500 crossed 1,000 as written
    # a bulk load: during (per written chunk) and once at the end for what is left
    VectorBridgeStore.from_texts(list(texts(2500)), BagDense(), connector=conn, collection="f")
    assert calls[2:] == ["f", "f"]  # the chunk of 2,048, then the 452 left at the end
    del calls[:]
    HybridRetriever.from_texts(texts(2500), (f"d{i}" for i in range(2500)), connector=conn,
                               collection="h", dense=BagDense(), chunk_size=500)
    assert calls == ["h"] * 3  # after 1,000 and 2,000 written, then the last 500
    del calls[:]
    report = copy_collection(conn, "h", conn, "h_copy", batch_size=500, verify=False)
    assert report.copied == 2500 and calls == ["h_copy"] * 3
    del calls[:]
    conn.set_alias("docs", "h")
    new = HybridRetriever(connector=conn, collection="docs_v2", dense=BagDense())
    assert reindex(conn, "docs", new).documents == 2500
    assert calls == ["docs_v2"] * 2  # the chunk of 2,048, then the 452 left
    # the policy is counted per collection on the connector: the retriever and the store
    # writing one collection share it
    assert conn.index_schedule("s") is conn.index_schedule("s")
    assert conn.index_schedule("s").unindexed == 0 and conn.index_schedule("h").unindexed == 0


def test_an_engine_that_indexes_at_the_end_only_and_the_store_override():
    conn, calls = _counting(None)
    store = VectorBridgeStore(connector=conn, collection="s", embedding=BagDense())
    store.add_texts(texts(2500))
    assert calls == ["s"]  # once, at the end of the call (a tail of 1,000 or more)
    store.add_texts(texts(10, 2500))
    assert calls == ["s"]  # a tail of 10: scanned exactly, no index build for it
    asyncio.run(store.aadd_texts(texts(990, 2510)))
    assert calls == ["s", "s"]  # the tail reached REST_LIMIT (1,000) at the end of a call
    del calls[:]
    HybridRetriever.from_texts(texts(2500), connector=conn, collection="h", dense=BagDense(),
                               chunk_size=500)
    assert calls == ["h"]  # once, at the end
    del calls[:]
    # index_after= overrides the engine, for this store only
    every = VectorBridgeStore(connector=conn, collection="o", embedding=BagDense(),
                              index_after=600)
    every.add_texts(texts(2500))
    assert calls == ["o"]  # after the 2,048 chunk; the 452 left are a short tail
    never = VectorBridgeStore.from_texts(list(texts(2500)), BagDense(), connector=conn,
                                         collection="n", index_after=0)
    assert calls == ["o", "n"]  # 0: never during writes, still once after from_texts
    never.add_texts(texts(3000))
    assert calls == ["o", "n"]  # nor at the end of a call: you call optimize
    assert conn.index_schedule("n").unindexed == 0  # the store kept its own count


def test_a_failed_index_forgets_no_written_points():
    """``optimize`` raising leaves the count as it was: the next write call indexes them."""
    conn, calls = _counting(1000)
    store = VectorBridgeStore(connector=conn, collection="s", embedding=BagDense())
    store.add_texts(texts(10))
    working = conn.optimize
    conn.optimize = lambda name: (_ for _ in ()).throw(RuntimeError("engine busy"))
    with pytest.raises(RuntimeError, match="engine busy"):
        store.add_texts(texts(1200, 10))
    assert conn.index_schedule("s").unindexed == 1210  # nothing forgotten
    conn.optimize = working
    store.add_texts(texts(5, 1210))
    assert calls == ["s"] and conn.index_schedule("s").unindexed == 0


def test_engine_policies():
    from vectorbridge.connectors.milvus.capabilities import MILVUS, milvus_capabilities
    from vectorbridge.connectors.qdrant.capabilities import QDRANT_EDGE

    assert QDRANT_EDGE.index_every is None  # small segments are scanned exactly, fast
    for caps in (MILVUS, milvus_capabilities("milvus_lite"), milvus_capabilities("v2.3.5")):
        assert caps.index_every and caps.index_every > 0  # growing segments: unindexed
