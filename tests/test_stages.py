"""Retrieval as stage objects: the new form equals the flat options it replaces, stages state
what they need and refuse (checked before anything is written), the retriever's surface stays
small, and slow encoders never stall the event loop under ``ainvoke``."""

from __future__ import annotations

import asyncio
import time
import typing
import warnings

import pytest

from vectorbridge.connectors import Fusion, ReferenceConnector
from vectorbridge.encoders import BM25Encoder
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.retrievers import MMR, Calibrate, Grouping, HybridRetriever, MaxSim, \
    PseudoRelevanceFeedback, Quantized, Rerank, Stage, VectorBridgeStore
from vectorbridge.retrievers.rerankers import MaxSimReranker
from vectorbridge.retrievers.stages.base import check_stages
from tests.fakes import BagDense, BagTokens

TEXTS = ["vitamin c prevents scurvy in sailors", "insulin is made by beta cells",
         "sleep helps memory consolidation", "scurvy is a lack of vitamin c",
         "beta cells fail in diabetes", "memory and sleep in the elderly",
         "citrus fruit carries vitamin c", "diabetes and insulin resistance"]
IDS = [f"d{i}" for i in range(len(TEXTS))]
QUERIES = ["what prevents scurvy", "insulin beta cells", "sleep memory"]


def _ranked(r: HybridRetriever) -> list[list[tuple[str, float]]]:
    return [[(d.id, round(d.metadata["score"], 6)) for d in r.invoke(q)] for q in QUERIES]


def test_the_new_form_ranks_as_the_flat_options_it_replaces():
    conn = ReferenceConnector()
    flat_options = dict(dense=BagDense(), sparse=BM25Encoder(stopwords=None),
                        multivector=BagTokens(), maxsim="replace", rerank_k=6, fusion="rrf",
                        rrf_k=5, k=3)
    with pytest.warns(DeprecationWarning, match=r"stages=\[MaxSim"):
        flat = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection="flat",
                                          **flat_options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the new form warns of nothing
        new = HybridRetriever.from_texts(
            TEXTS, ids=IDS, connector=conn, collection="new", dense=BagDense(),
            sparse=BM25Encoder(stopwords=None), fusion=Fusion("rrf", 5),
            stages=[MaxSim(BagTokens(), mode="replace", k=6)], k=3)
    assert _ranked(flat) == _ranked(new)
    assert flat.rerank_k == new.rerank_k == 6 and flat.rrf_k == 5  # flat reads, for one release
    assert flat.stages[0].k == 6 and isinstance(flat.stages[0], MaxSim)
    # a flat update of a copy rebuilds its stage: the same as building it so
    assert _ranked(flat.model_copy(update={"rerank_k": 2})) == \
        _ranked(new.model_copy(update={"stages": (MaxSim(new.stages[0].encoder, "replace", 2),)}))


def test_deprecation_warnings_point_at_the_callers_line():
    """Python shows a ``DeprecationWarning`` by default only where ``__main__`` triggers it:
    the warning must name the user's line, whether the retriever is built directly, through
    ``from_texts`` or copied."""
    conn = ReferenceConnector()
    with pytest.warns(DeprecationWarning) as direct:
        r = HybridRetriever(connector=conn, collection="w", dense=BagDense(), rerank_k=4)
    with pytest.warns(DeprecationWarning) as built:
        HybridRetriever.from_texts(TEXTS, connector=conn, collection="w2", dense=BagDense(),
                                   group_by="source")
    with pytest.warns(DeprecationWarning) as copied:
        r.model_copy(update={"group_by": "source"})
    assert {w.filename for w in [*direct, *built, *copied]} == {__file__}


