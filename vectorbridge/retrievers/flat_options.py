"""``HybridRetriever``'s flat options of earlier releases, mapped onto stage objects.

Up to 2026-12 the retriever took 39 flat keyword options (``multivector=``, ``maxsim=``,
``rerank=``, ``rerank_k=``, ``group_by=``...), each stage's settings spread over several of
them. They keep working for one release: :func:`from_flat` turns them into the value objects
and stages that replaced them (``fields=FieldNames(...)``, ``fusion=Fusion(...)``,
``stages=[MaxSim(...), Rerank(...)]``) and warns once, naming the new form. Each flat value
is checked here with a message that names the flat option.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from typing import Any

from vectorbridge.connectors.grouping import check_grouping
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.retrievers.layout import FieldNames
from vectorbridge.retrievers.pipeline import RRF_K

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_NONE = object()

#: Flat option -> the field of :class:`FieldNames` it sets.
FIELD_OPTIONS = {"dense_field": "dense", "sparse_field": "sparse",
                 "multivector_field": "multivector", "codes_field": "codes",
                 "fde_field": "fde", "reduced_field": "reduced"}
#: Every flat option (what ``refuse_unknown`` also accepts, so misspellings find them).
FLAT_OPTIONS = ("multivector", "maxsim", "quantizer", "oversample", "fde", "fde_quantization",
                "pooling", "token_codec", "prf", "calibrator", "score_threshold",
                "relevance_key", "rrf_k", "weights", "rerank", "rerank_k", "group_by",
                "group_size", "formula", "mmr", "reducer", "full_vectors", "query_adapter",
                *FIELD_OPTIONS)


def from_flat(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every flat option replaced by its new form (a ``DeprecationWarning``
    names it); ``options`` without flat ones come back as they are."""
    flat = {name: options.pop(name) for name in FLAT_OPTIONS if name in options}
    if not flat:
        return options
    new: list[str] = []
    stages = list(options.get("stages") or ())
    stages += _stages(flat, new)
    if stages:
        options["stages"] = stages
    fields = {FIELD_OPTIONS[n]: flat[n] for n in FIELD_OPTIONS if n in flat}
    if fields:
        if not all(isinstance(v, str) for v in fields.values()):
            raise InvalidInputError(f"field names must be str, got {fields!r}.")
        options["fields"] = FieldNames(**fields)
        new.append(f"fields=FieldNames({', '.join(f'{k}=...' for k in fields)})")
    fusion = _fusion(options.get("fusion"), flat)
    if fusion is not None:
        options["fusion"] = fusion
        new.append("fusion=Fusion(kind, k=, weights=)")
    instead = f"use {'; '.join(new)}" if new else \
        "alone it configures no stage: drop it, or give the stage it belongs to"
    warnings.warn(f"HybridRetriever({', '.join(f'{n}=' for n in flat)}) is deprecated and goes "
                  f"in the next release: {instead} (docs: Retrievers, Stages).",
                  DeprecationWarning, stacklevel=caller_level())
    return options


def _fusion(kind: Any, flat: dict[str, Any]) -> Any:
    from vectorbridge.connectors.fusion import Fusion

    if "rrf_k" not in flat and "weights" not in flat:
        return None
    if kind is not None and not isinstance(kind, str):
        raise InvalidInputError("rrf_k= and weights= go inside fusion=Fusion(kind, k=, weights=), "
                                "not beside a Fusion object.")
    return Fusion(kind or "rrf", flat.get("rrf_k", RRF_K), _weights(flat.get("weights")))


def _weights(weights: Any) -> Any:
    if weights is None:
        return None
    try:
        return tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise InvalidInputError(f"weights must be numbers, one per branch, got {weights!r}.") from None


