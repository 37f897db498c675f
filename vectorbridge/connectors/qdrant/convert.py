"""Qdrant's side of a :class:`CollectionSpec`: point ids, vector params, quantization configs,
and the conversions of rows and results (pure functions, no I/O).

Field kinds: :data:`QDRANT_KINDS` holds, per kind, its params, its values' conversions both
ways and how Qdrant scores it; the functions below ask the table, never the kind's class.

Ids: Qdrant accepts only unsigned ints and UUIDs, so the original string id maps to
``uuid5(ID_NAMESPACE, id)`` (deterministic: re-upserting an id overwrites its point) and is
kept in the payload under ``_vb_id``, which reads strip again.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from vectorbridge.connectors.queries import FeedbackQuery
from vectorbridge.connectors.results import Hit, Record
from vectorbridge.connectors.scoring import ScoreFormula
from vectorbridge.connectors.spec import CollectionSpec, FieldType, Metric
from vectorbridge.connectors.validation import Rows
from vectorbridge.encoders.types import SparseVector
from vectorbridge.extras import requires

with requires("qdrant", "QdrantConnector"):
    from qdrant_client import models

#: Namespace of the uuid5 point ids; changing it would orphan every stored point.
ID_NAMESPACE = uuid.UUID("6f1c3b8e-6a1f-5b0e-9a57-7a0b3f6c2d11")
#: Payload key holding the original id.
ORIGINAL_ID_KEY = "_vb_id"
#: Collection-metadata key holding the spec JSON.
SPEC_KEY = "vectorbridge_spec"

_DISTANCE = {Metric.COSINE: models.Distance.COSINE, Metric.DOT: models.Distance.DOT,
             Metric.EUCLID: models.Distance.EUCLID}


_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def point_id(original: str) -> str:
    """The Qdrant point id of an original string id: ``str(uuid5(ID_NAMESPACE, original))``,
    computed from the SHA-1 digest directly (3x faster than building a ``UUID``, which a
    large upsert feels)."""
    h = bytearray(hashlib.sha1(_NAMESPACE_BYTES + original.encode("utf-8")).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_BINARY_ENCODING = {"binary-1bit": "one_bit", "binary-1.5bit": "one_and_half_bits",
                    "binary-2bit": "two_bits"}


_TURBO_BITS = {"turbo-1bit": models.TurboQuantBitSize.BITS1,
               "turbo-1.5bit": models.TurboQuantBitSize.BITS1_5,
               "turbo-2bit": models.TurboQuantBitSize.BITS2,
               "turbo-4bit": models.TurboQuantBitSize.BITS4,
               "turbo-8bit": models.TurboQuantBitSize.BITS8}


def _quantization(name: str | None) -> Any:
    """A dense field's engine quantization as a Qdrant quantization config (or None)."""
    if name is None:
        return None
    if name in _BINARY_ENCODING:
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(
            encoding=models.BinaryQuantizationEncoding(_BINARY_ENCODING[name]), always_ram=True))
    if name == "scalar-int8":
        return models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, always_ram=True))
    if name.startswith("turbo-"):
        return models.TurboQuantization(turbo=models.TurboQuantQuantizationConfig(
            bits=_TURBO_BITS[name], always_ram=True))
    return models.ProductQuantization(product=models.ProductQuantizationConfig(
        compression=models.CompressionRatio(name.removeprefix("pq-")), always_ram=True))


def _search_params(f: FieldType, acorn: models.AcornSearchParams | None = None,
                   hnsw_ef: int | None = None) -> models.SearchParams | None:
    """Rescore quantized candidates with the originals, ``oversampling`` times k of them
    (unless the field says ``rescore=False``); ``acorn``: ACORN for a filtered search;
    ``hnsw_ef``: graph candidates per search (dense fields)."""
    quantized = f.quantization is not None
    ef = hnsw_ef if qdrant_kind(f).hnsw_ef else None
    if not quantized and acorn is None and ef is None:
        return None
    quant = models.QuantizationSearchParams(rescore=f.rescore, oversampling=f.oversampling) \
        if quantized else None
    return models.SearchParams(quantization=quant, acorn=acorn, hnsw_ef=ef)


def _vector_params(f: FieldType) -> Any:
    """The field's named-vector params (sparse fields: its sparse-vector params)."""
    return qdrant_kind(f).params(f)


@lru_cache(maxsize=1)
def bm25_model() -> Any:
    """Qdrant's BM25 model (``qdrant_edge.Bm25``, in-process): the default configuration,
    which mirrors the server's ``qdrant/bm25`` (k=1.2, b=0.75, avg_len=256, English
    tokenizing, stemming and stop words), so vectors made here and by a server's inference
    share term ids and weights. The engine adds IDF (``Modifier.IDF``) at search time."""
    import qdrant_edge

    return qdrant_edge.Bm25()


