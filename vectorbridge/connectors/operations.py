"""Every connector operation, written once as a generator of client calls.

:class:`Operations` is the half of :class:`~vectorbridge.connectors.base.Connector` that
validates a call completely, then drives the engine's ``op_*`` generators (so a bad call never
writes anything), keeps the specs it has seen, cuts every result list in the one order
(:func:`~vectorbridge.connectors.results.rank_key`) and fuses or rescores client-side where
the engine cannot. The public sync and async methods run these bodies on the engine's
blocking or async client.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from vectorbridge.connectors.calls import Op
from vectorbridge.connectors.engine import Capabilities, Engine
from vectorbridge.connectors.filters import as_filter
from vectorbridge.connectors.fusion import Fusion, as_fusion, fuse
from vectorbridge.connectors.grouping import check_grouping, grouped
from vectorbridge.connectors.queries import FeedbackQuery
from vectorbridge.connectors.scoring import ScoreFormula, apply_formula, check_formula
from vectorbridge.connectors.results import (
    DEFAULT_PREFETCH_K, MAX_TIE_WIDENING, RESCORE_MODES, Branch, Hit, Page, Record, Rescore,
    rank_key, tie_margin,
)
from vectorbridge.connectors.spec import CollectionSpec, DenseField, Metric, \
    check_name
from vectorbridge.connectors.validation import check_ids, check_k, check_query
from vectorbridge.encoders.types import SparseVector
from vectorbridge.errors import CollectionNotFoundError, InvalidInputError, SpecMismatchError, \
    TenantScopeError, UnsupportedFeatureError, VectorBridgeError


class Operations:
    """The operations of a connector over ``self.backend`` (an :class:`Engine`)."""

    backend: Engine
    engine: str
    default_fusion: Fusion
    _specs: dict[str, CollectionSpec]
    unsupported: Callable[[CollectionSpec], list[str]]
    capabilities: Capabilities

    def _tie_safe(self, fetch: Callable[[int], Op[list[Hit] | None]],
                  k: int) -> Op[list[Hit] | None]:
        """The top ``k`` of ``fetch(n)`` in :func:`rank_key` order, deterministic where the
        engine's own order of ties is not.

        The engine is asked for ``n = k + tie_margin(k)`` results; when the last one still
        ties with the k-th, a tied result may have been left out at the engine's cut, so the
        request is doubled (up to ``MAX_TIE_WIDENING`` times the first) until the tie ends
        inside what came back or the engine has no more. ``None`` (the engine cannot run
        the request) is passed through."""
        n = first = k + tie_margin(k)
        while True:
            hits = yield from fetch(n)
            if hits is None:
                return None
            ordered = sorted(hits, key=rank_key)
            if len(hits) < n or len(ordered) <= k or ordered[-1].score < ordered[k - 1].score \
                    or n >= first * MAX_TIE_WIDENING:
                return ordered[:k]
            n *= 2

    def _runnable(self, query: Any) -> Any:
        """``query``, unless it is a kind only some engines run and this one does not."""
        if isinstance(query, FeedbackQuery) and not self.capabilities.native_feedback:
            raise UnsupportedFeatureError(
                f"{self.engine} has no relevance-feedback query (Qdrant engines have it); "
                "search with a moved query vector instead (PseudoRelevanceFeedback's Rocchio).")
        return query

    #: Whether this connector may read and write a tenant collection (a tenant handle, or
    #: the explicit ``all_tenants()``; :mod:`~vectorbridge.connectors.tenants`).
    _tenant_aware = False

    def _data_spec(self, collection: str) -> Op[CollectionSpec]:
        """The spec of a collection about to be read or written: a tenant collection only
        through a tenant handle (one forgotten filter must not show every tenant)."""
        spec = yield from self._do_spec(collection)
        if spec.tenant_key is not None and not self._tenant_aware:
            raise TenantScopeError(
                f"collection {spec.name!r} is shared by tenants (tenant_key="
                f"{spec.tenant_key!r}): read and write it through connector.tenant(<tenant>), "
                "or connector.all_tenants() for an admin job over every tenant.")
        return spec

    def _check_droppable(self, name: str) -> Op[None]:
        """Dropping a tenant collection drops every tenant's data: ``all_tenants()`` only.
        (A collection vectorbridge did not create has no spec, and no tenants.)"""
        try:
            spec = yield from self.backend.op_spec(name)
        except VectorBridgeError:
            return
        if spec.tenant_key is not None and not self._tenant_aware:
            raise TenantScopeError(f"collection {name!r} is shared by tenants: drop or recreate "
                                   "it through connector.all_tenants(), which says so.")

    # -- operations, written once for both twins ------------------------------------------
    def _do_spec(self, name: str) -> Op[CollectionSpec]:
        cached = self._specs.get(name)
        if cached is not None:
            return cached
        check_name(name, "collection")
        target = yield from self.backend.op_alias_target(name)
        if target is not None:  # resolved on every call, so a moved alias is seen at once
            return (yield from self._do_spec(target))
        if not (yield from self.backend.op_exists(name)):
            raise CollectionNotFoundError(
                f"collection {name!r} does not exist on {self.engine}; create it with "
                "create_collection(CollectionSpec(...))."
            )
        self._specs[name] = spec = yield from self.backend.op_spec(name)
        return spec

    def _do_has(self, name: str) -> Op[bool]:
        if (yield from self.backend.op_exists(check_name(name, "collection"))):
            return True
        return (yield from self.backend.op_alias_target(name)) is not None

    def _do_create(self, spec: CollectionSpec, recreate: bool) -> Op[CollectionSpec]:
        if not isinstance(spec, CollectionSpec):
            raise InvalidInputError(f"create_collection needs a CollectionSpec, got {type(spec).__name__}.")
        problems = self.unsupported(spec)
        if problems:
            raise UnsupportedFeatureError(f"{self.engine} cannot hold collection {spec.name!r}: "
                                          + "; ".join(problems))
        target = yield from self.backend.op_alias_target(spec.name)
        if target is not None:  # an alias: its collection must hold these fields
            if recreate:
                raise InvalidInputError(
                    f"{spec.name!r} is an alias of collection {target!r} on {self.engine}; "
                    "recreate=True would drop the collection readers use. Build the new "
                    "version under another name and move the alias (set_alias).")
            existing = yield from self._do_spec(target)
            if not existing.same_fields(spec):
                raise SpecMismatchError(
                    f"alias {spec.name!r} names collection {target!r}, which holds "
                    f"{existing.to_json()}, not the spec given {spec.to_json()}.")
            return existing
        if (yield from self.backend.op_exists(spec.name)):
            if recreate:
                yield from self._check_droppable(spec.name)
                yield from self._check_not_aliased(spec.name)
                self._specs.pop(spec.name, None)
                yield from self.backend.op_drop(spec.name)
            else:
                existing = yield from self.backend.op_spec(spec.name)
                if not existing.same_fields(spec):
                    raise SpecMismatchError(
                        f"collection {spec.name!r} already exists on {self.engine} with "
                        f"{existing.to_json()}, which differs from the spec given "
                        f"{spec.to_json()}. Use another name, or recreate=True to drop it "
                        "(its data is lost)."
                    )
                self._specs[spec.name] = existing
                return existing
        yield from self.backend.op_create(spec)
        self._specs[spec.name] = spec
        return spec

    def _do_drop(self, name: str) -> Op[None]:
        check_name(name, "collection")
        target = yield from self.backend.op_alias_target(name)
        if target is not None:
            raise InvalidInputError(
                f"{name!r} is an alias of collection {target!r}: drop_alias({name!r}) removes "
                f"the alias, drop_collection({target!r}) the data (after moving the alias).")
        if (yield from self.backend.op_exists(name)):
            yield from self._check_droppable(name)
            yield from self._check_not_aliased(name)
            self._specs.pop(name, None)
            yield from self.backend.op_drop(name)
        self._specs.pop(name, None)

    def _do_scroll(self, collection: str, cursor: str | None, limit: int, filter: Any,
                   with_vectors: bool | Sequence[str]) -> Op[Page]:
        spec = yield from self._data_spec(collection)
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidInputError(f"cursor must be None or the next_cursor string of the "
                                    f"page before, got {type(cursor).__name__}.")
        limit, flt = check_k(limit), as_filter(filter)
        readable = [n for n, f in spec.fields.items()  # engine-BM25 fields: the text is stored
                    if not f.from_text]
        if with_vectors is True:
            chosen: bool | list[str] = readable
        elif not with_vectors:
            chosen = False
        else:
            chosen = [str(n) for n in with_vectors]
            wrong = [n for n in chosen if n not in readable]
            if wrong:
                raise InvalidInputError(f"with_vectors={chosen!r}: {wrong} are not stored vector "
                                        f"fields of {collection!r} (readable: {readable}; "
                                        "engine-BM25 fields are derived from the text).")
        records, nxt = yield from self.backend.op_scroll(spec, cursor, limit, flt, chosen)
        return Page(records, nxt)


    def _do_get(self, collection: str, ids: Sequence[str],
                with_vectors: bool | Sequence[str]) -> Op[list[Record]]:
        spec = yield from self._data_spec(collection)
        id_list = check_ids(ids)
        if not isinstance(with_vectors, bool):  # a selection of fields
            with_vectors = [str(n) for n in with_vectors]
            unknown = [n for n in with_vectors if n not in spec.fields]
            if unknown or not with_vectors:
                raise InvalidInputError(f"with_vectors={with_vectors!r}: give True, False or field "
                                        f"names of collection {collection!r} ({sorted(spec.fields)}).")
        if not id_list:
            return []
        found = {r.id: r for r in (yield from self.backend.op_get(spec, id_list, with_vectors))}
        return [found[i] for i in id_list if i in found]

    def _do_ids(self, collection: str, filter: Any) -> Op[list[str]]:
        spec = yield from self._data_spec(collection)
        return sorted((yield from self.backend.op_ids(spec, as_filter(filter))))

    def _do_rescore(self, collection: str, field_name: str, query: Any, ids: Sequence[str],
                    k: int, filter: Any) -> Op[list[Hit]]:
        spec = yield from self._data_spec(collection)
        q = check_query(spec, field_name, query)
        id_list, k, flt = check_ids(ids), check_k(k), as_filter(filter)
        if flt is not None and id_list:  # the portable filter's Python evaluator on payloads
            id_list = [r.id for r in (yield from self.backend.op_get(spec, id_list, False))
                       if flt.matches(r.payload)]
        if not id_list:
            return []
        rescore = Rescore(field_name, spec.field(field_name), q, len(id_list))
        return (yield from self._tie_safe(lambda n: self.backend.op_rescore(spec, rescore, id_list, n), k))

    def _do_count(self, collection: str, filter: Any) -> Op[int]:
        spec = yield from self._data_spec(collection)
        return (yield from self.backend.op_count(spec, as_filter(filter)))

    def _do_search(self, collection: str, field_name: str, query: Any, k: int, filter: Any,
                   with_vectors: bool, group_by: str | None = None, group_size: int = 1,
                   formula: ScoreFormula | None = None) -> Op[list[Hit]]:
        spec = yield from self._data_spec(collection)
        f = spec.field(field_name)
        q = self._runnable(check_query(spec, field_name, query))
        k, flt = check_k(k), as_filter(filter)
        key, size = check_grouping(group_by, group_size)
        check_formula(formula, key)
        if isinstance(q, SparseVector) and not len(q):
            return []  # no term to match: every engine would score all points 0

        def ranked(n: int) -> Op[list[Hit]]:
            return (yield from self._tie_safe(
                lambda m: self.backend.op_search(spec, field_name, f, q, m, flt, with_vectors), n))

        if formula is not None:
            native = None if with_vectors else (yield from self._tie_safe(
                lambda n: self.backend.op_formula(spec, field_name, f, q, n, flt, formula), k))
            if native is not None:
                return native
            return apply_formula(formula, (yield from ranked(max(formula.depth, k))), k)
        if key is None:
            return (yield from ranked(k))
        if not with_vectors:
            native = yield from self.backend.op_group_search(spec, field_name, f, q, k, flt, key, size)
            if native is not None:
                return native
        return (yield from grouped(ranked, key, k, size))

    def _do_mmr(self, collection: str, field_name: str, query: Any, k: int, fetch_k: int,
                lambda_mult: float, filter: Any) -> Op[list[Hit]]:
        spec = yield from self._data_spec(collection)
        f = spec.field(field_name)
        q = check_query(spec, field_name, query)
        k, fetch_k, flt = check_k(k), check_k(fetch_k), as_filter(filter)
        if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, (int, float)) or \
                not 0.0 <= lambda_mult <= 1.0:
            raise InvalidInputError(f"lambda_mult must be in [0, 1] (1 = pure relevance), got "
                                    f"{lambda_mult!r}.")
        if not self.capabilities.native_mmr or not isinstance(f, DenseField):
            raise UnsupportedFeatureError(
                f"{self.engine} has no MMR of its own over field {field_name!r} (Qdrant engines "
                "run it on dense fields). Search with with_vectors=True and select client-side: "
                "VectorBridgeStore.max_marginal_relevance_search does this.")
        return (yield from self.backend.op_mmr(spec, field_name, f, q, k, max(fetch_k, k),
                                               float(lambda_mult), flt))

    def _do_hybrid(self, collection: str, queries: Mapping[str, Any], k: int, fusion: Any,
                   prefetch_k: int | Mapping[str, int], filter: Any,
                   rescore: tuple[str, Any] | None, rescore_k: int | None,
                   rescore_mode: str, group_by: str | None = None, group_size: int = 1,
                   formula: ScoreFormula | None = None) -> Op[list[Hit]]:
        key, size = check_grouping(group_by, group_size)
        check_formula(formula, key)
        if formula is not None:  # over the fused ranking's best formula.depth
            return apply_formula(formula, (yield from self._do_hybrid(
                collection, queries, max(formula.depth, check_k(k)), fusion, prefetch_k, filter, rescore,
                rescore_k, rescore_mode)), check_k(k))
        if key is not None:  # the fused ranking, paged until k groups fill
            return (yield from grouped(lambda n: self._do_hybrid(
                collection, queries, n, fusion, prefetch_k, filter, rescore, rescore_k,
                rescore_mode), key, check_k(k), size))
        spec = yield from self._data_spec(collection)
        k, flt = check_k(k), as_filter(filter)
        fusion = self.default_fusion if fusion is None else as_fusion(fusion)
        if not isinstance(queries, Mapping) or not queries:
            raise InvalidInputError("queries must be a non-empty dict {field name: query vector}.")
        second = None
        if rescore is not None:
            if not isinstance(rescore, tuple) or len(rescore) != 2:
                raise InvalidInputError("rescore must be a (field name, query) pair.")
            if rescore_mode not in RESCORE_MODES:
                raise InvalidInputError(f"rescore_mode {rescore_mode!r} is not one of {RESCORE_MODES}.")
            rname, rquery = rescore
            depth = check_k(rescore_k) if rescore_k is not None else max(DEFAULT_PREFETCH_K, k)
            second = Rescore(rname, spec.field(rname), check_query(spec, rname, rquery), depth,
                             rescore_mode)  # type: ignore[arg-type]
        fuse_second = second is not None and second.mode == "fuse"
        first_k = second.depth if second and not fuse_second else k
        weights = fusion.weights_for(len(queries) + fuse_second)
        branches, kept = [], []
        for (name, query), w in zip(queries.items(), weights):
            depth = prefetch_k.get(name, DEFAULT_PREFETCH_K) if isinstance(prefetch_k, Mapping) \
                else prefetch_k
            q = self._runnable(check_query(spec, name, query))
            if isinstance(q, SparseVector) and not len(q):
                continue  # a branch without terms adds nothing
            branches.append(Branch(name, spec.field(name), q, max(check_k(depth), first_k)))
            kept.append(w)
        if not branches:
            return []
        kept += weights[len(queries):]  # the rescore branch's weight, in "fuse" mode
        if len(kept) != len(weights):
            fusion = Fusion(fusion.kind, fusion.k, tuple(kept) if fusion.weights else None)
        hits = yield from self._tie_safe(
            lambda n: self.backend.op_hybrid(spec, branches, fusion, n, flt, second), k)
        if hits is not None:
            return hits
        # Client-side fusion over per-branch results: same formulas as the engines.
        ranked, payloads = [], {}
        for b in branches:
            res = yield from self._tie_safe(lambda n, b=b: self.backend.op_search(
                spec, b.name, b.field, b.query, n, flt, False), b.depth)
            ranked.append([(h.id, h.score) for h in res])
            payloads.update((h.id, h.payload) for h in res)
        cosine = [getattr(b.field, "metric", None) is Metric.COSINE for b in branches]
        if second is not None and fuse_second:
            union = list(dict.fromkeys(d for r in ranked for d, _ in r))
            exact = yield from self._tie_safe(
                lambda n: self.backend.op_rescore(spec, second, union, n), second.depth)
            ranked.append([(h.id, h.score) for h in exact])
            cosine.append(False)
        fused = fuse(ranked, fusion, first_k, cosine)
        if second is not None and not fuse_second:
            return (yield from self.backend.op_rescore(spec, second, [d for d, _ in fused], k))
        return [Hit(id=d, score=s, payload=payloads[d]) for d, s in fused]


__all__ = ["Operations"]
