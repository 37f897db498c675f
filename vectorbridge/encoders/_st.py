"""The sentence-transformers plumbing every model-backed encoder shares.

Kept in one place so every encoder accepts the same things (a hub name, a local folder, or a
model object the caller already built) and routes documents and queries the same way.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Literal, Sequence, TypeVar

from vectorbridge.encoders._serial import lock_of
from vectorbridge.encoders.types import check_texts
from vectorbridge.errors import InvalidInputError
from vectorbridge.options import refuse_unknown

M = TypeVar("M")
Kind = Literal["document", "query"]
#: ``precision=`` values: full float32, bfloat16 weights and activations, or bfloat16 where
#: the hardware computes it natively (else float32).
PRECISIONS = ("float32", "bfloat16", "auto")

#: Inputs at least this long get a tqdm progress bar unless ``progress`` says otherwise.
PROGRESS_THRESHOLD = 256


def load_model(model: Any, cls: type[M], device: str | None, **kwargs: Any) -> M:
    """Return ``model`` if it already is a ``cls``, else load it by name or path.

    Args:
        model: A sentence-transformers model name, a local folder, or a ``cls`` instance.
        cls: ``SentenceTransformer`` or ``SparseEncoder``.
        device: Torch device; ``None`` lets sentence-transformers choose.
        **kwargs: Passed to the ``cls`` constructor (e.g. ``trust_remote_code``).
    """
    if isinstance(model, cls):
        if kwargs:
            raise InvalidInputError(f"options {sorted(kwargs)} load a model; this {cls.__name__} "
                                    "is loaded already: set them on it, or pass its name/path.")
        return model
    if not isinstance(model, (str, Path)):
        raise InvalidInputError(
            f"model must be a name, a path or a {cls.__name__}; got {type(model).__name__}."
        )
    return cls(str(model), device=device, **kwargs)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX or AVX-512 BF16 on Linux): there
    bfloat16 inference is faster than float32 at nearly equal vectors; without it torch
    emulates bfloat16, several times slower (docs, Benchmarks, *Dense encoder throughput*)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("amx_bf16", "avx512_bf16"))


def check_precision(precision: str) -> None:
    """Refuse a ``precision=`` value that is not one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision={precision!r} is not one of {PRECISIONS}.")


def resolve_precision(precision: str, device: Any) -> str:
    """``"auto"`` -> ``"bfloat16"`` on hardware that computes it natively (the CPU flags above,
    or a CUDA device of compute capability 8.0 or more: older GPUs only emulate it), else
    ``"float32"``; other values are checked and kept. ``device``: where the model runs."""
    check_precision(precision)
    if precision != "auto":
        return precision
    import torch

    kind = str(device).split(":")[0] if device is not None else "cpu"
    if kind == "cuda":
        native = torch.cuda.is_available() and \
            torch.cuda.get_device_capability(torch.device(str(device)))[0] >= 8
        return "bfloat16" if native else "float32"
    return "bfloat16" if kind == "cpu" and cpu_has_native_bf16() else "float32"


def model_precision(model: Any) -> str:
    """The dtype a loaded model computes in, named as ``precision=`` names it
    (``"float32"``, ``"bfloat16"``; ``"float16"`` and others by their torch name)."""
    first = next(iter(model.parameters()), None)
    return "float32" if first is None else str(first.dtype).removeprefix("torch.")


def show_progress(progress: bool | None, n: int) -> bool:
    """Resolve the ``progress`` option: explicit wins, else on for long inputs."""
    return bool(progress) if progress is not None else n >= PROGRESS_THRESHOLD