def _bm25(vector: Any) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def to_query(f: FieldType, query: Any) -> Any:
    """A validated query in Qdrant's form: as a stored value, except that an engine-BM25
    query text becomes BM25's query vector (each distinct term weighted 1), and a
    :class:`FeedbackQuery` Qdrant's relevance-feedback query."""
    if isinstance(query, FeedbackQuery):
        return models.RelevanceFeedbackQuery(relevance_feedback=models.RelevanceFeedbackInput(
            target=query.target.tolist(),
            feedback=[models.FeedbackItem(example=v, score=s)
                      for v, s in zip(query.examples.tolist(), query.scores)],
            strategy=models.NaiveFeedbackStrategy(naive=models.NaiveFeedbackStrategyParams(
                a=query.a, b=query.b, c=query.c))))
    kind = qdrant_kind(f)
    return (kind.to_query or kind.to_engine)(f, query)


_DECAYS = {"exp": (models.ExpDecayExpression, "exp_decay"),
           "gauss": (models.GaussDecayExpression, "gauss_decay"),
           "lin": (models.LinDecayExpression, "lin_decay")}


def formula_query(formula: ScoreFormula) -> models.FormulaQuery:
    """A :class:`ScoreFormula` as Qdrant's ``FormulaQuery`` (payload keys are variables,
    ``$score`` the prefetch's score, every key with a default)."""
    expr: Any = "$score"
    if formula.boosts:
        expr = models.SumExpression(sum=[expr, *(models.MultExpression(mult=[b.weight, b.key])
                                                 for b in formula.boosts)])
    if formula.decays:
        decays = []
        for d in formula.decays:
            cls, name = _DECAYS[d.kind]
            decays.append(cls(**{name: models.DecayParamsExpression(
                x=d.key, target=d.target, scale=d.scale, midpoint=d.midpoint)}))
        expr = models.MultExpression(mult=[expr, *decays])
    return models.FormulaQuery(formula=expr, defaults=formula.defaults())


def _matrix(rows: list[list[float]], dtype: type) -> np.ndarray:
    """A multivector's nested lists as one array: one pass over the flattened values (3x
    faster than ``np.asarray`` on nested lists, which a fetch of 100 token matrices feels)."""
    if not rows:
        return np.zeros((0, 0), dtype=dtype)
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float32,
                       count=len(rows) * len(rows[0]))
    return flat.reshape(len(rows), -1).astype(dtype, copy=False)


def _score(f: FieldType | None, raw: float) -> float:
    """Higher-is-better: Qdrant reports Euclid and Manhattan (Hamming) as distances.
    ``f=None`` for fused scores, which are similarities already."""
    if f is not None and (qdrant_kind(f).distance or f.metric is Metric.EUCLID):
        return -float(raw)
    return float(raw)


# -- field kinds ---------------------------------------------------------------------------
def _dense_params(f: Any) -> models.VectorParams:
    return models.VectorParams(size=f.dim, distance=_DISTANCE[f.metric],
                               quantization_config=_quantization(f.quantization),
                               on_disk=True if f.on_disk else None,
                               # only read to rescore another field's candidates: no graph
                               hnsw_config=None if f.index else models.HnswConfigDiff(m=0))


def _multivector_params(f: Any) -> models.VectorParams:
    return models.VectorParams(  # codes: dot, which (unlike cosine) stores values as given
        size=f.dim, distance=models.Distance.DOT if f.codes else _DISTANCE[f.metric],
        multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
        datatype=models.Datatype.UINT8 if f.codes else None,
        # never ANN-searched (codes, or index=False): no graph
        hnsw_config=models.HnswConfigDiff(m=0) if f.codes or not f.index else None,
    )


def _binary_params(f: Any) -> models.VectorParams:
    return models.VectorParams(size=f.dim, distance=models.Distance.MANHATTAN,
                               datatype=models.Datatype.UINT8)


def _sparse_params(f: Any) -> models.SparseVectorParams:
    return models.SparseVectorParams(modifier=models.Modifier.IDF if f.idf or f.from_text
                                     else None)


def _sparse_to(f: Any, value: Any) -> Any:
    """A sparse value (an engine-BM25 field's text: its BM25 document vector)."""
    if f.from_text:
        return _bm25(bm25_model().embed_document(value))
    return models.SparseVector(indices=value.indices.tolist(), values=value.values.tolist())


def _sparse_query(f: Any, query: Any) -> Any:
    if f.from_text:
        return _bm25(bm25_model().embed_query(query))
    return _sparse_to(f, query)


def _listed(f: Any, value: Any) -> Any:
    return value.tolist()


