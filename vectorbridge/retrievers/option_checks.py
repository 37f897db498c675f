"""``HybridRetriever``'s options checked together, before any collection is touched: each
option's type and range, and the combinations the pipeline cannot run (with the way out)."""

from __future__ import annotations

from typing import Any

from vectorbridge.connectors.grouping import check_grouping
from vectorbridge.connectors.scoring import check_formula
from vectorbridge.connectors.spec import ENGINE_QUANTIZATIONS
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError


def check_options(r: Any) -> None:
    """Every check of a new ``HybridRetriever`` (``r``) beyond its field types."""
    if isinstance(r.quantizer, str):
        if r.quantizer not in ENGINE_QUANTIZATIONS:
            raise InvalidInputError(f"quantizer={r.quantizer!r}: an engine quantization is "
                                    f"one of {ENGINE_QUANTIZATIONS}.")
        if r.dense is None:
            raise InvalidInputError("an engine quantizer= compresses the dense branch: give dense=.")
    elif r.quantizer is not None:
        from vectorbridge.encoders.binary import BinaryQuantizer
        from vectorbridge.encoders.pq import ProductQuantizer

        if not isinstance(r.quantizer, (BinaryQuantizer, ProductQuantizer)):
            raise UnsupportedFeatureError(
                f"quantizer={type(r.quantizer).__name__}: use a BinaryQuantizer or a "
                "ProductQuantizer."
            )
        if r.dense is None or r.sparse is not None or r.multivector is not None:
            raise InvalidInputError("quantizer= compresses the dense branch and is used with "
                                    "dense= alone (no sparse= or multivector=).")
    if r.fde_quantization is not None and (
            r.fde is None or r.fde_quantization not in ENGINE_QUANTIZATIONS):
        raise InvalidInputError(f"fde_quantization={r.fde_quantization!r}: an engine "
                                f"quantization of the FDE field, one of {ENGINE_QUANTIZATIONS}, "
                                "with fde= given.")
    if r.fde is not None and r.multivector is None:
        raise InvalidInputError("fde= encodes token vectors: give multivector=TokenEncoder(...).")
    _check_pooling(r.pooling, r.multivector)
    _check_codec(r.token_codec, r.multivector, r.fde, r.dense, r.sparse)
    _check_prf(r)
    _check_query_side(r)
    _check_calibration(r)
    _check_stages(r)


def _check_stages(r: Any) -> None:
    """Grouping, score formulas and MMR, and what they cannot follow."""
    check_grouping(r.group_by, r.group_size)
    check_formula(r.formula, r.group_by)
    if r.formula is not None and (r.token_codec is not None or
                                  hasattr(r.quantizer, "centroids")):
        raise UnsupportedFeatureError("formula= boosts the engine's first stage; a "
                                      "token_codec= or ProductQuantizer first stage is ranked "
                                      "client-side: drop one of them.")
    if r.mmr is not None:
        from vectorbridge.retrievers.diversity import MMR

        if not isinstance(r.mmr, MMR):
            raise InvalidInputError(f"mmr= takes an MMR(lambda_mult=, fetch_k=), got "
                                    f"{type(r.mmr).__name__}.")
        if r.dense is None or r.group_by is not None or r.rerank is not None \
                or r.calibrator is not None:
            raise UnsupportedFeatureError("mmr= picks among dense vectors as the last stage: "
                                          "give dense=, and no group_by=, rerank= or "
                                          "calibrator=.")
    if r.group_by is None:
        return
    if r.rerank is not None or r.token_codec is not None or \
            (r.quantizer is not None and hasattr(r.quantizer, "centroids")):
        raise UnsupportedFeatureError(
            "group_by= groups the first stage in the engine; a rerank=, token_codec= or "
            "ProductQuantizer stage would reorder it afterwards. Drop one of them, or rerank "
            "the grouped documents yourself.")


