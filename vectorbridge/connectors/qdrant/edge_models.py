"""qdrant-client models -> Qdrant Edge objects: pure functions, no I/O.

:class:`~vectorbridge.connectors.qdrant.edge.EdgeClient` takes the calls a ``QdrantClient``
takes, with the same qdrant-client models, so the connector's request building is the one it
uses on a server; these functions translate each model to the class ``qdrant-edge-py``
expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires

with requires("qdrant", "Qdrant Edge (QdrantConnector(path=...))"):
    import qdrant_edge as qe
    from qdrant_client import models

#: Qdrant's HNSW defaults (graph degree, build beam): what a server would build.
HNSW_M, HNSW_EF_CONSTRUCT = 16, 100

_DISTANCE = {models.Distance.COSINE: qe.Distance.Cosine, models.Distance.DOT: qe.Distance.Dot,
             models.Distance.EUCLID: qe.Distance.Euclid,
             models.Distance.MANHATTAN: qe.Distance.Manhattan}
_BINARY_ENCODING = {models.BinaryQuantizationEncoding.ONE_BIT: qe.BinaryQuantizationEncoding.OneBit,
                    models.BinaryQuantizationEncoding.TWO_BITS: qe.BinaryQuantizationEncoding.TwoBits,
                    models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS:
                        qe.BinaryQuantizationEncoding.OneAndHalfBits}
_COMPRESSION = {f"x{n}": getattr(qe.CompressionRatio, f"X{n}") for n in (4, 8, 16, 32, 64)}


def edge_quantization(q: Any) -> Any:
    """A qdrant-client quantization config as Edge's (``None`` stays ``None``)."""
    if q is None:
        return None
    if isinstance(q, models.BinaryQuantization):
        enc = q.binary.encoding or models.BinaryQuantizationEncoding.ONE_BIT
        return qe.BinaryQuantizationConfig(always_ram=q.binary.always_ram,
                                           encoding=_BINARY_ENCODING[enc])
    if isinstance(q, models.ScalarQuantization):
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=q.scalar.quantile,
                                           always_ram=q.scalar.always_ram)
    if isinstance(q, models.ProductQuantization):
        ratio = q.product.compression
        return qe.ProductQuantizationConfig(compression=_COMPRESSION[getattr(ratio, "value", ratio)],
                                            always_ram=q.product.always_ram)
    if isinstance(q, models.TurboQuantization):
        bits = getattr(qe.TurboQuantBitSize, _TURBO_BITS[q.turbo.bits])
        return qe.TurboQuantQuantizationConfig(always_ram=q.turbo.always_ram, bits=bits)
    raise InvalidInputError(f"Qdrant Edge has no mapping for {type(q).__name__}.")


_TURBO_BITS = {models.TurboQuantBitSize.BITS1: "Bits1", models.TurboQuantBitSize.BITS1_5: "Bits1_5",
               models.TurboQuantBitSize.BITS2: "Bits2", models.TurboQuantBitSize.BITS4: "Bits4",
               models.TurboQuantBitSize.BITS8: "Bits8"}


def edge_vector_params(p: models.VectorParams) -> qe.EdgeVectorParams:
    multi = qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if p.multivector_config else None
    dtype = qe.VectorStorageDatatype.Uint8 if p.datatype == models.Datatype.UINT8 else None
    no_graph = p.hnsw_config is not None and p.hnsw_config.m == 0  # a field never searched
    hnsw = qe.HnswIndexConfig(m=0, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=0) \
        if no_graph else None
    # on disk: the originals are mapped and read on demand (Cold), not kept resident (Cached)
    memory = qe.Memory.Cold if p.on_disk else None
    return qe.EdgeVectorParams(size=p.size, distance=_DISTANCE[p.distance], memory=memory,
                               multivector_config=multi, datatype=dtype, hnsw_config=hnsw,
                               quantization_config=edge_quantization(p.quantization_config))


def edge_filter(f: Any) -> qe.Filter | None:
    """A qdrant-client ``Filter`` (as the connector's filter compiler builds them) as Edge's."""
    if f is None:
        return None
    return qe.Filter(must=_conditions(f.must), should=_conditions(f.should),
                     must_not=_conditions(f.must_not))


def _conditions(conds: Any) -> list[Any] | None:
    if conds is None:
        return None
    if not isinstance(conds, list):
        conds = [conds]
    return [_condition(c) for c in conds]


