"""What a new user of ``pip install "vectorbridge[qdrant]"`` gets, checked in that venv.

Run by scripts/check_package.sh with the fresh venv's Python: the import of
``vectorbridge.connectors`` (timed, in a new process, and checked to load no pymilvus,
qdrant_edge or torch), a store-and-search on Qdrant Edge with a fake embedding, and the
error a missing extra raises. Prints one line per figure; exits non-zero on a failed check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

HEAVY = ("pymilvus", "qdrant_edge", "qdrant_client", "torch", "sentence_transformers", "pandas")


def import_time(runs: int = 5) -> tuple[float, list[str]]:
    """Best of ``runs`` fresh interpreters: seconds to import vectorbridge.connectors, and
    which heavy modules that import loaded."""
    probe = ("import json, sys, time; t = time.perf_counter(); import vectorbridge.connectors; "
             "dt = time.perf_counter() - t; print(json.dumps([dt, sorted(m for m in sys.modules "
             f"if m.split('.')[0] in {HEAVY!r})]))")
    best, loaded = float("inf"), []
    for _ in range(runs):
        out = json.loads(subprocess.run([sys.executable, "-c", probe], check=True,
                                        capture_output=True, text=True).stdout)
        best, loaded = min(best, out[0]), out[1]
    return best, loaded


def main() -> int:
    seconds, loaded = import_time()
    print(f"import vectorbridge.connectors: {seconds:.3f} s (best of 5, target <= 0.3 s); "
          f"heavy modules loaded: {loaded or 'none'}")
    failures = [f"import vectorbridge.connectors loaded {loaded}"] if loaded else []

    from langchain_core.embeddings import DeterministicFakeEmbedding

    from vectorbridge.connectors import QdrantConnector
    from vectorbridge.retrievers import VectorBridgeStore

    with tempfile.TemporaryDirectory() as folder:
        store = VectorBridgeStore(connector=QdrantConnector(path=folder), collection="smoke",
                                  embedding=DeterministicFakeEmbedding(size=32))
        texts = ["vitamin c prevents scurvy", "insulin is made by beta cells",
                 "sleep helps memory consolidation"]
        store.add_texts(texts, ids=["a", "b", "c"])
        top = store.similarity_search(texts[1], k=1)
        store.connector.close()
    ok = [d.id for d in top] == ["b"]
    print(f"Edge smoke test (store + search, fake embedding): {'ok' if ok else 'FAILED'}")
    if not ok:
        failures.append(f"the search for a stored text returned {[d.id for d in top]}")
    after = sorted(m for m in sys.modules if m.split(".")[0] in ("pymilvus", "torch"))
    if after:
        failures.append(f"a Qdrant-only session imported {after}")

    from vectorbridge import MissingDependencyError

    try:
        from vectorbridge.connectors import MilvusConnector  # noqa: F401  (no [milvus] here)
    except MissingDependencyError as e:
        print(f"without [milvus]: {e}")
        if 'pip install "vectorbridge[milvus]"' not in str(e):
            failures.append("the missing-extra error does not name the pip line")
    else:
        failures.append("MilvusConnector imported without the [milvus] extra installed")
    for f in failures:
        print(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
