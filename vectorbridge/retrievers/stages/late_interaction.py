"""MaxSim over per-token vectors (ColBERT's late interaction) as one stage.

The token encoder fills a multi-vector field; MaxSim then scores the first stage's best ``k``
candidates, in Qdrant's engine (a prefetch rescored by the multi-vector field) or, on Milvus,
over the stored token vectors by the connector. With ``mode="fuse"`` (the default without an
FDE) MaxSim's ranking joins the fusion as one more branch; ``"replace"`` re-sorts the
candidates by it. An :class:`~vectorbridge.encoders.FDEEncoder` makes a MUVERA FDE field the
first stage; a :class:`~vectorbridge.encoders.ResidualCodec` stores ColBERTv2 residual codes,
which the engine cannot score: the candidates' codes are fetched, decoded and scored here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from vectorbridge.connectors.base import Hit, RescoreMode, rank_key
from vectorbridge.connectors.validation import check_k
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import instance_of
from vectorbridge.retrievers.stages.base import HITS, Query, Stage
from vectorbridge.retrievers.stages.compression import check_oversample, check_quantization
from vectorbridge.retrievers.twins import Flow, blocking, twin


@dataclass(frozen=True, eq=False)
class MaxSim(Stage):
    """``MaxSim(TokenEncoder(...), k=100)``: MaxSim over the first stage's top ``k``.

    Attributes:
        encoder: A :class:`~vectorbridge.encoders.TokenEncoder` (anything with
            ``encode_queries`` / ``encode_documents`` returning per-token matrices).
        mode: ``"fuse"``, ``"replace"``, or ``None``: ``"replace"`` with an FDE, else
            ``"fuse"`` (the better of the two on SciFact: docs, Benchmarks).
        k: Candidates MaxSim scores.
        fde: An :class:`~vectorbridge.encoders.FDEEncoder`: the FDE field is the first stage.
        fde_quantization: An engine quantization of the FDE field (``"pq-x32"``: MUVERA's
            production setting), rescored with ``oversample * k`` float FDEs.
        pooling: A :class:`~vectorbridge.encoders.pooling.TokenPooler`: documents' tokens are
            stored pooled (queries are not).
        codec: A :class:`~vectorbridge.encoders.ResidualCodec`: tokens stored as residual
            codes, decoded and scored client-side (needs a first stage: ``fde``, dense or
            sparse).
        oversample: Float FDEs rescored per result under ``fde_quantization``.
    """

    encoder: Any
    mode: RescoreMode | None = None
    k: int = 100
    fde: Any = None
    fde_quantization: str | None = None
    pooling: Any = None
    codec: Any = None
    oversample: float = 4.0
    order = HITS

    def __post_init__(self) -> None:
        if self.mode not in (None, "replace", "fuse"):
            raise InvalidInputError(f"maxsim mode must be 'replace' or 'fuse', got {self.mode!r}.")
        check_k(self.k)
        check_oversample(self.oversample)
        if self.fde_quantization is not None and self.fde is None:
            raise InvalidInputError(f"fde_quantization={self.fde_quantization!r}: an engine "
                                    "quantization of the FDE field, with fde= given.")
        check_quantization(self.fde_quantization, "fde_quantization")
        if self.pooling is not None and \
                not instance_of(self.pooling, "vectorbridge.encoders.pooling", "TokenPooler"):
            raise InvalidInputError("pooling= takes a TokenPooler(...) and pools token vectors.")
        if self.codec is not None and not instance_of(
                self.codec, "vectorbridge.encoders.residual", "ResidualCodec"):
            raise InvalidInputError(f"token_codec= takes a ResidualCodec(...), got "
                                    f"{type(self.codec).__name__}.")
        if not hasattr(self.encoder, "encode_queries"):
            raise InvalidInputError(f"MaxSim takes a token encoder (a TokenEncoder), got "
                                    f"{type(self.encoder).__name__}.")

    @property
    def traits(self) -> frozenset[str]:
        out = {"tokens"}
        if self.fde is not None:
            out.add("fde")
        if self.codec is not None:
            out.add("client_ranked")
        return frozenset(out)

    @property
    def requires(self) -> Mapping[Any, str]:
        if self.codec is None:
            return {}
        return {("fde", "dense", "sparse"): "the engine cannot search token codes: with "
                "MaxSim(codec=) (flat: token_codec=) give a first stage, MaxSim(fde=FDEEncoder()) "
                "or dense= / sparse=."}

    def storage(self) -> dict[str, Any]:
        return {"multivector": self.encoder, "fde": self.fde,
                "fde_quantization": self.fde_quantization, "pooling": self.pooling,
                "token_codec": self.codec, "fde_oversample": float(self.oversample)}

    def plan(self, q: Query) -> None:
        n, plan, tokens = q.scope.layout.names, q.plan, q.vectors["tokens"]
        if self.fde is not None:
            plan.queries[n.fde] = q.vectors["fde"]
        if self.codec is not None:  # codes: fetched, decoded, MaxSim client-side
            plan.decode, plan.decode_k = tokens, plan.k
            plan.k = max(self.k, plan.k)
            return
        plan.rescore = (n.multivector, tokens)
        plan.rescore_k = max(self.k, plan.k)
        plan.rescore_mode = self.mode or ("replace" if self.fde is not None else "fuse")

    def runs(self, q: Query) -> bool:
        return q.plan.decode is not None  # float tokens: the engine ran MaxSim already

    def run(self, q: Query) -> Flow[None]:
        """Residual codes only: the candidates re-ranked by exact MaxSim over their decoded
        tokens (the engine already scored float tokens in the candidate query)."""
        if q.plan.decode is None or not q.hits:
            return
        field_name = q.scope.layout.names.multivector
        records = yield twin(q.scope.connector, "get", q.scope.collection,
                             [h.id for h in q.hits], with_vectors=[field_name])
        codes = {r.id: r.vectors.get(field_name) for r in records}
        q.hits = yield blocking(_decoded_maxsim, self.codec, q.plan.decode, q.hits, codes,
                                q.plan.decode_k)


def _decoded_maxsim(codec: Any, query: Any, hits: list[Hit], codes: dict[str, Any],
                    k: int) -> list[Hit]:
    from vectorbridge.encoders.scoring import maxsim

    scored = [replace(h, score=maxsim(query, codec.from_bytes(codes[h.id])))
              for h in hits if codes.get(h.id) is not None and len(codes[h.id])]
    scored.sort(key=rank_key)  # the connectors' order: ties by id
    return scored[:k]


__all__ = ["MaxSim"]
