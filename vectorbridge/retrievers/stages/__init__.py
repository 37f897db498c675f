"""Retrieval stages: each one idea with its own options, each a flow written once for sync
and async (:mod:`~vectorbridge.retrievers.twins`).

- :mod:`.base`: the :class:`Stage` protocol, the per-query state, and the checks that read
  each stage's declared requirements and refusals.
- :mod:`.candidates`: the candidate query (plan and search), central to every retrieval.
- :mod:`.compression` (:class:`Quantized`, :class:`Reduction`), :mod:`.late_interaction`
  (:class:`MaxSim`), :mod:`.shaping` (:class:`AdaptQuery`, :class:`Grouping`,
  :class:`Formula`), :mod:`.final` (:class:`Calibrate`, :class:`Rerank`); beside them
  :class:`~vectorbridge.retrievers.feedback.PseudoRelevanceFeedback` and
  :class:`~vectorbridge.retrievers.diversity.MMR`, which are stages too.
"""

from vectorbridge.retrievers.stages.base import Query, Stage, check_stages
from vectorbridge.retrievers.stages.compression import Quantized, Reduction
from vectorbridge.retrievers.stages.final import Calibrate, Rerank
from vectorbridge.retrievers.stages.late_interaction import MaxSim
from vectorbridge.retrievers.stages.shaping import AdaptQuery, Formula, Grouping

__all__ = ["Stage", "Query", "check_stages", "Quantized", "Reduction", "Calibrate", "Rerank",
           "MaxSim", "AdaptQuery", "Formula", "Grouping"]
