"""Aliases: a name readers use, moved between collections in one atomic step.

A new version of a collection (other encoders, another engine's copy) is built beside the
live one under its own name; readers address the alias, and :meth:`set_alias` moves it once
the new version is ready (and back, to roll back). Every connector method that takes a
collection name takes an alias too and resolves it on each call
(:meth:`Operations._do_spec`), so a reader switches with the alias and one call's answer
comes wholly from one collection, even where the call makes several requests.

Aliases are native on Qdrant (server and qdrant-client's local mode:
``update_collection_aliases``, whose list of changes applies atomically) and Milvus (server
and Lite: ``create_alias`` / ``alter_alias``). Qdrant Edge has none: the connector keeps
the folder's alias table in a file it replaces atomically (``EdgeClient``). The reference
engine keeps a dict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vectorbridge.connectors.async_twins import twin
from vectorbridge.connectors.calls import Op
from vectorbridge.connectors.spec import check_name
from vectorbridge.errors import CollectionNotFoundError, InvalidInputError

if TYPE_CHECKING:
    from vectorbridge.connectors.engine import Engine


class AliasOperations:
    """The alias methods of a :class:`~vectorbridge.connectors.base.Connector` (public, their
    async twins, and the operations behind them)."""

    backend: "Engine"
    engine: str

    def set_alias(self, alias: str, collection: str) -> None:
        """Create ``alias`` for ``collection``, or move it there, in one atomic step.

        Every method that takes a collection name also takes an alias and resolves it on
        each call, so readers switch with the alias and one call's answer comes wholly from
        one collection. Native on Qdrant (server, local mode) and Milvus (server, Lite);
        Qdrant Edge has none, so the connector keeps the folder's aliases in a file it
        replaces atomically (docs: Operations).

        Raises:
            CollectionNotFoundError: ``collection`` does not exist.
            InvalidInputError: ``alias`` is a collection's name, or ``collection`` an alias.
        """
        return self._run(self._do_set_alias(alias, collection))

    aset_alias = twin(set_alias)

    def resolve_alias(self, name: str) -> str:
        """The collection ``name`` addresses: its target if it is an alias, else ``name``
        (a collection). Raises ``CollectionNotFoundError`` when it is neither."""
        return self._run(self._do_resolve_alias(name))

    aresolve_alias = twin(resolve_alias)

    def drop_alias(self, alias: str) -> None:
        """Remove ``alias`` (no-op if there is none); its collection and data stay."""
        return self._run(self._do_drop_alias(alias))

    adrop_alias = twin(drop_alias)

    def aliases(self) -> dict[str, str]:
        """Every alias on this engine -> the collection it names."""
        return self._run(self._do_aliases())

    aaliases = twin(aliases)

    # -- operations, written once for both twins ------------------------------------------
    def _check_not_aliased(self, name: str) -> Op[None]:
        """Refuse to drop a collection that an alias names: its readers would fail."""
        aliases = sorted(a for a, c in (yield from self.backend.op_aliases()).items() if c == name)
        if aliases:
            raise InvalidInputError(
                f"collection {name!r} is named by alias(es) {aliases} on {self.engine}, which "
                "readers may use: move them (set_alias) or drop them (drop_alias) first.")

    def _do_set_alias(self, alias: str, collection: str) -> Op[None]:
        check_name(alias, "alias")
        check_name(collection, "collection")
        current = yield from self.backend.op_alias_target(alias)
        # (engines that resolve aliases themselves say an alias "exists" as a collection)
        if current is None and (yield from self.backend.op_exists(alias)):
            raise InvalidInputError(f"{alias!r} is a collection on {self.engine}; an alias needs "
                                    "a name no collection has.")
        if (yield from self.backend.op_alias_target(collection)) is not None:
            raise InvalidInputError(f"{collection!r} is an alias itself; point {alias!r} at a "
                                    "collection (resolve_alias gives the one it names).")
        yield from self._do_spec(collection)  # exists, and was made by vectorbridge
        if current != collection:
            yield from self.backend.op_set_alias(alias, collection, current)

    def _do_resolve_alias(self, name: str) -> Op[str]:
        check_name(name, "collection")
        target = yield from self.backend.op_alias_target(name)
        if target is not None:
            return target
        if (yield from self.backend.op_exists(name)):
            return name
        raise CollectionNotFoundError(f"no collection or alias {name!r} on {self.engine}.")

    def _do_drop_alias(self, alias: str) -> Op[None]:
        check_name(alias, "alias")
        if (yield from self.backend.op_alias_target(alias)) is not None:
            yield from self.backend.op_drop_alias(alias)

    def _do_aliases(self) -> Op[dict[str, str]]:
        return dict(sorted((yield from self.backend.op_aliases()).items()))


__all__ = ["AliasOperations"]
