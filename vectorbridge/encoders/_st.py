"""Loading sentence-transformers models once, the same way for every encoder.

Kept in one place so every encoder accepts the same things: a hub name, a local folder, or a
model object the caller already built (shared weights, custom devices, tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

M = TypeVar("M")

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


def has_prompt(model: Any, name: str) -> bool:
    """Whether a sentence-transformers model defines a non-empty prompt called ``name``."""
    return bool(getattr(model, "prompts", {}).get(name))