@dataclass(frozen=True)
class QdrantKind:
    """How Qdrant holds one field kind.

    Attributes:
        params: field -> its ``VectorParams`` (a named vector), or its ``SparseVectorParams``
            where ``sparse``.
        to_engine: (field, validated value) -> Qdrant's form.
        from_engine: (field, Qdrant's value) -> the canonical type.
        to_query: (field, validated query) -> Qdrant's query (None: as ``to_engine``).
        sparse: Held as a sparse vector (``sparse_vectors_config``).
        distance: Qdrant reports a distance (scores are negated); a metric of euclid too.
        graph: Searched through an HNSW graph: a filtered search that comes back short is
            redone exactly (a sparse index is exact already).
        hnsw_ef: A search takes ``hnsw_ef`` (graph candidates per search).
        whole_column: Values are one array, converted in one ``tolist()`` call.
    """

    params: Callable[[Any], Any]
    to_engine: Callable[[Any, Any], Any]
    from_engine: Callable[[Any, Any], Any]
    to_query: Callable[[Any, Any], Any] | None = None
    sparse: bool = False
    distance: bool = False
    graph: bool = True
    hnsw_ef: bool = False
    whole_column: bool = False


#: Field kind name -> how Qdrant holds it; a kind not here is refused.
QDRANT_KINDS: dict[str, QdrantKind] = {
    "dense": QdrantKind(_dense_params, _listed, lambda f, v: np.asarray(v, dtype=np.float32),
                        hnsw_ef=True, whole_column=True),
    "sparse": QdrantKind(_sparse_params, _sparse_to,
                         lambda f, v: SparseVector(np.asarray(v.indices), np.asarray(v.values)),
                         to_query=_sparse_query, sparse=True, graph=False),
    "multivector": QdrantKind(_multivector_params, _listed,
                              lambda f, v: _matrix(v, np.uint8 if f.codes else np.float32)),
    "binary": QdrantKind(_binary_params, lambda f, v: np.unpackbits(v).tolist(),
                         lambda f, v: np.packbits(np.asarray(v, dtype=np.uint8)), distance=True),
}


def qdrant_kind(f: FieldType) -> QdrantKind:
    """How Qdrant holds ``f``'s kind."""
    try:
        return QDRANT_KINDS[f.kind]
    except KeyError:
        raise TypeError(f"no Qdrant mapping for {type(f).__name__}") from None


def vectors_config(spec: CollectionSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The spec's named-vector params and sparse-vector params, by field name."""
    vectors: dict[str, Any] = {}
    sparse: dict[str, Any] = {}
    for n, f in spec.fields.items():
        kind = qdrant_kind(f)
        (sparse if kind.sparse else vectors)[n] = kind.params(f)
    return vectors, sparse


# Request building and response parsing: pure functions, kept out of the I/O operations.
def to_points(spec: CollectionSpec, rows: Rows) -> list[models.PointStruct]:
    """Validated rows -> Qdrant points (uuid5 ids, original id in the payload)."""
    fields = spec.fields
    # Rows are validated already: the points are assembled without pydantic's second pass
    # (``model_construct``), and dense fields are converted to lists in one call per batch.
    columns = {n: _column(f, rows.vectors[n]) for n, f in fields.items()}
    construct = models.PointStruct.model_construct
    return [
        construct(id=point_id(pid), vector={n: col[i] for n, col in columns.items()},
                  payload={**rows.payloads[i], ORIGINAL_ID_KEY: pid})
        for i, pid in enumerate(rows.ids)
    ]


def _vectors(spec: CollectionSpec | None, raw: Any) -> dict[str, Any]:
    """A point's named vectors in canonical types (empty without ``spec`` or vectors)."""
    if spec is None or not raw:
        return {}
    fields = spec.fields
    return {n: qdrant_kind(fields[n]).from_engine(fields[n], v) for n, v in raw.items()
            if n in fields}


def _column(f: FieldType, column: Any) -> list[Any]:
    """A column of validated values in Qdrant's form (a dense array in one call)."""
    kind = qdrant_kind(f)
    if kind.whole_column:
        return column.tolist()
    return [kind.to_engine(f, v) for v in column]


def _split_payload(point: Any) -> tuple[str, dict[str, Any]]:
    """A point's original id and its payload without it (the point id for foreign points).

    Reads each attribute once and the point id only when needed: Qdrant Edge builds a new
    Python object (a ``dict``, a ``UUID``) on every attribute access, which showed in query
    profiles."""
    payload = point.payload
    payload = dict(payload) if payload else {}
    original = payload.pop(ORIGINAL_ID_KEY, None)
    return (str(point.id) if original is None else original), payload


def to_record(spec: CollectionSpec, point: Any, with_vectors: bool | list[str]) -> Record:
    """A retrieved Qdrant point -> Record with the original id and a clean payload."""
    original, payload = _split_payload(point)
    return Record(id=original, payload=payload,
                  vectors=_vectors(spec, point.vector) if with_vectors else {})


def to_hits(f: FieldType | None, points: list[Any], spec: CollectionSpec | None = None) -> list[Hit]:
    """Scored Qdrant points -> Hits (original ids, higher-is-better scores); with ``spec``,
    the returned vectors too."""
    sign = -1.0 if _score(f, 1.0) < 0 else 1.0  # once per call, not per point
    hits = []
    for p in points:
        original, payload = _split_payload(p)
        hits.append(Hit(id=original, score=sign * p.score, payload=payload,
                        vectors=_vectors(spec, p.vector) if spec is not None else {}))
    return hits
