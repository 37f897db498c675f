"""Optional extras: importing the package pulls no engine client or model library, and a
missing extra is a vectorbridge error naming the pip line, at the first use of what needs it.

(scripts/check_package.sh checks the same on a real ``vectorbridge[qdrant]`` install from the
built wheel; these tests hide a package from this venv instead.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vectorbridge import MissingDependencyError
from vectorbridge.extras import instance_of, need, requires

HEAVY = ("pymilvus", "qdrant_client", "qdrant_edge", "torch", "sentence_transformers",
         "bm25s", "faiss", "scipy", "pandas")


def _loaded_after(code: str) -> list[str]:
    probe = (f"import sys, json\n{code}\nprint(json.dumps(sorted(m for m in sys.modules if "
             f"m in {HEAVY!r} or m.split('.')[0] in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.splitlines()[-1])


def test_the_package_and_its_registry_import_no_engine_client_or_model():
    assert _loaded_after("import vectorbridge, vectorbridge.connectors, vectorbridge.encoders\n"
                         "from vectorbridge.connectors import ENGINES, CollectionSpec\n"
                         "[e.capabilities for e in ENGINES.values()]") == []
    # a retriever over the reference engine with a hosted-style embedding: still none
    assert _loaded_after(
        "from langchain_core.embeddings import DeterministicFakeEmbedding\n"
        "from vectorbridge.connectors import ReferenceConnector\n"
        "from vectorbridge.retrievers import VectorBridgeStore\n"
        "s = VectorBridgeStore(connector=ReferenceConnector(), collection='c', "
        "embedding=DeterministicFakeEmbedding(size=8))\n"
        "s.add_texts(['a b', 'c d'], ids=['1', '2'])\n"
        "assert [d.id for d in s.similarity_search('c d', k=1)] == ['2']") == []
    # one engine opened imports its client, never the other engine's
    assert "pymilvus" not in _loaded_after(
        "import tempfile\nfrom vectorbridge.connectors import QdrantConnector\n"
        "QdrantConnector(path=tempfile.mkdtemp()).close()")


@pytest.mark.parametrize("module, extra, use", [
    ("pymilvus", "milvus", "from vectorbridge.connectors import MilvusConnector"),
    ("qdrant_client", "qdrant", "from vectorbridge.connectors import QdrantConnector"),
    ("qdrant_edge", "qdrant", "from vectorbridge.connectors.qdrant.edge import EdgeClient"),
    ("sentence_transformers", "encoders", "from vectorbridge.encoders import DenseEncoder"),
    ("Stemmer", "bm25", "from vectorbridge.encoders import BM25Encoder"),
    ("scipy", "quantizers", "from vectorbridge.encoders import ProductQuantizer"),
])
def test_a_missing_extra_names_its_pip_line(module, extra, use):
    """In a fresh interpreter where ``module`` cannot be imported (as if not installed)."""
    probe = (f"import json, sys\nsys.modules[{module!r}] = None\n"
             "from vectorbridge import MissingDependencyError\n"
             f"try:\n    {use}\nexcept MissingDependencyError as e:\n"
             "    print(json.dumps([str(e), e.name, isinstance(e, ImportError)]))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout
    message, name, is_import_error = json.loads(out.splitlines()[-1])
    assert f'pip install "vectorbridge[{extra}]"' in message and module in message
    assert name.split(".")[0] == module
    assert is_import_error  # `except ImportError` code keeps working


def test_need_and_requires_pass_installed_modules_through():
    assert need("json", "otel", "x") is json
    with requires("otel", "x"):
        import json as again  # noqa: F401
    with pytest.raises(MissingDependencyError, match=r'torch.*"vectorbridge\[encoders\]"'):
        need("torch_that_is_not_installed", "encoders", "QueryAdapter")


def test_instance_of_never_imports_the_module(monkeypatch):
    from vectorbridge.encoders.binary import BinaryQuantizer

    assert instance_of(BinaryQuantizer(), "vectorbridge.encoders.binary", "BinaryQuantizer")
    assert not instance_of(object(), "vectorbridge.encoders.binary", "BinaryQuantizer")
    monkeypatch.delitem(sys.modules, "vectorbridge.encoders.pq", raising=False)
    assert not instance_of(object(), "vectorbridge.encoders.pq", "ProductQuantizer")
    assert "vectorbridge.encoders.pq" not in sys.modules


def test_an_installed_but_broken_dependency_is_not_called_missing():
    with pytest.raises(MissingDependencyError, match=r"failed to import .*pip install --upgrade "
                                                      r'"vectorbridge\[qdrant\]"'):
        with requires("qdrant", "QdrantConnector"):
            from json import name_json_never_had  # noqa: F401  (an old version's shape)
