"""What the quantizers share: input checks, a stable partial top-k, pickle-free persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vectorbridge.errors import InvalidInputError


def _as_matrix(X: object, what: str, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        want = f"(n, {dim})" if dim is not None else "(n, dim)"
        raise InvalidInputError(f"{what} must be a float array of shape {want}, got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{what} contains NaN or inf.")
    return arr


def unit(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _as_words(codes: np.ndarray) -> np.ndarray:
    """Packed codes viewed as 64-bit words (zero-padded), so popcount runs 8 bytes at a time."""
    pad = -codes.shape[1] % 8
    if pad:
        codes = np.pad(codes, ((0, 0), (0, pad)))
    return np.ascontiguousarray(codes).view(np.uint64)


def topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row of ``scores`` (higher is better): ``(scores, indices)``, best first,
    equal scores in index order (also at the k-th place). A partial sort finds each row's
    k-th score, so this is O(n) per row instead of a full sort."""
    n = scores.shape[1]
    k = min(k, n)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1:k]  # (rows, 1): the k-th best score
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(axis=1, keepdims=True)  # how many tied scores still fit
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))  # lowest indices among ties
    idx = np.nonzero(chosen)[1].reshape(len(scores), k)
    picked = np.take_along_axis(scores, idx, axis=1)
    order = np.lexsort((idx, -picked), axis=1)  # by score, then by index
    idx = np.take_along_axis(idx, order, axis=1)
    return np.take_along_axis(scores, idx, axis=1), idx


def save_npz(path: str | Path, config: dict[str, Any], **arrays: np.ndarray) -> None:
    """Arrays plus a JSON config (its ``format`` names the layout) in one ``.npz``."""
    np.savez(Path(path), config=np.array(json.dumps(config)), **arrays)


def load_npz(path: str | Path, fmt: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Config and arrays of a :func:`save_npz` file of format ``fmt`` (no pickle)."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            config = json.loads(str(z["config"])) if "config" in z.files else {}
            if config.get("format") != fmt:
                raise InvalidInputError(f"{path} is not a {fmt} file (format {config.get('format')!r}).")
            return config, {k: z[k] for k in z.files if k != "config"}
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise
        # A pickled object array runs code when loaded: never unpickled, whoever wrote it.
        raise InvalidInputError(
            f"{path} holds pickled Python objects; vectorbridge loads plain arrays and JSON only "
            "and never unpickles. Re-save it with the quantizer's save() from trusted data."
        ) from e
