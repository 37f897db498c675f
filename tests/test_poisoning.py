"""Corpus poisoning: the attack raises a passage's similarity to a concept deterministically
(MiniLM, a few steps); the detector scores, flags at its false-positive rate, survives
save/load, adds a masked LM's fluency (SPLADE-tiny's MLM head), and its filter keeps flagged
passages out of every engine's candidates."""

from __future__ import annotations

import numpy as np
import pytest

from vectorbridge.bench.data import embeddings_for
from vectorbridge.errors import InvalidInputError
from vectorbridge.poisoning.attack import PoisonAttack
from vectorbridge.poisoning.defence import PoisonDetector
from vectorbridge.retrievers import HybridRetriever
from tests.backends import unique_name

WORDS = ("cell protein gene mutation tumour immune virus drug trial dose brain neuron heart "
         "blood insulin glucose liver kidney bone muscle").split()


@pytest.fixture(scope="module")
def clean():
    """Texts built from a small vocabulary whose vectors follow their words (an honest
    corpus: lexical and dense neighbours agree)."""
    rng = np.random.default_rng(4)
    word_vec = {w: rng.normal(size=16) for w in WORDS}
    texts, vecs = [], []
    for _ in range(300):
        words = list(rng.choice(WORDS, 6))
        texts.append(" ".join(words))
        vecs.append(np.mean([word_vec[w] for w in words], axis=0) + 0.05 * rng.normal(size=16))
    X = np.array(vecs, np.float32)
    return texts, X / np.linalg.norm(X, axis=1, keepdims=True), word_vec


@pytest.fixture(scope="module")
def attack(minilm):
    return PoisonAttack(minilm, length=6, steps=8, top_k=16, batch=8, seed=0)


def test_attack_moves_a_passage_towards_the_concept_and_is_seeded(attack, minilm):
    queries = minilm.encode(["insulin resistance in diabetes", "glucose uptake and insulin",
                             "type 2 diabetes treatment"], normalize_embeddings=True)
    first = attack.craft(queries, budget=1, prefix="see this")
    again = attack.craft(queries, budget=1, prefix="see this")
    assert [p.text for p in first] == [p.text for p in again]  # seeded
    (p,) = first
    assert p.text.startswith("see this ")
    assert p.similarity > p.start_similarity  # re-measured on the decoded text
    two = attack.craft(queries, budget=2)
    assert len(two) == 2 and two[0].text != two[1].text
    with pytest.raises(InvalidInputError, match="budget"):
        attack.craft(queries, budget=4)
    with pytest.raises(InvalidInputError, match="target_queries"):
        attack.craft(np.zeros((0, 384)))
    with pytest.raises(InvalidInputError, match="steps"):
        PoisonAttack(minilm, steps=0)


def test_attack_on_a_bfloat16_encoder_works_on_a_float32_copy(minilm_path, minilm):
    """The encoders' default is bfloat16 where the CPU has it: the attack's gradients run on
    a float32 copy and the caller's model keeps its dtype."""
    import torch

    from vectorbridge.encoders import DenseEncoder

    half = DenseEncoder(minilm_path, device="cpu", precision="bfloat16")
    atk = PoisonAttack(half, length=4, steps=4, top_k=8, batch=4, seed=0)
    assert next(atk.st.parameters()).dtype == torch.float32
    assert next(half.model.parameters()).dtype == torch.bfloat16
    queries = minilm.encode(["insulin resistance in diabetes"], normalize_embeddings=True)
    (p,) = atk.craft(queries, budget=1, prefix="see this")
    assert p.similarity > p.start_similarity


