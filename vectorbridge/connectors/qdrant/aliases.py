"""Qdrant aliases: native on servers and qdrant-client's local mode; on Qdrant Edge the
folder's own table (:meth:`~vectorbridge.connectors.qdrant.edge.EdgeClient.update_collection_aliases`),
behind the same two client calls."""

from __future__ import annotations

from typing import Any


from vectorbridge.connectors.calls import Op, call
from vectorbridge.extras import requires

with requires("qdrant", "QdrantConnector"):
    from qdrant_client import models


class QdrantAliases:
    """The alias operations of :class:`~vectorbridge.connectors.qdrant.QdrantEngine`."""

    def op_aliases(self) -> Op[dict[str, str]]:
        res = yield call("get_aliases")
        return {a.alias_name: a.collection_name for a in res.aliases}

    def op_set_alias(self, alias: str, collection: str, current: str | None) -> Op[None]:
        # One request: Qdrant applies the list of changes atomically (delete + create moves
        # an alias with no moment where it names nothing).
        changes: list[Any] = []
        if current is not None:
            changes.append(models.DeleteAliasOperation(
                delete_alias=models.DeleteAlias(alias_name=alias)))
        changes.append(models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name=collection, alias_name=alias)))
        yield call("update_collection_aliases", change_aliases_operations=changes)

    def op_drop_alias(self, alias: str) -> Op[None]:
        yield call("update_collection_aliases", change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))])


__all__ = ["QdrantAliases"]
