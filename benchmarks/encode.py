"""DenseEncoder throughput on the first N documents of a BEIR corpus.

    python benchmarks/encode.py [--data ../shared/datasets/scifact] [--n 500] [--model PATH]

Texts are title + abstract, as BEIR baselines embed them. One warm-up batch is not timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vectorbridge.beir import load_beir  # noqa: E402
from vectorbridge.demo import default_model  # noqa: E402
from vectorbridge.encoders import DenseEncoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/scifact"))
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    ds = load_beir(args.data)
    texts = [ds.doc_text(i) for i in range(min(args.n, len(ds.doc_ids)))]
    enc = DenseEncoder(args.model or default_model(), device="cpu", batch_size=args.batch_size,
                       progress=False)
    enc.encode_documents(texts[: args.batch_size])  # warm-up
    t = time.perf_counter()
    X = enc.encode_documents(texts)
    secs = time.perf_counter() - t
    print(f"DenseEncoder fp32, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch_size}: {len(texts)} docs in {secs:.1f}s = {len(texts) / secs:.1f} docs/s "
          f"(dim {X.shape[1]}, mean {sum(map(len, texts)) / len(texts):.0f} chars/doc)")


if __name__ == "__main__":
    main()
