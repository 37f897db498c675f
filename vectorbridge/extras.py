"""Optional dependencies: what each extra brings, and the error when one is missing.

``pip install vectorbridge`` installs a small core (numpy, langchain-core, tqdm: specs,
filters, fusion, the reference engine, the retrievers' pipeline). Engines and encoders come
with extras, so a team using one engine with hosted embeddings does not install torch or the
other engine's client:

| extra | brings |
|---|---|
| ``qdrant`` | qdrant-client, qdrant-edge-py: ``QdrantConnector`` (server, Edge, local mode) |
| ``milvus`` | pymilvus, milvus-lite: ``MilvusConnector`` (server, Milvus Lite) |
| ``bm25`` | bm25s, PyStemmer: ``BM25Encoder`` (no torch) |
| ``encoders`` | sentence-transformers (torch) and ``bm25``: every model encoder, rerankers, the trained components (adapters, calibration, learned PQ) |
| ``quantizers`` | faiss-cpu, scipy: ``ProductQuantizer``, ``ResidualCodec``, ``FDEEncoder``, ``TokenPooler`` |
| ``onnx`` | onnxruntime, onnx: ``backend="onnx"`` |
| ``otel`` | the OpenTelemetry API: spans (:mod:`vectorbridge.tracing`) |
| ``all`` | all of the above |

A module that imports one of these does it under :func:`requires`, so the user meets a
:class:`~vectorbridge.errors.MissingDependencyError` naming the ``pip install`` line instead
of a bare ``ModuleNotFoundError`` from deep inside the package.
"""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from vectorbridge.errors import MissingDependencyError

#: The extras, each with what it is for (the table above, for error messages and the docs).
EXTRAS = {
    "qdrant": "the Qdrant connector",
    "milvus": "the Milvus connector",
    "bm25": "BM25Encoder",
    "encoders": "the model encoders",
    "quantizers": "the quantizers",
    "onnx": "the ONNX backend",
    "otel": "OpenTelemetry spans",
}


@contextmanager
def requires(extra: str, what: str) -> Iterator[None]:
    """Imports inside this block that fail raise :class:`MissingDependencyError`: ``what``
    needs a package the ``extra`` installs."""
    try:
        yield
    except MissingDependencyError:
        raise
    except ImportError as e:
        missing = e.name or str(e)
        if isinstance(e, ModuleNotFoundError):
            problem, line = f"{missing!r}, which is not installed here", "pip install"
        else:  # installed, but too old or broken: the install line fixes that too
            problem = f"{missing!r}, which is installed but failed to import ({e})"
            line = "pip install --upgrade"
        raise MissingDependencyError(
            f'{what} needs {problem}: {line} "vectorbridge[{extra}]" (or "vectorbridge[all]").',
            name=e.name) from e


def need(module: str, extra: str, what: str) -> Any:
    """``import module`` (e.g. ``torch`` inside a method that trains), or the error naming
    ``extra``."""
    with requires(extra, what):
        return importlib.import_module(module)




def instance_of(value: Any, module: str, name: str) -> bool:
    """``isinstance(value, module.name)`` without importing ``module``: a class of a module
    never imported (an optional extra's encoder) has no instances, so code that only asks
    "is this a BM25Encoder?" works on an install without that extra."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(value, getattr(loaded, name))


__all__ = ["EXTRAS", "requires", "need", "instance_of"]