def test_detector_flags_gibberish_hubs_at_its_false_positive_rate(clean):
    texts, X, word_vec = clean
    probes = X[:100] + 0.01
    det = PoisonDetector(fpr=0.02).fit(texts, X, probe_queries=probes)
    assert det.corpus_flags.mean() <= 0.02
    # a poisoned passage: the embedding of a topic's centre, the text of nothing in the corpus
    centre = X[:100].mean(axis=0)
    bad_texts = ["zxqv plorth wibble nurdle glarp frobnic", "quuxly snarf blorple"]
    bad = np.stack([centre, centre + 0.01]).astype(np.float32)
    signals = det.signals(bad_texts, bad)
    assert set(signals) == {"unseen_terms", "disagreement", "hubness"}
    assert (signals["unseen_terms"] == 1.0).all()
    assert det.flag(bad_texts, bad).all()
    # an honest new passage is not flagged
    words = ["gene", "protein", "cell", "tumour", "immune", "drug"]
    honest = np.mean([word_vec[w] for w in words], axis=0)[None].astype(np.float32)
    assert not det.flag([" ".join(words)], honest / np.linalg.norm(honest)).any()
    metas = det.mark(bad_texts + [" ".join(words)], np.concatenate([bad, honest]), [{"a": 1}, None, {}])
    assert [m["vb_suspect"] for m in metas] == [True, True, False] and metas[0]["a"] == 1
    # without a query log there is no hubness signal
    assert set(PoisonDetector().fit(texts, X).signals(bad_texts, bad)) == {"unseen_terms", "disagreement"}


def test_detector_save_load_and_refusals(tmp_path, clean):
    texts, X, _ = clean
    det = PoisonDetector(fpr=0.05).fit(texts, X, probe_queries=X[:50])
    det.save(tmp_path / "det.npz")
    back = PoisonDetector.load(tmp_path / "det.npz")
    probe_texts, probe = texts[:20], X[:20]
    assert np.array_equal(back.suspicion(probe_texts, probe), det.suspicion(probe_texts, probe))
    assert back.threshold == det.threshold
    with pytest.raises(InvalidInputError, match="after fit"):
        _ = back.corpus_flags
    with pytest.raises(InvalidInputError, match="fpr"):
        PoisonDetector(fpr=0)
    with pytest.raises(InvalidInputError, match="not fitted"):
        PoisonDetector().flag(texts, X)
    with pytest.raises(InvalidInputError, match="as many texts"):
        PoisonDetector().fit(texts[:10], X)
    with pytest.raises(InvalidInputError, match="metadatas"):
        det.mark(texts[:3], X[:3], [{}])


def test_exclude_filter_keeps_flagged_passages_out_of_candidates(conn, clean):
    texts, X, _ = clean
    det = PoisonDetector(fpr=0.02).fit(texts, X)
    centre = X.mean(axis=0)
    bad_texts = ["zxqv plorth wibble nurdle glarp frobnic"]
    bad = (centre / np.linalg.norm(centre))[None].astype(np.float32)
    all_texts, all_X = texts + bad_texts, np.concatenate([X, bad])
    metas = [{"vb_suspect": bool(f)} for f in det.corpus_flags] + det.mark(bad_texts, bad)
    q = "q centre"
    emb = embeddings_for(all_texts, all_X, [q], bad)
    r = HybridRetriever.from_texts(all_texts, ids=[f"d{i}" for i in range(len(all_texts))],
                                   metadatas=metas, connector=conn, collection=unique_name("poison"),
                                   dense=emb, k=5)
    assert r.invoke(q)[0].id == "d300"  # the poisoned passage wins unfiltered
    kept = r.invoke(q, filter=det.exclude())
    assert len(kept) == 5 and all(not d.metadata["vb_suspect"] for d in kept)


def test_masked_lm_fluency_prefers_language_and_joins_the_detector(splade_path, clean, tmp_path):
    from vectorbridge.poisoning.fluency import MaskedLMFluency

    lm = MaskedLMFluency(splade_path)
    natural = "The protein binds to the receptor and activates the immune response in mice."
    crafted = "trailing transcription guaranteed structure selectio bandageix beenyle nm"
    s = lm.score([natural, crafted, ""])
    assert s.shape == (3,) and s[0] > s[1] and s[2] == 0.0
    texts, X, _ = clean
    det = PoisonDetector(fluency=lm).fit(texts[:60], X[:60])
    assert "disfluency" in det.signals(texts[:2], X[:2])
    det.save(tmp_path / "d.npz")
    assert PoisonDetector.load(tmp_path / "d.npz").fluency.path == splade_path
    with pytest.raises(InvalidInputError, match="max_length"):
        MaskedLMFluency(splade_path, max_length=2)