def test_a_flat_update_of_a_copy_changes_only_its_own_stage():
    conn = ReferenceConnector()
    rerank = Rerank(MaxSimReranker.__new__(MaxSimReranker), k=50)
    r = HybridRetriever(connector=conn, collection="c", dense=BagDense(), stages=[
        MaxSim(BagTokens(), mode="replace", k=30, oversample=2.0), rerank])
    with pytest.warns(DeprecationWarning, match=r"update stages="):
        grouped = r.model_copy(update={"group_by": "source", "group_size": 2, "rerank": None})
    maxsim = next(s for s in grouped.stages if isinstance(s, MaxSim))
    assert (maxsim.k, maxsim.oversample) == (30, 2.0) and rerank not in grouped.stages
    assert r.model_copy(update={"k": 3}).stages == r.stages  # the rest stays as it was
    assert next(s for s in grouped.stages if isinstance(s, Grouping)).size == 2
    with pytest.warns(DeprecationWarning):
        wider = r.model_copy(update={"rerank_k": 80})
    assert sorted(s.k for s in wider.stages) == [80, 80]  # rerank_k set both, as before
    with pytest.warns(DeprecationWarning):
        plain = r.model_copy(update={"rerank": None, "stages": (MaxSim(BagTokens(), k=7),)})
    assert [type(s) for s in plain.stages] == [MaxSim] and plain.stages[0].k == 7
    # the copy is built and checked like a new retriever: a shorthand, a bad combination
    assert r.model_copy(update={"fusion": "rrf"}).fusion == Fusion("rrf", 2)
    with pytest.raises(InvalidInputError, match="needs at least one of dense="):
        HybridRetriever(connector=conn, collection="c", dense=BagDense()).model_copy(
            update={"dense": None})
    with pytest.raises(InvalidInputError, match="give dense="):
        r.model_copy(update={"dense": None, "sparse": BM25Encoder(), "stages": [MMR()]})


def test_options_in_their_one_form_with_clear_messages():
    conn = ReferenceConnector()

    class DuckDense:  # no LangChain base class: two methods are enough
        def embed_query(self, text):
            return BagDense().embed_query(text)

        def embed_documents(self, texts):
            return BagDense().embed_documents(texts)

    r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection="duck",
                                   dense=DuckDense(), fusion={"kind": "rrf"})
    assert r.invoke(QUERIES[0], k=1)[0].id == "d0"
    assert r.fusion == HybridRetriever(connector=conn, collection="duck", dense=BagDense(),
                                       fusion="rrf").fusion  # a dict and a kind alike
    with pytest.raises(InvalidInputError, match=r"dense= needs embed_query and embed_documents"):
        HybridRetriever(connector=conn, collection="x", dense="all-MiniLM-L6-v2")
    with pytest.raises(InvalidInputError, match=r"\$nope"):
        HybridRetriever(connector=conn, collection="x", dense=BagDense(),
                        filter={"year": {"$nope": 3}})


def test_the_retriever_takes_at_most_twelve_typed_fields():
    from langchain_core.retrievers import BaseRetriever

    fields = set(HybridRetriever.model_fields) - set(BaseRetriever.model_fields)  # name, tags..
    assert len(fields) <= 12, sorted(fields)
    hints = typing.get_type_hints(HybridRetriever)
    assert [n for n in fields if hints[n] is typing.Any] == []


@pytest.mark.parametrize("stages,encoders,error,message", [
    ([Grouping("doc"), Rerank(MaxSimReranker.__new__(MaxSimReranker))], {"dense"},
     UnsupportedFeatureError, r"Grouping \(flat: group_by=\) groups the first stage"),
    ([MMR(), Calibrate.__new__(Calibrate)], {"dense"}, UnsupportedFeatureError, "last stage"),
    ([MMR()], {"sparse"}, InvalidInputError, "give dense="),
    ([PseudoRelevanceFeedback(dense_docs=0, sparse_docs=2)], {"dense", "sparse"},
     InvalidInputError, "BM25Encoder"),
    ([Quantized("scalar-int8"), Quantized("binary-1bit")], {"dense"}, InvalidInputError,
     "more than once"),
    (["rerank"], {"dense"}, InvalidInputError, "stage objects"),
])
def test_stages_declare_what_they_need_and_refuse(stages, encoders, error, message):
    with pytest.raises(error, match=message):
        check_stages(stages, frozenset(encoders))