def _check_query_side(r: Any) -> None:
    """``reducer=`` (a reduced first-stage field) and ``query_adapter=`` (a map on the dense
    query): what they need and the stages they cannot feed."""
    from vectorbridge.encoders.adapter import QueryAdapter
    from vectorbridge.encoders.reduction import LinearReducer

    if r.query_adapter is not None:
        if not isinstance(r.query_adapter, QueryAdapter):
            raise InvalidInputError(f"query_adapter= takes a trained QueryAdapter, got "
                                    f"{type(r.query_adapter).__name__}.")
        r.query_adapter._check_fitted()
        if r.dense is None:
            raise InvalidInputError("query_adapter= maps the dense query: give dense=.")
    if r.reducer is None:
        if not r.full_vectors:
            raise InvalidInputError("full_vectors=False drops the full vectors beside a reduced "
                                    "field: give reducer=LinearReducer(...) too, or drop it.")
        return
    if not isinstance(r.reducer, LinearReducer):
        raise InvalidInputError(f"reducer= takes a LinearReducer(...), got {type(r.reducer).__name__}.")
    if r.dense is None:
        raise InvalidInputError("reducer= reduces the dense vectors: give dense=.")
    if r.quantizer is not None and not isinstance(r.quantizer, str):
        raise UnsupportedFeatureError(
            "reducer= stacks with an engine quantization of the reduced field (a string such "
            "as 'scalar-int8', 'binary-1bit', 'turbo-4bit'), not a client-side quantizer object.")
    if r.multivector is not None or r.prf is not None:
        raise UnsupportedFeatureError(
            "reducer= rescores its candidates with the full vectors, the stage multivector= "
            "(MaxSim) and prf= (feedback on the full query) also need: drop one of them.")
    if r.mmr is not None and not r.full_vectors:
        raise UnsupportedFeatureError("mmr= compares full dense vectors: keep full_vectors=True "
                                      "with reducer=.")


def _check_calibration(r: Any) -> None:
    from vectorbridge.retrievers.calibration import ScoreCalibrator

    if r.calibrator is not None:
        if not isinstance(r.calibrator, ScoreCalibrator):
            raise InvalidInputError(f"calibrator= takes a fitted ScoreCalibrator, got "
                                    f"{type(r.calibrator).__name__}.")
        r.calibrator._check_fitted()
        if r.dense is None:
            raise InvalidInputError("calibrator= maps scores by the query embedding: give dense=.")
    if r.score_threshold is not None:
        if r.calibrator is None:
            raise InvalidInputError("score_threshold= applies to calibrated scores: give "
                                    "calibrator=ScoreCalibrator(...).fit(...) too.")
        t = r.score_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise InvalidInputError(f"score_threshold must be a probability in [0, 1], got {t!r}.")


def _check_prf(r: Any) -> None:
    from vectorbridge.encoders.bm25 import BM25Encoder
    from vectorbridge.retrievers.feedback import PseudoRelevanceFeedback

    prf = r.prf
    if prf is None:
        return
    if not isinstance(prf, PseudoRelevanceFeedback):
        raise InvalidInputError(f"prf= takes a PseudoRelevanceFeedback(...), got {type(prf).__name__}.")
    if prf.dense_docs and r.dense is None:
        raise InvalidInputError("prf.dense_docs > 0 moves the dense query: give dense=, or "
                                "set dense_docs=0.")
    if prf.sparse_docs and not isinstance(r.sparse, BM25Encoder):
        raise InvalidInputError("prf.sparse_docs > 0 expands BM25 queries by RM3: give "
                                "sparse=BM25Encoder(...), or set sparse_docs=0 (SPLADE and "
                                "other learned sparse models are not expanded).")
    if r.quantizer is not None and not isinstance(r.quantizer, str):
        raise UnsupportedFeatureError("prf= with a client-side quantizer object is not "
                                      "supported; use an engine quantization (a string).")


def _check_pooling(pooling: Any, multivector: Any) -> None:
    from vectorbridge.encoders.pooling import TokenPooler

    if pooling is not None and (not isinstance(pooling, TokenPooler) or multivector is None):
        raise InvalidInputError("pooling= takes a TokenPooler(...) and pools token vectors: "
                                "give multivector=TokenEncoder(...) too.")


def _check_codec(codec: Any, multivector: Any, fde: Any, dense: Any, sparse: Any) -> None:
    from vectorbridge.encoders.residual import ResidualCodec

    if codec is None:
        return
    if not isinstance(codec, ResidualCodec):
        raise InvalidInputError(f"token_codec= takes a ResidualCodec(...), got {type(codec).__name__}.")
    if multivector is None:
        raise InvalidInputError("token_codec= compresses token vectors: give multivector=TokenEncoder(...).")
    if fde is None and dense is None and sparse is None:
        raise InvalidInputError("the engine cannot search token codes: with token_codec= give a "
                                "first stage, fde=FDEEncoder() (or dense= / sparse=).")


__all__ = ["check_options"]
