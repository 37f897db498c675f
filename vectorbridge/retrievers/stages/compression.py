"""Stages that search a compressed copy of the dense vectors and rank by the full ones.

- :class:`Quantized`: the engine's quantization of the dense field (``"scalar-int8"``,
  ``"binary-1bit"``, ``"pq-x16"``...: it rescores by itself), or a client quantizer whose codes
  are stored beside the vectors: binary codes searched by Hamming distance in the engine, or
  product-quantized codes searched by ADC here; either way ``oversample * k`` candidates are
  rescored with the float vectors.
- :class:`Reduction`: LeanVec's recipe; a linear projection to fewer dimensions is indexed
  (and optionally engine-quantized) and searched, the full vectors kept beside it unindexed
  re-rank its candidates.

Measured by ``vectorbridge bench quantizers`` and ``vectorbridge bench reduction`` (docs:
Quantization).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vectorbridge.connectors.results import unit_rows
from vectorbridge.connectors.spec import ENGINE_QUANTIZATIONS
from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.extras import instance_of
from vectorbridge.retrievers.stages.base import PLAN, Query, Stage


def check_oversample(oversample: Any) -> None:
    if isinstance(oversample, bool) or not isinstance(oversample, (int, float)) or \
            not oversample >= 1:
        raise InvalidInputError(f"oversample must be a number >= 1, got {oversample!r}.")


def check_quantization(value: Any, option: str) -> None:
    if value is not None and value not in ENGINE_QUANTIZATIONS:
        raise InvalidInputError(f"{option}={value!r}: an engine quantization is one of "
                                f"{ENGINE_QUANTIZATIONS}.")


@dataclass(frozen=True, eq=False)
class Quantized(Stage):
    """``Quantized("scalar-int8")``, ``Quantized(BinaryQuantizer())`` or
    ``Quantized(ProductQuantizer(m=16), oversample=4)``: the dense branch searched through
    compressed codes (see the module docstring)."""

    quantizer: Any
    oversample: float = 4.0
    order = PLAN
    refusal = InvalidInputError  # a client quantizer beside other branches is a wrong option

    def __post_init__(self) -> None:
        check_oversample(self.oversample)
        if isinstance(self.quantizer, str):
            check_quantization(self.quantizer, "quantizer")
            return
        if not any(instance_of(self.quantizer, f"vectorbridge.encoders.{module}", name)
                   for module, name in (("binary", "BinaryQuantizer"), ("pq", "ProductQuantizer"))):
            raise UnsupportedFeatureError(
                f"quantizer={type(self.quantizer).__name__}: use an engine quantization name, a "
                "BinaryQuantizer or a ProductQuantizer.")

    @property
    def client(self) -> bool:
        return not isinstance(self.quantizer, str)

    @property
    def traits(self) -> frozenset[str]:
        if not self.client:
            return frozenset({"engine_quantized"})
        pq = hasattr(self.quantizer, "centroids")  # candidates ranked here by ADC
        return frozenset({"client_quantizer", *(("client_ranked",) if pq else ())})

    @property
    def requires(self) -> Mapping[Any, str]:
        if not self.client:
            return {"dense": "an engine quantizer= compresses the dense branch: give dense=."}
        return {"dense": _ALONE}

    @property
    def refuses(self) -> Mapping[str, str]:
        return {"sparse": _ALONE, "tokens": _ALONE} if self.client else {}

    def storage(self) -> dict[str, Any]:
        return {"quantizer": self.quantizer, "oversample": float(self.oversample)}

    def plan(self, q: Query) -> None:
        if not self.client:
            return  # the engine searches its compressed copy and rescores by itself
        n, plan = q.scope.layout.names, q.plan
        dense_q = plan.queries.pop(n.dense)
        plan.rescore_k = int(np.ceil(self.oversample * plan.k))
        if hasattr(self.quantizer, "centroids"):  # client-side ADC over the stored codes
            plan.pq = dense_q
        else:  # codes find candidates in the engine, the float vectors rank them
            plan.queries[n.codes] = self.quantizer.encode(dense_q[None])[0]
            plan.rescore = (n.dense, dense_q)


_ALONE = ("Quantized(quantizer object) (flat: quantizer=) compresses the dense branch and is "
          "used with dense= alone (no sparse= and no MaxSim stage); give Quantized an engine "
          "quantization name to combine it with other branches.")
_STACK = ("Reduction (flat: reducer=) stacks with an engine quantization of the reduced field (a string such as "
          "'scalar-int8', 'binary-1bit', 'turbo-4bit', given as Reduction(quantization=...)), "
          "not a client-side quantizer object or a Quantized stage.")
_FULL = ("Reduction (flat: reducer=) rescores its candidates with the full vectors, which a "
         "MaxSim stage (flat: multivector=) and PseudoRelevanceFeedback (flat: prf=, feedback "
         "on the full query) also need: drop one of them.")


@dataclass(frozen=True, eq=False)
class Reduction(Stage):
    """``Reduction(LinearReducer(dim=128), quantization="scalar-int8")``: the reduced field
    finds candidates (``oversample * k``), the full vectors rank them; ``full_vectors=False``
    keeps only the reduced field (the smallest footprint, ranked by it alone)."""

    reducer: Any
    full_vectors: bool = True
    quantization: str | None = None
    oversample: float = 4.0
    order = PLAN

    def __post_init__(self) -> None:
        from vectorbridge.encoders.reduction import LinearReducer

        if not isinstance(self.reducer, LinearReducer):
            raise InvalidInputError(f"reducer= takes a LinearReducer(...), got "
                                    f"{type(self.reducer).__name__}.")
        if not isinstance(self.full_vectors, bool):
            raise InvalidInputError(f"full_vectors must be True or False, got {self.full_vectors!r}.")
        check_quantization(self.quantization, "quantization")
        check_oversample(self.oversample)

    @property
    def traits(self) -> frozenset[str]:
        return frozenset({"reduced", *(() if self.full_vectors else ("no_full_vectors",))})

    @property
    def requires(self) -> Mapping[Any, str]:
        return {"dense": "Reduction (flat: reducer=) reduces the dense vectors: give dense=."}

    @property
    def refuses(self) -> Mapping[str, str]:
        return {"client_quantizer": _STACK, "engine_quantized": _STACK, "tokens": _FULL,
                "prf": _FULL}

    def storage(self) -> dict[str, Any]:
        return {"reducer": self.reducer, "full_vectors": self.full_vectors,
                "quantizer": self.quantization, "oversample": float(self.oversample)}

    def plan(self, q: Query) -> None:
        layout, plan = q.scope.layout, q.plan
        n = layout.names
        dense_q = plan.queries.pop(n.dense)
        plan.queries[n.reduced] = self.reducer.transform(unit_rows(dense_q[None]))[0]
        if self.full_vectors:
            plan.rescore = (n.dense, dense_q)
            plan.rescore_k = int(np.ceil(self.oversample * plan.k))
            # alone it is replaced; beside sparse, the full-vector ranking joins the fusion
            plan.rescore_mode = "fuse" if layout.sparse is not None else "replace"


__all__ = ["Quantized", "Reduction"]
