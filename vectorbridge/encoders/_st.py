"""The sentence-transformers plumbing every model-backed encoder shares.

Kept in one place so every encoder accepts the same things (a hub name, a local folder, or a
model object the caller already built) and routes documents and queries the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, Literal, Sequence, TypeVar

from vectorbridge.encoders.types import check_texts

M = TypeVar("M")
Kind = Literal["document", "query"]

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
        return model
    if not isinstance(model, (str, Path)):
        raise TypeError(
            f"model must be a name, a path or a {cls.__name__}; got {type(model).__name__}."
        )
    return cls(str(model), device=device, **kwargs)


def show_progress(progress: bool | None, n: int) -> bool:
    """Resolve the ``progress`` option: explicit wins, else on for long inputs."""
    return bool(progress) if progress is not None else n >= PROGRESS_THRESHOLD


class STEncoder(Generic[M]):
    """Base of the encoders backed by a sentence-transformers model of class ``model_class``.

    Subclasses turn :meth:`_run`'s raw output into their return type; documents go through
    the model's ``encode_document`` and queries through ``encode_query``, which apply the
    model's ``"document"`` / ``"query"`` prompts (or query-side modules) where it has them.
    """

    model_class: type

    def __init__(self, model: Any, *, batch_size: int = 32, device: str | None = None,
                 progress: bool | None = None, **model_kwargs: Any) -> None:
        self.model: M = load_model(model, self.model_class, device, **model_kwargs)
        self.batch_size = batch_size
        self.progress = progress

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
        return texts, fn(texts, batch_size=self.batch_size,
                         show_progress_bar=show_progress(self.progress, len(texts)), **encode_kwargs)