def _stages(flat: dict[str, Any], new: list[str]) -> list[Any]:
    """The stages the flat options describe, in the order the old pipeline ran them."""
    from vectorbridge.retrievers.stages import AdaptQuery, Calibrate, Formula, Grouping, \
        Quantized, Reduction, Rerank

    def number(name: str, default: Any) -> Any:
        value = flat.get(name, default)
        try:
            return check_k(value)
        except InvalidInputError:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}.") from None

    rerank_k = number("rerank_k", 100)
    oversample = flat.get("oversample", 4.0)
    out: list[Any] = []
    if flat.get("query_adapter") is not None:
        out.append(AdaptQuery(flat["query_adapter"]))
        new.append("stages=[AdaptQuery(adapter)]")
    reducer, quantizer = flat.get("reducer"), flat.get("quantizer")
    if reducer is not None:
        if quantizer is not None and not isinstance(quantizer, str):
            out.append(Quantized(quantizer, oversample))  # refused beside Reduction, with why
            quantizer = None
        out.append(Reduction(reducer, flat.get("full_vectors", True), quantizer, oversample))
        new.append("stages=[Reduction(reducer, full_vectors=, quantization=, oversample=)]")
    else:
        if flat.get("full_vectors", True) is not True:
            raise InvalidInputError("full_vectors=False drops the full vectors beside a reduced "
                                    "field: give reducer=LinearReducer(...) too, or drop it.")
        if quantizer is not None:
            out.append(Quantized(quantizer, oversample))
            new.append("stages=[Quantized(quantizer, oversample=)]")
        elif "oversample" in flat:
            Quantized("scalar-int8", oversample)  # the value checked all the same
    out += _late_interaction(flat, rerank_k, oversample, new)
    for name, kind in (("prf", "PseudoRelevanceFeedback"), ("mmr", "MMR")):
        if flat.get(name) is not None:
            if type(flat[name]).__name__ != kind:
                raise InvalidInputError(f"{name}= takes a {kind}(...), got "
                                        f"{type(flat[name]).__name__}.")
            out.append(flat[name])
            new.append(f"stages=[{kind}(...)]")
    group_by, group_size = check_grouping(flat.get("group_by"), flat.get("group_size", 1))
    if group_by is not None:
        out.append(Grouping(group_by, group_size))
        new.append("stages=[Grouping(by, size=)]")
    if flat.get("formula") is not None:
        out.append(Formula(flat["formula"]))
        new.append("stages=[Formula(score_formula)]")
    if flat.get("calibrator") is not None:
        out.append(Calibrate(flat["calibrator"], flat.get("score_threshold"),
                             flat.get("relevance_key", "relevance")))
        new.append("stages=[Calibrate(calibrator, threshold=, key=)]")
    elif flat.get("score_threshold") is not None:
        raise InvalidInputError("score_threshold= applies to calibrated scores: give "
                                "calibrator=ScoreCalibrator(...).fit(...) too.")
    if flat.get("rerank") is not None:
        out.append(Rerank(flat["rerank"], rerank_k))
        new.append("stages=[Rerank(compressor, k=)]")
    return out


def _late_interaction(flat: dict[str, Any], rerank_k: int, oversample: Any,
                      new: list[str]) -> list[Any]:
    from vectorbridge.retrievers.stages import MaxSim

    if flat.get("multivector") is None:
        for name, what in (("fde", "fde= encodes token vectors"),
                           ("token_codec", "token_codec= compresses token vectors"),
                           ("pooling", "pooling= takes a TokenPooler(...) and pools token vectors"),
                           ("fde_quantization", "fde_quantization= is an engine quantization "
                                                "of the FDE field, with fde= given")):
            if flat.get(name) is not None:
                raise InvalidInputError(f"{what}: give multivector=TokenEncoder(...) too "
                                        "(now: stages=[MaxSim(encoder, ...)]).")
        if flat.get("maxsim") not in (None, "replace", "fuse"):
            raise InvalidInputError(f"maxsim mode must be 'replace' or 'fuse', got "
                                    f"{flat['maxsim']!r}.")
        return []
    new.append("stages=[MaxSim(encoder, mode=, k=, fde=, fde_quantization=, pooling=, codec=)]")
    return [MaxSim(flat["multivector"], flat.get("maxsim"), rerank_k, flat.get("fde"),
                   flat.get("fde_quantization"), flat.get("pooling"), flat.get("token_codec"),
                   oversample)]


#: Flat option -> (stage class name, its attribute, the value without that stage).
_READS = {"multivector": ("MaxSim", "encoder", None), "maxsim": ("MaxSim", "mode", None),
          "fde": ("MaxSim", "fde", None), "fde_quantization": ("MaxSim", "fde_quantization", None),
          "pooling": ("MaxSim", "pooling", None), "token_codec": ("MaxSim", "codec", None),
          "prf": ("PseudoRelevanceFeedback", None, None), "mmr": ("MMR", None, None),
          "calibrator": ("Calibrate", "calibrator", None),
          "score_threshold": ("Calibrate", "threshold", None),
          "relevance_key": ("Calibrate", "key", "relevance"),
          "rerank": ("Rerank", "compressor", None), "group_by": ("Grouping", "by", None),
          "group_size": ("Grouping", "size", 1), "formula": ("Formula", "formula", None),
          "reducer": ("Reduction", "reducer", None),
          "full_vectors": ("Reduction", "full_vectors", True),
          "query_adapter": ("AdaptQuery", "adapter", None)}


