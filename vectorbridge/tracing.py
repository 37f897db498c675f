"""OpenTelemetry spans for connector operations and retrieval stages, free when it is absent.

The engines will not trace themselves (Qdrant declined OpenTelemetry in 2026; Milvus Lite has
none), so the layer that calls them is the place to see where a slow or empty answer came
from. Every public connector operation (``search``, ``hybrid_search``, ``upsert``, ...) is one
span, and every retrieval is a ``vectorbridge.retrieve`` span whose children are the query
encoders, the candidate search and each stage, in the order they ran; the connector spans nest
under the stage that made them.

The OpenTelemetry *API* is an optional dependency (``pip install "vectorbridge[otel]"``;
:mod:`vectorbridge.extras`):

- not installed: :func:`span` hands back one shared do-nothing object, no import, no context;
- installed with no SDK configured: spans are the API's non-recording spans, and attributes
  (which may cost a ``len`` or a byte count) are computed only for a span that records;
- with an SDK and an exporter configured by the application, spans go where it says.

Attribute names follow the database semantic conventions where one exists
(``db.system.name``, ``db.operation.name``, ``db.collection.name``); the rest are
``vectorbridge.*``. The docs' Observe page shows a console exporter.
"""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Integral
from typing import Any, Callable, Iterator, Mapping

try:  # the API only; an application that wants spans exported configures an SDK
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - exercised by the packaging smoke test
    _trace = None

#: Instrumentation scope of every span vectorbridge makes.
TRACER_NAME = "vectorbridge"
#: Name of the LangChain custom event the retrievers dispatch after each stage.
STAGE_EVENT = "vectorbridge_stage"

_tracer: Any = None  # the tracer spans come from, once a provider that records is known
_chosen = False  # whether the application named the provider (use_tracer_provider)


class _NoSpan:
    """What :func:`span` yields without OpenTelemetry: every method a span has, doing nothing."""

    def __enter__(self) -> "_NoSpan":
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def is_recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass


_NO_SPAN = _NoSpan()


def enabled() -> bool:
    """Whether spans are being recorded: the OpenTelemetry API is installed and a provider
    that records (an SDK's) is configured."""
    return _trace is not None and _active_tracer() is not None


def use_tracer_provider(provider: Any) -> None:
    """Take spans from ``provider`` (an SDK ``TracerProvider``) instead of the global one
    OpenTelemetry's ``set_tracer_provider`` installs; ``None`` goes back to the global."""
    global _tracer, _chosen
    _tracer, _chosen = (None, False) if provider is None else (_new_tracer(provider), True)


def _new_tracer(provider: Any) -> Any:
    from vectorbridge import __version__

    return provider.get_tracer(TRACER_NAME, __version__)


def _active_tracer() -> Any:
    """The tracer to record with, or ``None`` while no provider would record: without an
    SDK the global provider is the API's proxy, whose spans record nothing, and skipping
    them keeps an instrumented call as fast as an uninstrumented one."""
    global _tracer
    if _tracer is None and not _chosen:
        provider = _trace.get_tracer_provider()
        if isinstance(provider, _trace.ProxyTracerProvider):
            return None  # asked again next time: the application may configure one later
        _tracer = _new_tracer(provider)  # set once per process: OpenTelemetry keeps the first
    return _tracer


@contextmanager
def _recording(tracer: Any, name: str, attributes: Callable[[], Mapping[str, Any]] | None,
               client: bool) -> Iterator[Any]:
    kind = _trace.SpanKind.CLIENT if client else _trace.SpanKind.INTERNAL
    with tracer.start_as_current_span(name, kind=kind) as s:
        if attributes is not None and s.is_recording():
            s.set_attributes({k: v for k, v in attributes().items() if v is not None})
        yield s


def span(name: str, attributes: Callable[[], Mapping[str, Any]] | None = None, *,
         client: bool = False) -> Any:
    """A context manager making span ``name`` current, yielding it. ``attributes`` is called
    only when the span records (an SDK is configured), so it may count and measure; ``None``
    values are left out. Errors inside are recorded on the span and re-raised. ``client``:
    a call to a database (span kind ``CLIENT``, as the database conventions ask)."""
    tracer = None if _trace is None else _active_tracer()
    if tracer is None:
        return _NO_SPAN
    return _recording(tracer, name, attributes, client)


def current() -> Any:
    """The current span (the do-nothing one without OpenTelemetry), to add to what it says."""
    return _NO_SPAN if _trace is None else _trace.get_current_span()


def retried(method: str, error: BaseException, attempt: int, delay: float) -> None:
    """Note a retry on the current span: one ``retry`` event and the running count."""
    s = current()
    if s.is_recording():
        s.add_event("retry", {"vectorbridge.call": method, "error.type": type(error).__name__,
                              "vectorbridge.attempt": attempt, "vectorbridge.delay_s": delay})
        s.set_attribute("vectorbridge.retries", attempt)


