"""Dense single-vector text embeddings from any sentence-transformers model."""

from __future__ import annotations

import asyncio

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from vectorbridge.encoders._st import Kind, STEncoder
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires

with requires("encoders", "DenseEncoder"):
    from sentence_transformers import SentenceTransformer


class DenseEncoder(STEncoder[SentenceTransformer], Embeddings):
    """Text -> float32 ``(n, dim)`` embeddings with any sentence-transformers model.

    Documents and queries go through ``SentenceTransformer.encode_document`` /
    ``encode_query``, which prepend the model's ``"document"`` / ``"query"`` prompt when the
    model defines one (E5, BGE, Nomic, ...) and are plain ``encode`` otherwise (MiniLM). It is
    also a LangChain :class:`~langchain_core.embeddings.Embeddings`, so it can be passed
    wherever LangChain expects one.

    Args:
        model: A sentence-transformers name, a local folder, or a loaded ``SentenceTransformer``.
        normalize: L2-normalise outputs, so dot product equals cosine (what the engines'
            COSINE/IP metrics and the quantizers expect).
        batch_size: Texts per forward pass.
        device: Torch device (``"cpu"``, ``"cuda"``); ``None`` lets sentence-transformers pick.
        progress: Show a tqdm bar; ``None`` shows one for inputs of 256 texts or more.
        precision: ``"auto"`` (default): bfloat16 where the hardware computes it natively
            (AMX / AVX-512 BF16), float32 elsewhere, because there it is about twice as fast
            at the same retrieval quality, while torch's emulated bfloat16 on other CPUs is
            several times slower (figures in the docs, Encoders). ``"float32"`` gives the
            vectors other tools compute for this model; ``"bfloat16"`` forces bfloat16.
            A loaded model passed in under ``"auto"`` keeps its dtype.
        backend: ``"torch"``, or ``"onnx"``: the transformer runs on ONNX Runtime, exported
            locally from the same weights (no hub) and cached on disk; float32 vectors match
            torch's to 1e-5. CPU only.
        quantize: ``"int8"`` with ``backend="onnx"``: per-channel int8 weights, activations
            quantized per batch: faster, at a small quality cost (measured by
            ``vectorbridge bench DATA --encoders --encoder-quality``; docs, Benchmarks).
        onnx_cache: Folder of the exports (default ``~/.cache/vectorbridge/onnx``, or
            ``$VECTORBRIDGE_CACHE/onnx``), keyed by a hash of the weights.
        **model_kwargs: Passed to ``SentenceTransformer`` (e.g. ``trust_remote_code=True``).

    Examples:
        >>> enc = DenseEncoder("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> enc.encode_documents(["a cat", "a dog"]).shape  # doctest: +SKIP
        (2, 384)
    """

    model_class = SentenceTransformer
    onnx_capable = True

    def __init__(self, model: str | Path | SentenceTransformer, *, normalize: bool = True,
                 batch_size: int = 32, device: str | None = None, progress: bool | None = None,
                 precision: str = "auto", backend: str = "torch", quantize: str | None = None,
                 onnx_cache: str | Path | None = None, **model_kwargs: Any) -> None:
        if not isinstance(normalize, bool):
            raise InvalidInputError(f"normalize must be True or False, got {normalize!r}.")
        super().__init__(model, batch_size=batch_size, device=device, progress=progress,
                         precision=precision, backend=backend, quantize=quantize,
                         onnx_cache=onnx_cache, **model_kwargs)
        self.normalize = normalize
        self.cache_namespace = (*self.cache_namespace, normalize)  # changes the output

    def _encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        _, out = self._run(texts, kind, normalize_embeddings=self.normalize, convert_to_numpy=True)
        if out is None:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents (with the model's document prompt, if any) -> ``(n, dim)`` float32."""
        return self._encode(texts, "document")

    async def aencode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Async :meth:`encode_documents`: the model runs in a worker thread, so the event
        loop keeps serving while a batch is embedded."""
        return await asyncio.to_thread(self.encode_documents, texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries: ``encode_documents`` with the model's query prompt, if any (through
        the query cache, if any)."""
        if self.query_cache is None:
            return self._encode(texts, "query")
        rows = self._queries(texts, lambda miss: list(self._encode(miss, "query")))
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    # LangChain Embeddings interface -------------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain alias of :meth:`encode_documents` returning lists of floats."""
        return self.encode_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain alias of :meth:`encode_queries` for one text."""
        return self.encode_queries([text])[0].tolist()

    def __repr__(self) -> str:
        onnx = f", backend='onnx', quantize={self.quantize!r}" if self.backend == "onnx" else ""
        return (f"DenseEncoder(dim={self.dim}, normalize={self.normalize}, "
                f"precision={self.precision!r}{onnx})")
