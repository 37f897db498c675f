"""What a retrieval stage is, and how a list of them is checked before anything runs.

A stage is one idea with its own options (``MaxSim(tokens, k=100)``, ``Rerank(model, k=20)``,
``MMR(0.5, fetch_k=20)``), the way Haystack's components or sentence-transformers' modules
carry theirs. The pipeline (:mod:`~vectorbridge.retrievers.pipeline`) sorts the stages by
:attr:`Stage.order` and calls, for each query:

1. :meth:`Stage.plan`: shape the candidate query (a query mapped, a field swapped for its
   compressed copy, grouping, a score formula, how deep a rescoring looks);
2. :meth:`Stage.source`: a stage that can produce the candidates itself (the engine's MMR);
3. :meth:`Stage.run`: act on the query, the hits or the documents, in order.

Each hook is a flow (:mod:`~vectorbridge.retrievers.twins`), so a stage is written once for
``invoke`` and ``ainvoke``. The filter (and, later, a tenant scope) is a condition of the
candidate query that every stage inherits from :class:`Query`; no stage re-checks it.

What a stage needs and cannot stand beside is data, not code: each declares *traits* (what it
is: ``"reranked"``, ``"grouped"``...), *requires* (traits some encoder or stage must bring)
and *refuses* (traits it cannot run with, each with the way out). :func:`check_stages`
reads them once, so a new stage states its own constraints and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from vectorbridge.errors import InvalidInputError, UnsupportedFeatureError
from vectorbridge.extras import instance_of
from vectorbridge.retrievers.twins import Flow

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from vectorbridge.connectors.results import Hit
    from vectorbridge.connectors.spec import CollectionSpec
    from vectorbridge.retrievers.stages.candidates import QueryPlan, Scope

#: Run order (:attr:`Stage.order`): the query, the candidate query, feedback, candidates,
#: hits, documents.
QUERY, PLAN, FEEDBACK, CANDIDATES, HITS, DOCUMENTS = 10, 15, 20, 30, 40, 50


@dataclass
class Query:
    """One query on its way through the stages (what each stage reads and changes).

    Attributes:
        text: The query text.
        k: Results asked for.
        scope: Where it searches (connector, the collection an alias resolved to, layout).
        spec: That collection's spec.
        dense: The dense query vector (``None`` without a dense encoder).
        vectors: The other encoders' query vectors by field role (``"sparse"``,
            ``"tokens"``, ``"fde"``).
        plan: The candidate query: branches, depths, filter.
        text_key: Payload key of the documents' text.
        callbacks: LangChain callbacks for stages that call LangChain components.
        hits: The candidates, once found; ``source``: the stage that found them itself.
        docs: The documents, once the hits are turned into them.
        extra: Per-query notes a stage leaves for a later hook of its own.
    """

    text: str
    k: int
    scope: "Scope"
    spec: "CollectionSpec"
    dense: np.ndarray | None
    vectors: dict[str, Any]
    plan: "QueryPlan"
    text_key: str
    callbacks: Any = None
    hits: list["Hit"] | None = None
    source: "Stage | None" = None
    docs: list["Document"] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Stage:
    """A step of a retrieval. Subclasses set :attr:`order` and override only the hooks they
    use; options are the subclass's own (frozen dataclass fields, checked on construction)."""

    #: When its :meth:`run` happens (the module's ``QUERY`` ... ``DOCUMENTS``).
    order: ClassVar[int] = DOCUMENTS
    #: What a refusal raises: a combination that could be supported but is not, or (for a
    #: stage whose options are simply wrong together) ``InvalidInputError``.
    refusal: ClassVar[type[Exception]] = UnsupportedFeatureError

    @property
    def traits(self) -> frozenset[str]:
        """What this stage is, for the others' ``requires`` / ``refuses``."""
        return frozenset()

    @property
    def requires(self) -> Mapping[str | tuple[str, ...], str]:
        """Traits (or a tuple of alternatives) an encoder or another stage must bring, each
        with the sentence that says so."""
        return {}

    @property
    def refuses(self) -> Mapping[str, str]:
        """Traits this stage cannot run with, each with the way out."""
        return {}

    def storage(self) -> dict[str, Any]:
        """What this stage implies for the collection (:class:`Layout` options)."""
        return {}

    def widen(self, k: int) -> int:
        """Candidates this stage needs from the stages before it, to return ``k``."""
        return k

    def plan(self, q: Query) -> None:
        """Shape ``q.plan`` (and ``q.dense``) before any search."""

    def source(self, q: Query) -> Flow[list["Hit"] | None]:
        """The candidates, where this stage finds them itself (else ``None``)."""
        return None
        yield  # pragma: no cover  (a flow)

    def runs(self, q: Query) -> bool:
        """Whether :meth:`run` has work for ``q`` (traces show a stage where it ran: one
        whose work went into the candidate query, or whose :meth:`source` found the
        candidates, has none left)."""
        return True

    def run(self, q: Query) -> Flow[None]:
        """This stage's work on ``q``, at its :attr:`order`."""
        return None
        yield  # pragma: no cover  (a flow)

    def describe(self) -> str:
        return type(self).__name__


def encoder_traits(dense: Any, sparse: Any) -> frozenset[str]:
    """The traits the retriever's own encoders bring."""
    out = set()
    if dense is not None:
        out.add("dense")
    if sparse is not None:
        out.add("sparse")
        if instance_of(sparse, "vectorbridge.encoders.bm25", "BM25Encoder"):
            out.add("bm25")
    return frozenset(out)


def check_stages(stages: Iterable[Any], encoders: frozenset[str]) -> tuple[Stage, ...]:
    """``stages`` as a tuple in run order, refused (with the way out) where one is not a
    :class:`Stage`, comes twice, misses what it requires or meets what it refuses."""
    out = list(stages)
    for s in out:
        if not isinstance(s, Stage):
            raise InvalidInputError(
                f"stages= takes stage objects (MaxSim, Quantized, Reduction, PseudoRelevanceFeedback, "
                f"Grouping, Formula, MMR, Calibrate, Rerank, AdaptQuery), got {type(s).__name__}.")
    kinds = [type(s).__name__ for s in out]
    twice = sorted({k for k in kinds if kinds.count(k) > 1})
    if twice:
        raise InvalidInputError(f"stages= has {', '.join(twice)} more than once: give each stage "
                                "once, with all its options.")
    for s in out:
        others = set(encoders)
        for t in out:
            if t is not s:
                others |= t.traits
        for need, why in s.requires.items():
            alternatives = need if isinstance(need, tuple) else (need,)
            if not others.intersection(alternatives) and not s.traits.intersection(alternatives):
                raise InvalidInputError(why)
        for trait, why in s.refuses.items():
            if trait in others:
                raise s.refusal(why)
    return tuple(sorted(out, key=lambda s: s.order))


def first_depth(stages: Sequence[Stage], k: int) -> int:
    """The first stage's depth: ``k`` widened by every later stage that needs more."""
    for s in stages:
        k = s.widen(k)
    return k


def find(stages: Sequence[Stage], kind: type) -> Any:
    """The stage of type ``kind`` in ``stages``, or ``None``."""
    return next((s for s in stages if isinstance(s, kind)), None)


__all__ = ["Stage", "Query", "check_stages", "encoder_traits", "first_depth", "find",
           "QUERY", "PLAN", "FEEDBACK", "CANDIDATES", "HITS", "DOCUMENTS"]
