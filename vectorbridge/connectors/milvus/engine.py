"""Milvus through pymilvus: a server URI, or Milvus Lite (a local ``.db`` file).

One collection per spec (the mapping: :mod:`.schema`), plus one companion collection per
multi-vector field (:mod:`.tokens`). Engine quantization of a dense field maps to Milvus' IVF
indexes (``scalar-int8`` -> ``IVF_SQ8``, ``pq-xN`` -> ``IVF_PQ``); a search fetches
``oversampling * k`` candidates and rescores them exactly with the float vectors Milvus keeps
beside it. Capabilities come from its version (:func:`~.capabilities.milvus_capabilities`);
the spec is a collection property; the collection is loaded when opened."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import math
import re

import numpy as np

from vectorbridge.connectors.calls import Call, Op, call, retry_sync
from vectorbridge.connectors.credentials import redact_url, secret_from, url_secrets
from vectorbridge.connectors.engine import Engine
from vectorbridge.connectors.filters import Filter
from vectorbridge.connectors.fusion import Fusion
from vectorbridge.connectors.milvus.capabilities import milvus_capabilities
from vectorbridge.connectors.milvus.convert import _query_data, _read_vector, to_entities, to_hits
from vectorbridge.connectors.milvus.filter import PAYLOAD_FIELD, ids_expr, literal
from vectorbridge.connectors.milvus.lite import LiteSize, held_elsewhere, load_after_flush
from vectorbridge.connectors.milvus.schema import (
    main_schema, token_schema, unsupported_reasons, _MAX_QUERY_ROWS, GRPC_KEEPALIVE, GROUP_FIELD,
    SPEC_PROPERTY, _index_now,
    companion, in_companion, index_for,
)
from vectorbridge.connectors.milvus.aliases import MilvusAliases
from vectorbridge.connectors.milvus.paging import MilvusPaging
from vectorbridge.connectors.milvus.tokens import TokenCollections
from vectorbridge.connectors.milvus.writes import MilvusWrites
from vectorbridge.connectors.results import Branch, Hit, Record, Rescore, chunks, exact_score
from vectorbridge.connectors.retry import Guard
from vectorbridge.connectors.spec import CollectionSpec, FieldType
from vectorbridge.connectors.validation import Rows
from vectorbridge.errors import InvalidInputError, SpecMismatchError
from vectorbridge.extras import requires

with requires("milvus", "MilvusConnector"):
    import grpc
    from pymilvus import AnnSearchRequest, AsyncMilvusClient, MilvusClient, RRFRanker, WeightedRanker
    from pymilvus.client.types import Status
    from pymilvus.exceptions import MilvusException


class MilvusEngine(TokenCollections, MilvusPaging, MilvusAliases, MilvusWrites, Engine):
    """Milvus or Milvus Lite behind pymilvus' ``MilvusClient`` / ``AsyncMilvusClient``; what
    the engine can hold is read from its version when it connects (:meth:`open`)."""

    def __init__(
        self,
        uri: str = "./vectorbridge.db",
        *,
        token: str | None = None,
        timeout: float | None = None,
        index_type: str | None = None,
        multivector_candidates: int = 100,
        ivf_nlist: int = 128,
        ivf_nprobe: int = 64,
        consistency_level: str = "Strong",
        client: MilvusClient | None = None,
        async_client: AsyncMilvusClient | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.remote = client is not None or bool(re.match(r"(?i)(https?|tcp|grpcs?|unix)://", str(uri)))
        if self.remote and client is None:
            token = secret_from(token, "MILVUS_TOKEN")
        # pymilvus pings every 10 s even on idle channels; gRPC servers with default limits
        # (milvus-lite's) answer that with GOAWAY "too_many_pings", which broke long-lived
        # async clients here. Ping no more often than those servers accept, and only
        # during calls; caller-given grpc_options override.
        client_kwargs["grpc_options"] = {**GRPC_KEEPALIVE, **client_kwargs.get("grpc_options", {})}
        self._aclient = async_client
        # Kept to open the async client on the same engine; never shown (see ``where``).
        self._uri: str | None = None if client is not None else str(uri)
        self._token, self._timeout, self._client_kwargs = token, timeout, client_kwargs
        self.where = redact_url(self._uri or "client")
        self.name = "milvus"
        self.client = client
        self._index_type = index_type
        self.ivf_nlist, self.ivf_nprobe = int(ivf_nlist), int(ivf_nprobe)
        self.consistency_level = consistency_level
        self.multivector_candidates = int(multivector_candidates)

    def open(self, guard: Guard) -> None:
        """Connect (connecting is a call too: a server that is starting is retried) and read
        the version, which decides the capabilities."""
        self._guard = guard  # its retry policy also bounds the token-row replays below

        def connect(fn: Any) -> Any:
            if not (self.remote and guard.retry.attempts > 1):
                return fn()
            return retry_sync(fn, guard, Call("connect"))

        if self.client is None:
            assert self._uri is not None
            try:
                self.client = connect(lambda: MilvusClient(
                    uri=self._uri, token=self._token or "", timeout=self._timeout,
                    **self._client_kwargs))
            except MilvusException as e:
                if (locked := held_elsewhere(self._uri, e)) is None:
                    raise
                raise locked from e
        self.server_version = str(connect(self.client.get_server_version))
        self.is_lite = self.server_version.startswith("milvus_lite")
        self.capabilities = milvus_capabilities(self.server_version)
        self.name = "milvus-lite" if self.is_lite else f"milvus {self.server_version}"
        self.index_type = self._index_type or ("FLAT" if self.is_lite else "AUTOINDEX")
        self.lite_size = LiteSize(self.index_type)

    def secrets(self) -> tuple[str, ...]:
        token = self._token or ""
        return (token, *token.split(":", 1)[1:], str(self._client_kwargs.get("password") or ""),
                *url_secrets(self._uri))

    def transient(self, exc: BaseException) -> bool:
        """Lost connections (refused, UNAVAILABLE, DEADLINE_EXCEEDED), pymilvus' own
        retriable errors, and a collection released by a server restart (reloaded by
        :meth:`recovery`); never a request the server rejected."""
        if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
            return exc.code() in _TRANSIENT_GRPC
        if isinstance(exc, MilvusException):
            if exc.code in _TRANSIENT_GRPC or exc.code == Status.CONNECT_FAILED or exc.retriable:
                return True
            return _released(exc)
        return isinstance(exc, (ConnectionError, TimeoutError))

    def recovery(self, exc: BaseException, method: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        name = kwargs.get("collection_name", args[0] if args else None)
        if isinstance(exc, MilvusException) and _released(exc) and isinstance(name, str):
            return ("load_collection", (name,))
        return None

    # -- capabilities ---------------------------------------------------------------------
    def unsupported(self, spec: CollectionSpec) -> list[str]:
        return unsupported_reasons(spec, self.capabilities, self.name, self.index_type,
                                   self.ivf_nlist)

    def async_client(self) -> AsyncMilvusClient:
        if self._aclient is None:
            if self._uri is None:
                raise InvalidInputError(
                    "this MilvusConnector wraps a client= it was given; for the async methods "
                    "also pass async_client=AsyncMilvusClient(...) on the same server."
                )
            self._aclient = AsyncMilvusClient(uri=self._uri, token=self._token or "",
                                              timeout=self._timeout, **self._client_kwargs)
        return self._aclient

    def _lite_sync(self, c: Call) -> Call:
        """Milvus Lite's async client cannot create collections (it waits on a timestamp
        service Lite lacks): those calls go to the sync client on the same engine."""
        return replace(c, sync_only=self.is_lite)

    # -- collections ----------------------------------------------------------------------
    def op_exists(self, name: str) -> Op[bool]:
        return bool((yield call("has_collection", name)))

    def _stored_spec(self, name: str) -> Op[CollectionSpec]:
        props = (yield call("describe_collection", name)).get("properties") or {}
        if SPEC_PROPERTY not in props:
            raise SpecMismatchError(
                f"Milvus collection {name!r} was not created by vectorbridge (no spec property); "
                "use another name or recreate=True."
            )
        return CollectionSpec.from_json(props[SPEC_PROPERTY])

    def op_spec(self, name: str) -> Op[CollectionSpec]:
        spec = yield from self._stored_spec(name)
        yield from self._load(spec)  # reopened collections start 'released' and refuse reads
        return spec

    def _load(self, spec: CollectionSpec) -> Op[None]:
        replicas = {"replica_number": spec.replicas} if spec.replicas and not self.is_lite else {}
        for name in [spec.name, *(companion(spec.name, f) for f in spec.multivector)]:
            yield self._lite_sync(call("load_collection", name, **replicas))

    def op_create(self, spec: CollectionSpec) -> Op[None]:
        schema, index = main_schema(spec, self.index_type, self.ivf_nlist,
                                    self.capabilities.scalar_index)
        layout = {k: v for k, v in (("num_shards", spec.shards),
                                    ("num_partitions", spec.num_partitions)) if v is not None}
        yield self._lite_sync(call("create_collection", spec.name, schema=schema,
                                   properties={SPEC_PROPERTY: spec.to_json()},
                                   consistency_level=self.consistency_level, **layout))
        yield _index_now(spec.name, index)
        for name, f in spec.multivector.items():
            tok, tidx = token_schema(f, self.index_type)
            yield self._lite_sync(call("create_collection", companion(spec.name, name),
                                       schema=tok, consistency_level=self.consistency_level))
            yield _index_now(companion(spec.name, name), tidx)
        described = yield call("describe_collection", spec.name)
        if not (described.get("properties") or {}).get(SPEC_PROPERTY):
            yield call("alter_collection_properties", spec.name,
                       properties={SPEC_PROPERTY: spec.to_json()})
        yield from self._load(spec)

    def op_drop(self, name: str) -> Op[None]:
        try:
            fields = list((yield from self._stored_spec(name)).multivector)
        except SpecMismatchError:
            fields = []
        for f in fields:
            if (yield call("has_collection", companion(name, f))):
                yield call("drop_collection", companion(name, f))
        yield call("drop_collection", name)

    # -- points ---------------------------------------------------------------------------
    def op_upsert(self, spec: CollectionSpec, rows: Rows) -> Op[None]:
        self.forget_scrolls(spec.name)
        for name in spec.multivector:
            yield from self._replace_tokens(spec, rows, name)
        yield call("upsert", spec.name, to_entities(spec, rows))
        if self.is_lite and self.lite_size.wrote(spec.name, len(rows)):
            self.lite_size.check(spec.name, (yield from self.op_count(spec, None)))

    def op_get(self, spec: CollectionSpec, ids: list[str],
                with_vectors: bool | list[str]) -> Op[list[Record]]:
        fields = spec.fields
        chosen = set(fields) if with_vectors is True else set(with_vectors or ())
        plain = [n for n, f in fields.items() if not in_companion(f) and n in chosen]
        multi = [n for n in spec.multivector if n in chosen]
        output = ["id", PAYLOAD_FIELD, *(plain if with_vectors else [])]
        records = []
        for part in chunks(ids, 1024):
            part = list(part)
            rows = yield call("query", spec.name, filter=ids_expr("id", part),
                              output_fields=output, limit=len(part))
            mats = {}
            for n in multi:
                mats[n] = yield from self._token_matrices(spec, n, part)
            for r in rows:
                vectors: dict[str, Any] = {}
                if with_vectors:
                    for n in plain:
                        vectors[n] = _read_vector(fields[n], r[n])
                    for n in multi:
                        vectors[n] = mats[n].get(r["id"], np.zeros((0, fields[n].dim), np.float32))
                records.append(Record(id=r["id"], payload=dict(r.get(PAYLOAD_FIELD) or {}),
                                      vectors=vectors))
        return records

    def _matching_ids(self, spec: CollectionSpec, flt: Filter | None) -> Op[list[str]]:
        """All ids matching ``flt``, however many (Milvus caps rows per query).

        A full page is split at its median id into ``[lo, median)`` and ``[median, hi)``,
        each strictly smaller, until every range fits in one page. Unlike paging on
        ``id > last`` (pymilvus' ``query_iterator``, which also pastes the last id into the
        expression unescaped), this does not rely on the engine returning ids in order,
        which Milvus Lite does not.
        """
        expr = self._expr(spec, flt) or 'id != ""'
        out: list[str] = []
        ranges: list[tuple[str | None, str | None]] = [(None, None)]
        while ranges:
            lo, hi = ranges.pop()
            conds = [expr]
            if lo is not None:
                conds.append(f"id >= {literal(lo)}")
            if hi is not None:
                conds.append(f"id < {literal(hi)}")
            page = [r["id"] for r in (yield call(
                "query", spec.name, filter=" and ".join(f"({c})" for c in conds),
                output_fields=["id"], limit=_MAX_QUERY_ROWS))]
            if len(page) < _MAX_QUERY_ROWS:
                out.extend(page)
                continue
            pivot = sorted(page)[len(page) // 2]
            ranges += [(lo, pivot), (pivot, hi)]
        return out

    def op_delete(self, spec: CollectionSpec, ids: list[str] | None, flt: Filter | None) -> Op[None]:
        self.forget_scrolls(spec.name)
        targets = set(ids or [])
        if flt is not None and not spec.multivector:
            # one engine-side pass
            yield call("delete", spec.name, filter=self._expr(spec, flt))
        elif flt is not None:  # token rows live elsewhere: resolve the ids first
            targets.update((yield from self._matching_ids(spec, flt)))
        for part in chunks(sorted(targets), 1024):
            expr_ids = list(part)
            for name in spec.multivector:
                yield call("delete", companion(spec.name, name), filter=ids_expr("doc_id", expr_ids))
            yield call("delete", spec.name, filter=ids_expr("id", expr_ids))

    def op_ids(self, spec: CollectionSpec, flt: Filter | None) -> Op[list[str]]:
        return (yield from self._matching_ids(spec, flt))

    def op_count(self, spec: CollectionSpec, flt: Filter | None) -> Op[int]:
        expr = self._expr(spec, flt) or 'id != ""'
        res = yield call("query", spec.name, filter=expr, output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def op_search(self, spec: CollectionSpec, field_name: str, f: FieldType, query: Any,
                   k: int, flt: Filter | None, with_vectors: bool) -> Op[list[Hit]]:
        if in_companion(f):
            hits = yield from self._maxsim_search(spec, field_name, f, query, k, flt)
            if with_vectors and hits:
                mats = yield from self._token_matrices(spec, field_name, [h.id for h in hits])
                hits = [replace(h, vectors={field_name: mats[h.id]}) for h in hits]
            return hits
        data, metric = _query_data(f, query)
        # quantized: the index's scores are approximate, ranked again by the kept floats
        quantized = f.quantization is not None and f.rescore
        limit = math.ceil(f.oversampling * k) if quantized else k
        res = yield call("search", spec.name, data=[data], anns_field=field_name, limit=limit,
                         filter=self._expr(spec, flt),
                         output_fields=[PAYLOAD_FIELD,
                                        *([field_name] if with_vectors or quantized else [])],
                         search_params=self._search_params(f, metric, flt))
        hits = to_hits(f, res[0], field_name if with_vectors or quantized else None)
        if quantized:
            hits = sorted((replace(h, score=exact_score(f, query, h.vectors[field_name]),
                                   vectors=h.vectors if with_vectors else {}) for h in hits),
                          key=lambda h: (-h.score, h.id))[:k]
        return hits

    def op_group_search(self, spec: CollectionSpec, field_name: str, f: FieldType, query: Any,
                        k: int, flt: Filter | None, key: str,
                        size: int) -> Op[list[Hit] | None]:
        """``group_by_field`` on the scalar copy of the spec's ``group_key`` (Milvus groups
        only scalar fields; payloads are JSON), for exact-scored fields."""
        if not self.capabilities.native_grouping or key != spec.group_key or \
                in_companion(f) or f.quantization:
            return None
        data, metric = _query_data(f, query)
        res = yield call("search", spec.name, data=[data], anns_field=field_name, limit=k,
                         filter=self._expr(spec, flt), output_fields=[PAYLOAD_FIELD],
                         group_by_field=GROUP_FIELD, group_size=size,
                         search_params=self._search_params(f, metric, flt))
        return to_hits(f, res[0])

    def _search_params(self, f: FieldType, metric: str, flt: Filter | None) -> dict[str, Any]:
        """With a filter, an IVF index visits every list: the points a filter keeps can sit
        in lists ``nprobe`` would skip, and a selective filter then returns fewer than k
        results (seen: 3 of 6 matching points at nprobe=64 of 128). Unfiltered searches
        visit ``ivf_nprobe`` lists."""
        if f.quantization is not None:
            nprobe = self.ivf_nlist if flt is not None else self.ivf_nprobe
            return {"metric_type": metric, "params": {"nprobe": nprobe}}
        return {"metric_type": metric}

    def op_hybrid(self, spec: CollectionSpec, branches: list[Branch], fusion: Fusion, k: int,
                   flt: Filter | None, rescore: Rescore | None) -> Op[list[Hit] | None]:
        if not self.capabilities.fuses_natively(fusion):
            return None  # Milvus 2.3, DBSF, weighted RRF: per-field searches, fused here
        if any(in_companion(b.field) for b in branches) or \
                (rescore is not None and rescore.mode == "fuse"):
            return None  # token vectors live in companion collections; exact branches fuse here
        expr = self._expr(spec, flt)
        reqs = []
        for b in branches:
            data, metric = _query_data(b.field, b.query)
            reqs.append(AnnSearchRequest(data=[data], anns_field=b.name, limit=b.depth,
                                         param=self._search_params(b.field, metric, flt),
                                         expr=expr or None))
        ranker = RRFRanker(fusion.k) if fusion.kind == "rrf" else \
            WeightedRanker(*fusion.weights_for(len(branches)))
        limit = rescore.depth if rescore else k
        res = yield call("hybrid_search", spec.name, reqs, ranker, limit=limit,
                         output_fields=[PAYLOAD_FIELD])
        hits = to_hits(None, res[0])
        if rescore is None:
            return hits
        return (yield from self.op_rescore(spec, rescore, [h.id for h in hits], k))

    def op_rescore(self, spec: CollectionSpec, rescore: Rescore, ids: list[str],
                    k: int) -> Op[list[Hit]]:
        if not in_companion(rescore.field):
            return (yield from super().op_rescore(spec, rescore, ids, k))
        mats = yield from self._token_matrices(spec, rescore.name, ids)
        scored = sorted(((exact_score(rescore.field, rescore.query, m), d) for d, m in mats.items()),
                        key=lambda t: (-t[0], t[1]))[:k]
        records = yield from self.op_get(spec, [d for _, d in scored], False)
        payloads = {r.id: r.payload for r in records}
        return [Hit(id=d, score=s, payload=payloads.get(d, {})) for s, d in scored]

    def optimize(self, spec: CollectionSpec) -> None:
        """Seal growing segments (``flush``): Milvus indexes sealed segments only. Milvus
        Lite builds them in the background and switches searches over when done (seen: 4 of
        100 rankings changing between two calls right after ``flush``); reloading makes it
        serve from the indexes from here on. Lite past its size logs a warning, once."""
        names = [spec.name, *(companion(spec.name, f) for f in spec.multivector)]
        for name in names:
            self.client.flush(name)
        if self.is_lite:
            for name in names:
                self.client.release_collection(name)
                load_after_flush(self.client, name)
            self.lite_size.check(spec.name, int(self.client.query(
                spec.name, filter='id != ""', output_fields=["count(*)"])[0]["count(*)"]))

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = None
        self.close()


_TRANSIENT_GRPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _released(exc: MilvusException) -> bool:
    """A read on a collection a server restart left unloaded (Milvus code 101)."""
    text = str(exc.message).lower()
    return exc.code == 101 or "released" in text or "not loaded" in text


__all__ = ["MilvusEngine", "milvus_capabilities", "companion", "index_for"]