def flat_value(stages: Any, fields: FieldNames, fusion: Any, name: str) -> Any:
    """What the flat option ``name`` reads as on a retriever built from the new form (one
    release, like the options themselves)."""
    by_kind = {type(s).__name__: s for s in stages}
    if name in FIELD_OPTIONS:
        return getattr(fields, FIELD_OPTIONS[name])
    if name in ("rrf_k", "weights"):
        return getattr(fusion, "k" if name == "rrf_k" else "weights", None)
    if name == "rerank_k":
        s = by_kind.get("Rerank") or by_kind.get("MaxSim")
        return s.k if s is not None else 100
    if name in ("quantizer", "oversample"):
        q, r = by_kind.get("Quantized"), by_kind.get("Reduction")
        if name == "oversample":
            s = q or r or by_kind.get("MaxSim")
            return s.oversample if s is not None else 4.0
        return q.quantizer if q else (r.quantization if r else None)
    kind, attr, default = _READS[name]
    s = by_kind.get(kind)
    return default if s is None else (s if attr is None else getattr(s, attr))


#: Flat options that set an attribute of every stage of these kinds present.
_SHARED = {"rerank_k": (("Rerank", "k"), ("MaxSim", "k")),
           "oversample": (("Quantized", "oversample"), ("Reduction", "oversample"),
                          ("MaxSim", "oversample")),
           "quantizer": (("Quantized", "quantizer"), ("Reduction", "quantization"))}
#: The attribute a stage cannot exist without: a flat ``None`` for it removes the stage.
_DEFINING = {"multivector", "prf", "mmr", "calibrator", "rerank", "group_by", "formula",
             "reducer", "query_adapter"}


def copy_update(stages: Any, fields: FieldNames, fusion: Any,
                update: dict[str, Any]) -> dict[str, Any]:
    """``model_copy(update=...)`` with flat options: each one changes the stage it belongs
    to in ``stages`` (this retriever's, or the ``stages`` given in ``update``), and only that
    attribute; a flat option whose stage is absent builds it as the constructor would (with
    the shared ``rerank_k`` / ``oversample`` read from ``stages``). A ``DeprecationWarning``
    names the new form. The caller builds (and so checks) the copy."""
    flat = {k: update.pop(k) for k in list(update) if k in FLAT_OPTIONS}
    if not flat:
        return update
    out, absent = list(stages), {}
    for name, value in flat.items():
        if name in FIELD_OPTIONS or name in ("rrf_k", "weights"):
            continue
        targets = _SHARED.get(name) or ((_READS[name][0], _READS[name][1]),)
        hit = False
        for i, stage in enumerate(out):
            attr = next((a for kind, a in targets if type(stage).__name__ == kind), _NONE)
            if attr is _NONE:
                continue
            hit = True
            if attr is None or (name in _DEFINING and value is None):
                out[i] = value  # the whole stage (prf=, mmr=), or None: the stage goes
            else:
                out[i] = dataclasses.replace(stage, **{attr: value})
        if not hit:
            absent[name] = value
    out = [s for s in out if s is not None]
    if any(v is not None for v in absent.values()):
        for name in ("rerank_k", "oversample"):
            absent.setdefault(name, flat[name] if name in flat else
                              flat_value(stages, fields, fusion, name))
        out += _stages({k: v for k, v in absent.items() if v is not None}, [])
    update["stages"] = tuple(out)
    if any(k in FIELD_OPTIONS for k in flat):
        update["fields"] = FieldNames(**{**vars(fields), **{FIELD_OPTIONS[k]: v for k, v in
                                                           flat.items() if k in FIELD_OPTIONS}})
    if "rrf_k" in flat or "weights" in flat:
        kind = update.get("fusion", getattr(fusion, "kind", None))
        base = {"rrf_k": getattr(fusion, "k", RRF_K), "weights": getattr(fusion, "weights", None)}
        update["fusion"] = _fusion(getattr(kind, "kind", kind), {**base, **flat})
    warnings.warn(f"model_copy(update={{{', '.join(repr(n) for n in flat)}: ...}}) is "
                  "deprecated and goes in the next release: update stages= (replace the stage: "
                  "dataclasses.replace(stage, ...)), fields= or fusion= (docs: Retrievers, "
                  "Stages).", DeprecationWarning, stacklevel=caller_level())
    return update


def caller_level() -> int:
    """The ``stacklevel`` of the first frame outside vectorbridge and pydantic, so a
    deprecation warning points at the user's line (and is shown by Python's default filter,
    which shows a ``DeprecationWarning`` only where ``__main__`` triggers it)."""
    frame, level = sys._getframe(2), 2  # 1: the function that warns
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE)
                                 or f"{os.sep}pydantic{os.sep}" in frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


__all__ = ["FLAT_OPTIONS", "from_flat", "flat_value", "copy_update", "caller_level"]
