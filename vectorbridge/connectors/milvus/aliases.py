"""Milvus aliases: native on servers and on Milvus Lite (``create_alias`` / ``alter_alias``)."""

from __future__ import annotations

from vectorbridge.connectors.calls import Op, call


class MilvusAliases:
    """The alias operations of :class:`~vectorbridge.connectors.milvus.MilvusEngine`."""

    def op_alias_target(self, alias: str) -> Op[str | None]:
        # Milvus resolves aliases in has_collection / describe_collection, whose answer names
        # the real collection (describe_alias logs an error for every name that is no alias).
        if not (yield call("has_collection", alias)):
            return None
        real = (yield call("describe_collection", alias)).get("collection_name")
        return real if real and real != alias else None

    def op_aliases(self) -> Op[dict[str, str]]:
        out: dict[str, str] = {}
        for name in (yield call("list_collections")):
            res = yield call("list_aliases", name)
            out.update({a: name for a in (res or {}).get("aliases") or []})
        return out

    def op_set_alias(self, alias: str, collection: str, current: str | None) -> Op[None]:
        # alter_alias moves an alias in one metadata write: readers see one target or the other
        yield call("create_alias" if current is None else "alter_alias", collection, alias)

    def op_drop_alias(self, alias: str) -> Op[None]:
        yield call("drop_alias", alias)


__all__ = ["MilvusAliases"]