# -- connector operations -------------------------------------------------------------------
def _bytes(value: Any) -> int:
    """Approximate bytes a written value carries (vectors as arrays, payloads as text)."""
    nbytes = getattr(value, "nbytes", None)
    if nbytes is not None:
        return int(nbytes)
    if isinstance(value, Mapping):
        return sum(len(str(k)) + _bytes(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_bytes(v) for v in value)
    if isinstance(value, (int, float)):
        return 8
    if value is None:
        return 0
    indices = getattr(value, "indices", None)  # a SparseVector
    if indices is not None:
        return 8 * len(indices)
    return len(str(value).encode("utf-8", "replace"))


def operation_attributes(connector: Any, operation: str,
                         arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of one connector operation called with ``arguments``."""
    engine = getattr(connector, "engine", "?")
    out: dict[str, Any] = {
        "db.system.name": engine.split("-")[0],  # qdrant-edge -> qdrant
        "db.operation.name": operation,
        "vectorbridge.engine": engine,
    }
    collection = next((arguments[key] for key in ("collection", "name", "spec")
                       if arguments.get(key) is not None), None)
    if isinstance(collection, str):
        out["db.collection.name"] = collection
    elif collection is not None and hasattr(collection, "name"):  # create_collection(spec)
        out["db.collection.name"] = collection.name
    tenant = getattr(connector, "tenant_id", None)
    if tenant is not None:
        out["vectorbridge.tenant"] = tenant
    for key in ("k", "fetch_k", "prefetch_k", "limit", "batch_size"):
        value = arguments.get(key)
        if isinstance(value, Integral) and not isinstance(value, bool):
            out[f"vectorbridge.{key}"] = int(value)
        elif isinstance(value, Mapping):  # a depth per branch
            out[f"vectorbridge.{key}"] = [int(v) for v in value.values()]
    if arguments.get("field") is not None:
        out["vectorbridge.field"] = str(arguments["field"])
    fusion = arguments.get("fusion")
    if fusion is None and operation == "hybrid_search":
        fusion = getattr(connector, "default_fusion", None)  # what the call ran with
    if fusion is not None:  # a Fusion: its kind, and RRF's rank constant or the weights
        kind = str(getattr(fusion, "kind", fusion))
        out["vectorbridge.fusion"] = kind
        if kind == "rrf" and isinstance(getattr(fusion, "k", None), Integral):
            out["vectorbridge.fusion.k"] = int(fusion.k)
        if getattr(fusion, "weights", None) is not None:
            out["vectorbridge.fusion.weights"] = [float(w) for w in fusion.weights]
    queries = arguments.get("queries")
    if isinstance(queries, Mapping):
        out["vectorbridge.branches"] = len(queries)
        out["vectorbridge.branch_fields"] = [str(f) for f in queries]
    if arguments.get("filter") is not None:
        out["vectorbridge.filtered"] = True
    rescore = arguments.get("rescore")
    if isinstance(rescore, tuple) and rescore:  # a second stage in the engine (e.g. MaxSim)
        out["vectorbridge.rescore.field"] = str(rescore[0])
        out["vectorbridge.rescore.mode"] = str(arguments.get("rescore_mode"))
        if isinstance(arguments.get("rescore_k"), int):
            out["vectorbridge.rescore.k"] = arguments["rescore_k"]
    if arguments.get("group_by") is not None:
        out["vectorbridge.group_by"] = str(arguments["group_by"])
    if arguments.get("formula") is not None:
        out["vectorbridge.formula"] = True
    ids = arguments.get("ids")
    if isinstance(ids, (list, tuple)):
        out["vectorbridge.ids"] = len(ids)
    if operation == "upsert":
        out["vectorbridge.bytes_written"] = _bytes(arguments.get("vectors")) + \
            _bytes(arguments.get("payloads"))
    return out


def operation_span(connector: Any, operation: str,
                   arguments: Callable[[], Mapping[str, Any]]) -> Any:
    """The span of one public connector operation (``arguments``: the call's arguments by
    name, read only when the span records)."""
    return span(f"vectorbridge.{operation}",
                lambda: operation_attributes(connector, operation, arguments()), client=True)


def note_result(s: Any, result: Any) -> None:
    """What an operation returned, on its span: hits or points found, points written."""
    if not s.is_recording():
        return
    if isinstance(result, list):
        s.set_attribute("vectorbridge.hits", len(result))
    elif isinstance(result, int) and not isinstance(result, bool):
        s.set_attribute("vectorbridge.result", result)


# -- LangChain callback events --------------------------------------------------------------
class StageEvents:
    """Dispatches :data:`STAGE_EVENT` to a retriever run's LangChain callbacks, sync or async
    (a :class:`~vectorbridge.retrievers.twins.Twin` target: ``emit`` / ``aemit``)."""

    @staticmethod
    def emit(callbacks: Any, data: dict[str, Any]) -> None:
        callbacks.on_custom_event(STAGE_EVENT, data, run_id=callbacks.parent_run_id)

    @staticmethod
    async def aemit(callbacks: Any, data: dict[str, Any]) -> None:
        await callbacks.on_custom_event(STAGE_EVENT, data, run_id=callbacks.parent_run_id)


__all__ = ["TRACER_NAME", "STAGE_EVENT", "use_tracer_provider", "span", "current", "enabled",
           "operation_span", "operation_attributes", "note_result", "retried", "StageEvents"]