class STEncoder(Generic[M]):
    """Base of the encoders backed by a sentence-transformers model of class ``model_class``.

    Subclasses turn :meth:`_run`'s raw output into their return type; documents go through
    the model's ``encode_document`` and queries through ``encode_query``, which apply the
    model's ``"document"`` / ``"query"`` prompts (or query-side modules) where it has them.
    sentence-transformers already batches texts sorted by length (little padding).

    ``precision``: ``"auto"`` (default: bfloat16 where the hardware computes it natively, see
    :func:`cpu_has_native_bf16`, else float32), ``"float32"`` (the vectors other tools compute
    for this model) or ``"bfloat16"`` (weights and activations; outputs still float32 arrays).
    ``"auto"`` is the default because it was measured to double docs/s on such CPUs at
    unchanged retrieval quality (docs, Encoders). Under ``"auto"`` a model object passed in
    keeps the dtype it has (it may be shared with other code), as does a model loaded with a
    dtype the caller chose; an explicit ``"float32"`` or ``"bfloat16"`` converts it in place,
    and so does ``backend="onnx"`` (which exports float32 weights). ``self.precision`` is what
    the model computed in when the encoder was built: an encoder sharing its model object with
    another that converts it later does not see the change.

    ``query_cache``: ``None`` (default), a size or a shared
    :class:`~vectorbridge.encoders.query_cache.QueryCache`: repeated queries skip the model
    (keyed by model, precision, backend and text; ``encoder.query_cache.stats()``).

    ``backend="onnx"`` (encoders whose ``onnx_capable`` is set) runs the transformer on ONNX
    Runtime, exported locally from the same weights and cached on disk (``onnx_cache``);
    ``quantize="int8"`` makes that export int8 (see :mod:`~vectorbridge.encoders.onnx_backend`).
    A model object passed in gets the ONNX transformer in place of its own.
    """

    model_class: type
    #: Whether ``backend="onnx"`` applies (the model's first module yields token states).
    onnx_capable: bool = False

    def __init__(self, model: Any, *, batch_size: int = 32, device: str | None = None,
                 progress: bool | None = None, precision: str = "auto",
                 backend: str = "torch", quantize: str | None = None,
                 onnx_cache: str | Path | None = None, query_cache: Any = None,
                 **model_kwargs: Any) -> None:
        from vectorbridge.encoders.onnx_backend import check_backend, use_onnx
        from vectorbridge.encoders.query_cache import as_query_cache

        # What is not an option of this encoder goes to the model's constructor: refuse a
        # name neither knows (a misspelt ``batchsize=``) before loading anything.
        # (The model class's bases count: sentence-transformers 6 keeps ``model_kwargs`` there.)
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        names = [n for c in (*self.model_class.__mro__, *type(self).__mro__)
                 if "__init__" in vars(c)
                 for n, p in inspect.signature(c.__init__).parameters.items()
                 if p.kind not in variadic and n != "self"]
        refuse_unknown(type(self).__name__, model_kwargs, names)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}.")
        if progress is not None and not isinstance(progress, bool):
            raise InvalidInputError(f"progress must be True, False or None (automatic), got "
                                    f"{progress!r}.")
        if backend == "onnx" and not self.onnx_capable:
            raise InvalidInputError(f"backend='onnx' is not available for {type(self).__name__}; "
                                    "use backend='torch'.")
        if backend == "onnx" and precision == "auto":
            precision = "float32"  # ONNX Runtime runs the float32 (or int8) export
        check_backend(backend, quantize, precision, device)
        check_precision(precision)
        cache = as_query_cache(query_cache)  # checked before a model is loaded
        self.model: M = load_model(model, self.model_class, device, **model_kwargs)
        current = model_precision(self.model)
        if precision == "auto" and (self.model is model or current != "float32"):
            resolved = current  # the caller's model, or a dtype the caller chose, is kept
        else:  # resolved where the model landed (sentence-transformers picks the device)
            resolved = resolve_precision(precision, getattr(self.model, "device", device))
            if current != resolved:
                import torch

                self.model.to(getattr(torch, resolved))  # type: ignore[attr-defined]
        self.onnx_path = use_onnx(self.model, quantize, Path(onnx_cache) if onnx_cache else None) \
            if backend == "onnx" else None
        self.precision = resolved
        self.backend = backend
        self.quantize = quantize
        self.batch_size = batch_size
        self.progress = progress
        self.query_cache = cache
        model_name = model if isinstance(model, (str, Path)) else f"{type(model).__name__}@{id(model)}"
        #: What keeps this encoder's entries apart in a shared query cache.
        self.cache_namespace = (type(self).__name__, str(model_name), resolved, backend, quantize)

    def _queries(self, texts: Sequence[str], encode: Any) -> list[Any]:
        """Per-text query encodings through the query cache (``encode``: texts -> one
        encoding per text)."""
        texts = check_texts(texts)
        if self.query_cache is None:
            return list(encode(texts))
        return self.query_cache.through(self.cache_namespace, texts, encode)

    @property
    def dim(self) -> int:
        """Output dimension (the vocabulary size for sparse models)."""
        getter = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension  # type: ignore[attr-defined]
        return int(getter())

    def _run(self, texts: Sequence[str], kind: Kind, **encode_kwargs: Any) -> tuple[list[str], Any]:
        """Validate ``texts`` and encode them; returns ``(texts, raw output or None if empty)``."""
        texts = check_texts(texts)
        if not texts:
            return texts, None
        fn = self.model.encode_query if kind == "query" else self.model.encode_document  # type: ignore[attr-defined]
        with lock_of(self.model):  # one call at a time per model: _serial.py says why
            return texts, fn(texts, batch_size=self.batch_size,
                             show_progress_bar=show_progress(self.progress, len(texts)),
                             **encode_kwargs)