def _condition(c: Any) -> Any:
    if isinstance(c, models.Filter):
        return edge_filter(c)
    if isinstance(c, models.HasIdCondition):
        return qe.HasIdCondition(set(str(i) for i in c.has_id))
    if isinstance(c, models.FieldCondition):
        if isinstance(c.match, models.MatchValue):
            v = c.match.value  # a Python bool would be read as the int 1 / 0 by Edge's binding
            return qe.FieldCondition(key=c.key, match=qe.MatchValue(
                np.bool_(v) if isinstance(v, bool) else v))
        if isinstance(c.match, models.MatchAny):
            return qe.FieldCondition(key=c.key, match=qe.MatchAny(list(c.match.any)))
        if isinstance(c.range, models.Range):
            r = c.range
            return qe.FieldCondition(key=c.key, range=qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte,
                                                                    lt=r.lt))
    raise InvalidInputError(f"Qdrant Edge has no mapping for the condition {c!r}.")


def edge_vector(v: Any) -> Any:
    """A point's or query's vector: dense / multi lists pass, sparse becomes Edge's."""
    if isinstance(v, models.SparseVector):
        return qe.SparseVector(list(v.indices), list(v.values))
    return v


def edge_query(query: Any, using: str | None) -> Any:
    if isinstance(query, models.RrfQuery):
        return qe.Fusion.Rrf(k=query.rrf.k, weights=query.rrf.weights)
    if isinstance(query, models.FusionQuery):
        if query.fusion == models.Fusion.DBSF:
            return qe.Fusion.Dbsf()
        return qe.Fusion.Rrf(k=60)
    if query is None:
        return None
    if isinstance(query, models.FormulaQuery):
        return qe.Formula(edge_expression(query.formula), dict(query.defaults or {}))
    if isinstance(query, models.RelevanceFeedbackQuery):
        rf, naive = query.relevance_feedback, query.relevance_feedback.strategy.naive
        return qe.Query.FeedbackNaive(qe.FeedbackNaiveQuery(
            rf.target, [qe.FeedbackItem(i.example, i.score) for i in rf.feedback],
            qe.NaiveFeedbackStrategy(naive.a, naive.b, naive.c)), using=using)
    if isinstance(query, models.NearestQuery) and query.mmr is not None:
        # Edge's lambda_ weighs relevance (1 = pure relevance); the server's diversity is 1 - it
        mmr = query.mmr
        return qe.Mmr(edge_vector(query.nearest), 1.0 - mmr.diversity, mmr.candidates_limit,
                      using=using)
    return qe.Query.Nearest(edge_vector(query), using=using)


_EDGE_DECAYS = {"exp_decay": qe.DecayKind.Exp, "gauss_decay": qe.DecayKind.Gauss,
                "lin_decay": qe.DecayKind.Lin}


def edge_expression(e: Any) -> Any:
    """A formula expression as Edge's: constants, variables (payload keys, ``$score``), sums,
    products and decays (what :func:`~.convert.formula_query` builds)."""
    if isinstance(e, (int, float)):
        return qe.Expression.Constant(float(e))
    if isinstance(e, str):
        return qe.Expression.Variable(e)
    if isinstance(e, models.SumExpression):
        return qe.Expression.Sum([edge_expression(x) for x in e.sum])
    if isinstance(e, models.MultExpression):
        return qe.Expression.Mult([edge_expression(x) for x in e.mult])
    for name, kind in _EDGE_DECAYS.items():
        p = getattr(e, name, None)
        if p is not None:
            return qe.Expression.Decay(kind, edge_expression(p.x), edge_expression(p.target),
                                       midpoint=p.midpoint, scale=p.scale)
    raise InvalidInputError(f"Qdrant Edge has no mapping for the expression {e!r}.")


def edge_params(p: models.SearchParams | None) -> qe.SearchParams | None:
    if p is None:
        return None
    q = p.quantization
    quant = qe.QuantizationSearchParams(ignore=bool(q.ignore), rescore=q.rescore,
                                        oversampling=q.oversampling) if q is not None else None
    acorn = qe.AcornSearchParams(enable=bool(p.acorn.enable), max_selectivity=p.acorn.max_selectivity) \
        if p.acorn is not None else None
    return qe.SearchParams(hnsw_ef=p.hnsw_ef, exact=bool(p.exact), quantization=quant, acorn=acorn)


def edge_prefetch(p: Any) -> list[qe.Prefetch] | None:
    if p is None:
        return None
    if not isinstance(p, list):
        p = [p]
    return [qe.Prefetch(limit=x.limit, query=edge_query(x.query, x.using),
                        prefetches=edge_prefetch(x.prefetch), params=edge_params(x.params),
                        filter=edge_filter(x.filter)) for x in p]


def _with_payload(w: Any) -> Any:
    return qe.PayloadSelector.Include(list(w)) if isinstance(w, list) else w


__all__ = ["edge_filter", "edge_params", "edge_prefetch", "edge_query", "edge_quantization",
           "edge_vector", "edge_vector_params"]
