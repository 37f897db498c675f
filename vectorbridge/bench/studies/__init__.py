"""The studies of ``vectorbridge bench``: one module each, one shared layer.

Each study module has ``main(argv)``; :data:`STUDIES` names them for the command line
(``vectorbridge bench <study> DATA ...``). They share :mod:`vectorbridge.bench.data` (corpus,
embedding cache), :mod:`vectorbridge.metrics` and :mod:`.common`; their reports go to
``--out`` (default ``bench-results/``, not source). The summaries the docs cite live in
``docs/results/``.
"""

from __future__ import annotations

import importlib
from typing import Callable

#: study name -> (module under vectorbridge.bench.studies, what it measures)
STUDIES: dict[str, tuple[str, str]] = {
    "hybrid": ("hybrid_quality", "fusion of dense + BM25 (+ MaxSim) in Qdrant and Milvus vs the "
               "client-side reference, and the fusion grid"),
    "quantizers": ("quantizers", "binary / scalar / PQ codes client-side and in the engines: "
                   "bytes, recall, nDCG after rescoring"),
    "learned-pq": ("learned_pq", "ProductQuantizer with codebooks fine-tuned on the ranking loss"),
    "multivector": ("multivector_compression", "token pooling, FDE and residual codes against "
                    "exact MaxSim"),
    "token-storage": ("token_storage", "float token vectors vs residual codes in Qdrant Edge: size, "
                      "latency, quality"),
    "bm25": ("bm25_engines", "BM25 in the engine (Milvus' BM25 function, Qdrant's model and IDF) "
             "vs client-made, on a fresh and on a grown collection"),
    "mmr": ("mmr", "maximal marginal relevance in Qdrant's engine vs LangChain's client-side "
            "selection: latency and agreement"),
    "prf": ("prf", "pseudo-relevance feedback (Rocchio, RM3) against the same retriever without"),
    "calibration": ("relevance_filter", "calibrated relevance and score thresholds, cross-validated"),
    "exact-quality": ("scifact_quality", "exact dense, BM25 and MaxSim quality (the references)"),
    "qdrant-engines": ("qdrant_engines", "Qdrant Edge vs local mode vs langchain-qdrant, and the "
                       "Edge API floor"),
    "load": ("load", "queries sequential vs threads vs asyncio tasks, answers checked"),
    "scale": ("scale", "synthetic collections at growing sizes: ingest, index build, latency, "
              "recall, memory and disk per engine, as curves"),
    "ingest": ("ingest", "upsert points/s of precomputed vectors per engine"),
    "reduction": ("reduction", "LinearReducer (LeanVec-style) x engine quantization x full-vector "
                  "rescoring, PCA and query-aware fits, on Qdrant Edge"),
    "query-adapter": ("query_adapter", "a query-side adapter trained against the stored "
                      "documents, cross-validated, dense and hybrid"),
    "poisoning": ("poisoning", "GASLITE-style corpus poisoning against each pipeline, and "
                  "PoisonDetector's flags (AUROC, false positives, success after filtering)"),
    "copy": ("copy", "copy_collection per engine pair against each side's bare upsert rate, "
             "and the copying process's memory as N grows"),
    "growth": ("growth", "a collection grown by add_texts against one built at once: top-10 "
               "agreement and nDCG per engine and lexical path"),
    "reindex": ("reindex", "a new embedding model behind an alias: reindex time against the "
                "encoder alone, readers during it, the quality gate"),
    "text-ingest": ("text_ingest", "end-to-end text ingest (encode + write, streamed) against "
                    "the encoder alone"),
    "tenant-idf": ("tenants", "BM25 statistics per tenant against the whole corpus's: nDCG@10 "
                   "and top-10 overlap on a corpus split into tenants"),
    "query-cache": ("query_cache", "invoke(text) with and without a query-embedding cache on a "
                    "query log with Zipf repeats: latency and hit rate"),
    "invoke": ("invoke_latency", "invoke(text) end to end, query encoding included, on Edge and "
               "local mode, beside langchain-qdrant with HuggingFaceEmbeddings, and each "
               "query encoder alone"),
    "precision": ("precision", "float32 against bfloat16 for the dense, token and SPLADE "
                  "encoders: nDCG@10 of every pipeline (mixed machines too) and docs/s"),
    "tracing": ("tracing_overhead", "Edge hybrid invoke p50 without OpenTelemetry, with the "
                "API and no SDK, and with an SDK recording every span"),
    "streamed-ingest": ("streamed_ingest", "a stream of synthetic texts through "
                        "VectorBridgeStore.add_texts with a fixed-rate fake encoder, per "
                        "indexing policy: docs/s against the encoder, dense p50 after"),
}


def study_of(module: str) -> str:
    """The command-line name of a study module (``__name__`` of the module)."""
    short = module.rsplit(".", 1)[-1]
    return next((name for name, (mod, _) in STUDIES.items() if mod == short), short)


def study_main(name: str) -> Callable[[list[str] | None], None]:
    """The ``main(argv)`` of study ``name``."""
    module = importlib.import_module(f"vectorbridge.bench.studies.{STUDIES[name][0]}")
    return module.main


__all__ = ["STUDIES", "study_of", "study_main"]