def test_stages_run_in_their_order_whatever_order_they_are_given():
    ordered = check_stages([Rerank(MaxSimReranker.__new__(MaxSimReranker)), MMR.__new__(MMR),
                            PseudoRelevanceFeedback(sparse_docs=0)][::2], frozenset({"dense"}))
    assert [type(s).__name__ for s in ordered] == ["PseudoRelevanceFeedback", "Rerank"]


def test_a_stage_of_your_own_joins_the_pipeline():
    """A new stage is one class: here one that keeps documents whose text has a word."""
    from dataclasses import dataclass

    from vectorbridge.retrievers.stages.base import DOCUMENTS

    @dataclass(frozen=True)
    class MustMention(Stage):
        word: str
        order = DOCUMENTS + 5

        def run(self, q):
            q.docs = [d for d in q.docs if self.word in d.page_content]
            return
            yield

    conn = ReferenceConnector()
    r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection="own",
                                   dense=BagDense(), stages=[MustMention("vitamin")], k=8)
    assert {d.id for d in r.invoke("scurvy")} == {"d0", "d3", "d6"}


class _SlowBM25(BM25Encoder):
    """BM25 whose query encoding takes as long as a SPLADE model on a busy CPU."""

    def encode_queries(self, texts):
        time.sleep(0.2)
        return super().encode_queries(texts)


class _SlowTokens(BagTokens):
    def encode_queries(self, texts):
        time.sleep(0.2)
        return super().encode_queries(texts)


async def test_slow_query_encoders_never_stall_the_event_loop():
    conn = ReferenceConnector()
    r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=conn, collection="slow",
                                   dense=BagDense(), sparse=_SlowBM25(stopwords=None),
                                   stages=[MaxSim(_SlowTokens(), k=6)], k=3)
    gaps, done = [], asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    answers = await asyncio.gather(*(r.ainvoke(QUERIES[i % 3]) for i in range(20)))
    done.set()
    await tick
    # 20 calls x 0.4 s of encoding: seconds of work, yet the loop kept ticking every ~10 ms
    assert max(gaps) < 0.15, f"the event loop stalled for {max(gaps):.3f} s"
    want = {q: [d.id for d in r.invoke(q)] for q in QUERIES}
    assert [[d.id for d in a] for a in answers] == [want[QUERIES[i % 3]] for i in range(20)]


class _Watched(BM25Encoder):
    """BM25 that records how many threads are inside it at once."""

    def term_counts(self, texts):
        self.active = getattr(self, "active", 0) + 1
        self.peak = max(getattr(self, "peak", 0), self.active)
        time.sleep(0.02)
        try:
            return super().term_counts(texts)
        finally:
            self.active -= 1


async def test_one_encoder_serves_one_thread_at_a_time():
    """Encoders run in worker threads under ``ainvoke``; a fast tokenizer or BM25 statistics
    under ``partial_fit`` must not be entered twice at once (encoders/_serial.py)."""
    sparse = _Watched(stopwords=None)
    r = HybridRetriever.from_texts(TEXTS, ids=IDS, connector=ReferenceConnector(),
                                   collection="serial", sparse=sparse, k=3)
    fitting = asyncio.to_thread(sparse.partial_fit, TEXTS * 5)
    await asyncio.gather(fitting, *(r.ainvoke(QUERIES[i % 3]) for i in range(10)))
    assert sparse.peak == 1


async def test_the_store_runs_the_same_mmr_and_query_path():
    conn = ReferenceConnector()
    store = VectorBridgeStore.from_texts(TEXTS, BagDense(), ids=IDS, connector=conn,
                                         collection="store")
    r = HybridRetriever(connector=conn, collection="store", dense=BagDense(),
                        stages=[MMR(0.3, fetch_k=6)], k=3)
    want = [d.id for d in r.invoke("vitamin c scurvy")]
    got = store.max_marginal_relevance_search("vitamin c scurvy", k=3, fetch_k=6, lambda_mult=0.3)
    assert [d.id for d in got] == want
    agot = await store.amax_marginal_relevance_search("vitamin c scurvy", k=3, fetch_k=6,
                                                      lambda_mult=0.3)
    assert [d.id for d in agot] == want
