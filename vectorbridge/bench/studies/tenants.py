"""Tenants: what a tenant scope costs, and what per-tenant BM25 statistics change.

    vectorbridge bench scale --tenants 100 [--sizes 100000] [--engines qdrant-edge,milvus-lite-file]
    vectorbridge bench tenant-idf DATA [--tenants 10] [--split train]

``scale --tenants N``: the synthetic collection of ``bench scale`` (clustered unit vectors,
a ~40-term sparse vector) in one collection with ``tenant_key="tenant"``, point ``i``
belonging to tenant ``t{i % N}`` (tenants interleaved, as writes arrive), written through
each tenant's handle. Each query is asked twice in the same run: unscoped (the explicit
``all_tenants()`` handle: every tenant's points) and through the handle of tenant
``t{query % N}``; dense and hybrid p50, and recall@10 of the scoped dense search against
exact search over that tenant's points (target: scoped p50 <= 1.5x unscoped, recall@10 >=
0.95).

``tenant-idf``: a BEIR corpus split into ``--tenants`` tenants (by a hash of the document
id); each query is asked in the tenant of its first relevant document, over that tenant's
documents, with BM25 statistics (IDF and average length) of the whole corpus and of the
tenant alone. Reported: nDCG@10 of both (qrels restricted to the tenant) and how many of
the top 10 they share.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.bench.studies.common import beir_parser, load_corpus, table, write_report
from vectorbridge.connectors import CollectionSpec, DenseField, SparseField

BATCH = 10_000


def _p50(lat: list[float]) -> float:
    return float(np.percentile(np.asarray(lat) * 1000, 50)) if lat else float("nan")


def _timed(fn: Any, n: int) -> tuple[list[Any], list[float]]:
    out, lat = [], []
    for i in range(n):
        t = time.perf_counter()
        out.append(fn(i))
        lat.append(time.perf_counter() - t)
    return out, lat


def measure(name: str, n: int, tenants: int, data: Any, n_queries: int, workdir: Path) -> dict:
    """One engine: build the tenant collection, time scoped against unscoped queries."""
    from vectorbridge.bench.studies.scale import _open

    servers: list[Any] = []
    exact = np.zeros((n, data.dim), np.float16)
    conn = _open(name, workdir, servers, None, None)
    try:
        caps = conn.capabilities
        sparse = caps.sparse and caps.multiple_vector_fields
        fields: dict[str, Any] = {"dense": {"dense": DenseField(data.dim)}}
        if sparse:
            fields["sparse"] = {"sparse": SparseField(idf=True) if caps.engine_idf
                                else SparseField()}
        conn.create_collection(CollectionSpec(name="scale", tenant_key="tenant", **fields),
                               recreate=True)
        t0 = time.perf_counter()
        for ids, X, sp, payloads in data.batches(n):
            exact[int(ids[0]):int(ids[0]) + len(ids)] = X
            owner = np.array([int(i) % tenants for i in ids])
            for t in range(tenants):
                rows = np.flatnonzero(owner == t)
                vectors = {"dense": X[rows]}
                if sparse:
                    vectors["sparse"] = [sp[r] for r in rows]
                conn.tenant(f"t{t}").upsert("scale", [ids[r] for r in rows], vectors,
                                            [payloads[r] for r in rows], batch_size=BATCH)
        upsert_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.optimize("scale")
        optimize_s = time.perf_counter() - t0
        Q, QS = data.queries(n_queries)
        admin = conn.all_tenants()
        handles = [conn.tenant(f"t{i % tenants}") for i in range(len(Q))]
        for i in range(len(Q)):  # warm both paths
            admin.search("scale", "dense", Q[i], k=10)
            handles[i].search("scale", "dense", Q[i], k=10)
        _, all_dense = _timed(lambda i: admin.search("scale", "dense", Q[i], k=10), len(Q))
        scoped, tenant_dense = _timed(lambda i: handles[i].search("scale", "dense", Q[i], k=10),
                                      len(Q))
        all_hybrid, tenant_hybrid = [], []
        if sparse:
            def both(h: Any, i: int) -> Any:
                return h.hybrid_search("scale", {"dense": Q[i], "sparse": QS[i]}, k=10)
            _, all_hybrid = _timed(lambda i: both(admin, i), len(Q))
            hy, tenant_hybrid = _timed(lambda i: both(handles[i], i), len(Q))
            assert all(h.payload["tenant"] == f"t{i % tenants}" for i, hs in enumerate(hy)
                       for h in hs)
    finally:
        conn.close()
        for s in servers:
            s.stop()
    E = exact.astype(np.float32)
    owner = np.arange(n) % tenants
    recall = []
    for i, q in enumerate(Q):
        s = np.where(owner == i % tenants, E @ q, -np.inf)
        truth = {str(j) for j in np.argpartition(-s, 10)[:10]}
        assert all(h.payload["tenant"] == f"t{i % tenants}" for h in scoped[i])
        recall.append(len({h.id for h in scoped[i]} & truth) / 10)
    return {"engine": name, "n": n, "tenants": tenants, "upsert_pts_s": n / upsert_s,
            "optimize_s": optimize_s, "dense_p50_all": _p50(all_dense),
            "dense_p50_tenant": _p50(tenant_dense), "hybrid_p50_all": _p50(all_hybrid),
            "hybrid_p50_tenant": _p50(tenant_hybrid), "recall10_tenant": statistics.mean(recall)}


def scale_report(rows: list[dict[str, Any]], command: str) -> list[str]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b == b and b else "—"

    return ["# Tenants at scale: a tenant scope against unscoped search, same run", "",
            f"Command: `{command}`.", "", *table(
                ["engine", "N", "tenants", "upsert pts/s", "optimize s",
                 "dense p50 ms unscoped / tenant", "ratio", "hybrid p50 ms unscoped / tenant",
                 "ratio", "tenant recall@10 (exact in tenant)"],
                [[r["engine"], f"{r['n']:,}", r["tenants"], f"{r['upsert_pts_s']:,.0f}",
                  f"{r['optimize_s']:.1f}",
                  f"{r['dense_p50_all']:.2f} / {r['dense_p50_tenant']:.2f}",
                  ratio(r["dense_p50_tenant"], r["dense_p50_all"]),
                  f"{r['hybrid_p50_all']:.2f} / {r['hybrid_p50_tenant']:.2f}",
                  ratio(r["hybrid_p50_tenant"], r["hybrid_p50_all"]),
                  f"{r['recall10_tenant']:.3f}"] for r in rows])]


def run_scale(args: Any, data: Any, command: str) -> None:
    """``bench scale --tenants N``: every engine and size of the command line."""
    rows = []
    for name in args.engines.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix=f"vb-tenants-{name}-") as work:
                r = measure(name, n, args.tenants, data, args.queries, Path(work))
            rows.append(r)
            print(f"  {name} N={n:,} tenants={args.tenants}: dense p50 "
                  f"{r['dense_p50_all']:.2f} -> {r['dense_p50_tenant']:.2f} ms, hybrid "
                  f"{r['hybrid_p50_all']:.2f} -> {r['hybrid_p50_tenant']:.2f} ms, tenant "
                  f"recall@10 {r['recall10_tenant']:.3f}", flush=True)
            write_report(Path(args.out) / "scale_tenants.md", scale_report(rows, command))


# -- per-tenant BM25 statistics -------------------------------------------------------------
def tenant_of(doc_id: str, tenants: int) -> int:
    return zlib.crc32(doc_id.encode()) % tenants


def idf_rows(c: Any, tenants: int) -> dict[str, float]:
    """nDCG@10 with global and per-tenant statistics, and the top-10 overlap."""
    from vectorbridge.bench.data import sparse_matrices
    from vectorbridge.encoders import BM25Encoder
    from vectorbridge.metrics import query_ndcg

    ds = c.ds
    owner = np.array([tenant_of(d, tenants) for d in ds.doc_ids])
    everyone = BM25Encoder(idf="client").fit(c.texts)
    out: dict[str, list[float]] = {"global": [], "tenant": [], "overlap": []}
    for t in range(tenants):
        docs = np.flatnonzero(owner == t)
        mine = [(q, text) for q, text in zip(c.qids, c.qtexts)
                if any(tenant_of(d, tenants) == t for d in list(ds.qrels.get(q, {}))[:1])]
        if not mine:
            continue
        texts = [c.texts[j] for j in docs]
        ranks = {}
        for label, enc in (("global", everyone), ("tenant", BM25Encoder(idf="client").fit(texts))):
            Qm, Dm = sparse_matrices(enc.encode_queries([x for _, x in mine]),
                                     enc.encode_documents(texts))
            S = (Qm @ Dm.T).toarray()
            ranks[label] = np.argsort(-S, axis=1, kind="stable")[:, :10]
            for (q, _), row in zip(mine, ranks[label]):
                rel = {d: g for d, g in ds.qrels[q].items() if tenant_of(d, tenants) == t}
                out[label].append(query_ndcg([ds.doc_ids[docs[j]] for j in row], rel, 10))
        out["overlap"] += [len(set(a) & set(b)) / 10 for a, b in zip(ranks["global"],
                                                                   ranks["tenant"])]
    return {k: statistics.mean(v) for k, v in out.items()} | {"queries": len(out["global"])}


def main(argv: list[str] | None = None) -> None:
    ap = beir_parser(__doc__, __name__)
    ap.add_argument("--tenants", default="10", help="comma-separated tenant counts")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    c = load_corpus(args)
    command = ("vectorbridge bench tenant-idf " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])).strip()
    rows = []
    for n in (int(x) for x in args.tenants.split(",")):
        r = idf_rows(c, n)
        rows.append([n, r["queries"], f"{r['global']:.4f}", f"{r['tenant']:.4f}",
                     f"{r['tenant'] - r['global']:+.4f}", f"{r['overlap']:.3f}"])
        print(f"  {n} tenants: nDCG@10 global {r['global']:.4f}, per tenant {r['tenant']:.4f}, "
              f"top-10 overlap {r['overlap']:.3f}", flush=True)
    write_report(Path(args.out) / "tenant_idf.md", [
        "# BM25 statistics per tenant against the whole corpus's", "",
        f"Command: `{command}`.", "", *table(
            ["tenants", "queries", "nDCG@10 global statistics", "nDCG@10 tenant statistics",
             "difference", "top-10 overlap"], rows)])


__all__ = ["measure", "run_scale", "idf_rows", "main"]
