"""Run a sentence-transformers model's transformer on ONNX Runtime, optionally int8.

sentence-transformers' own ONNX backend needs ``optimum``, which cannot be installed next to
sentence-transformers 6 (it pins transformers < 4.58). This module does the same job with
what is already installed: the model's transformer is exported locally with
``torch.onnx.export`` (no hub), optionally quantized to int8 with onnxruntime's
``quantize_dynamic`` (per-channel int8 weights, activations quantized per batch), and put
back inside the ``SentenceTransformer`` in place of the torch transformer. Everything
around it stays sentence-transformers': prompts, length-sorted batching, pooling,
normalisation, token outputs.

Exports are cached on disk under a key made of the weights' SHA-256, the input names and the
quantization, so a changed model never reuses a stale export and a second load skips the
export (seconds for MiniLM).

Speed and quality against torch float32: ``vectorbridge bench DATA --encoders`` (docs,
Benchmarks). CPUs with VNNI / AMX have int8 instructions AVX2 lacks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import need, requires

with requires("encoders", "backend='onnx'"):
    import torch

#: ``backend=`` values of the model-backed encoders.
BACKENDS = ("torch", "onnx")
#: ``quantize=`` values (with ``backend="onnx"``).
QUANTIZATIONS = (None, "int8")
_OPSET = 17
#: Bumped whenever the export itself changes, so older cached exports are not reused.
_EXPORT_VERSION = 1


def default_cache_dir() -> Path:
    """``$VECTORBRIDGE_CACHE/onnx`` or ``~/.cache/vectorbridge/onnx``."""
    root = os.environ.get("VECTORBRIDGE_CACHE") or Path.home() / ".cache" / "vectorbridge"
    return Path(root) / "onnx"


def check_backend(backend: str, quantize: str | None, precision: str, device: Any) -> None:
    """Refuse combinations that cannot run, naming the fix."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend={backend!r} is not one of {BACKENDS}.")
    if quantize not in QUANTIZATIONS:
        raise InvalidInputError(f"quantize={quantize!r} is not one of {QUANTIZATIONS}.")
    if backend == "torch":
        if quantize is not None:
            raise InvalidInputError("quantize='int8' needs backend='onnx'.")
        return
    if precision != "float32":
        raise InvalidInputError(f"backend='onnx' runs float32 (or quantize='int8'); "
                                f"precision={precision!r} is for backend='torch'.")
    if device is not None and str(device).split(":")[0] != "cpu":
        raise InvalidInputError(f"backend='onnx' runs on the CPU; got device={device!r}. Use "
                                "backend='torch' on accelerators.")


class OnnxTransformer(torch.nn.Module):
    """Stands in for the HF model inside sentence-transformers' ``Transformer`` module:
    ``forward(**features)`` returns ``{"last_hidden_state": tensor}`` computed by an
    onnxruntime session. It holds one empty parameter so sentence-transformers still finds
    the model's device (the CPU). Built by :func:`use_onnx`."""

    def __init__(self, session: Any, inputs: list[str], config: Any) -> None:
        super().__init__()
        self.session, self.inputs, self.config = session, inputs, config
        self.anchor = torch.nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, **features: Any) -> dict[str, Any]:
        feeds = {n: features[n].cpu().numpy().astype(np.int64) for n in self.inputs}
        (hidden,) = self.session.run(None, feeds)
        return {"last_hidden_state": torch.from_numpy(hidden)}


def _fingerprint(model: Any, inputs: list[str], quantize: str | None) -> str:
    h = hashlib.sha256(f"{inputs}|{quantize}|opset{_OPSET}|export{_EXPORT_VERSION}".encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def _export(model: Any, inputs: list[str], path: Path) -> None:
    class Hidden(torch.nn.Module):  # positional inputs, one output, for the exporter
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, *args: Any) -> Any:
            return self.m(**dict(zip(inputs, args))).last_hidden_state

    # Traced on a padded batch, so no shape- or mask-dependent branch is fixed on the
    # unpadded path (the second row's last three positions are padding).
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0
    values = {"input_ids": torch.full((2, 8), 100, dtype=torch.long), "attention_mask": mask,
              "token_type_ids": torch.zeros((2, 8), dtype=torch.long)}
    example = tuple(values[n] for n in inputs)
    with warnings.catch_warnings(), requires("onnx", "backend='onnx'"):  # the exporter needs onnx
        warnings.simplefilter("ignore")  # tracer notes on shape-dependent Python branches
        torch.onnx.export(Hidden(model).eval(), example, str(path), input_names=inputs,
                          output_names=["last_hidden_state"], opset_version=_OPSET,
                          dynamic_axes={n: {0: "batch", 1: "tokens"}
                                        for n in (*inputs, "last_hidden_state")},
                          dynamo=False)


def _quantize(src: Path, dst: Path) -> None:
    with requires("onnx", "quantize='int8'"):
        from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process: measured, no faster here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def exported(model: Any, inputs: list[str], quantize: str | None, cache_dir: Path) -> Path:
    """The ONNX file of ``model``'s transformer (int8 if asked), exported on first use.

    Files are written under a temporary name and renamed, so an interrupted export never
    leaves a file that a later load would trust."""
    key = _fingerprint(model, inputs, quantize)
    folder = cache_dir / key
    final = folder / ("model-int8.onnx" if quantize else "model.onnx")
    if final.exists():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        plain = Path(tmp) / "model.onnx"
        _export(model, inputs, plain)
        out = plain
        if quantize:
            out = Path(tmp) / "model-int8.onnx"
            _quantize(plain, out)
        os.replace(out, final)
    return final


def use_onnx(st_model: Any, quantize: str | None = None, cache_dir: Path | None = None,
             threads: int | None = None) -> Path:
    """Swap the transformer of ``st_model`` (a ``SentenceTransformer``) for an onnxruntime
    session over the same weights; returns the ONNX file used.

    ``threads``: onnxruntime's intra-op threads (default: torch's, i.e. the machine's cores)."""
    ort = need("onnxruntime", "onnx", "backend='onnx'")

    module = st_model[0]
    hf = getattr(module, "model", None)
    tokenizer = getattr(module, "tokenizer", None)
    if hf is None or tokenizer is None or not hasattr(hf, "state_dict"):
        raise InvalidInputError("backend='onnx' needs a sentence-transformers model whose first "
                                "module is a Hugging Face transformer; use backend='torch'.")
    inputs = [n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask",
                                                              "token_type_ids")]
    path = exported(hf.eval(), inputs, quantize, cache_dir or default_cache_dir())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    module.model = OnnxTransformer(session, inputs, hf.config)
    return path


__all__ = ["BACKENDS", "QUANTIZATIONS", "check_backend", "use_onnx", "exported",
           "default_cache_dir", "OnnxTransformer"]
