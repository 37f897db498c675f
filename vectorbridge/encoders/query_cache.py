"""Repeated queries: a bounded LRU of query encodings, its hit rate visible.

On CPU a retriever's ``invoke("text")`` spends most of its time encoding the query (a
MiniLM query takes ~8-15 ms here, an Edge hybrid search ~1 ms), and real query logs repeat
themselves: popular questions, retries, autocomplete, several users asking the same thing.
:class:`QueryCache` keeps the last ``maxsize`` query encodings, keyed by the encoder's model,
precision and backend and by the text, so a repeated query skips the model. Documents are
never cached (each is encoded once anyway).

Use it on the encoders (``DenseEncoder(..., query_cache=4096)``; SPLADE and token encoders
alike), share one cache between encoders by passing the same :class:`QueryCache`, or wrap
any LangChain ``Embeddings`` (a hosted model, HuggingFace embeddings) with
:class:`CachedQueryEmbeddings`. ``cache.stats()`` says how well it does.

Example:
    >>> cache = QueryCache(maxsize=2)
    >>> calls = []
    >>> def encode(texts):
    ...     calls.extend(texts)
    ...     return [len(t) for t in texts]
    >>> cache.through("model", ["a", "bb", "a"], encode), calls
    ([1, 2, 1], ['a', 'bb'])
    >>> cache.through("model", ["bb"], encode), cache.stats().hits
    ([2], 2)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from vectorbridge.errors import InvalidInputError


@dataclass(frozen=True)
class CacheStats:
    """What a :class:`QueryCache` did since it was made (or last cleared)."""

    hits: int
    misses: int
    size: int
    maxsize: int

    @property
    def hit_rate(self) -> float:
        """Hits per query looked up (0.0 before the first)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class QueryCache:
    """A thread-safe LRU of query encodings (``maxsize`` entries, least recently used out).

    Args:
        maxsize: Entries kept. A 384-d dense query is 1.5 KB: 10,000 queries ~15 MB.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise InvalidInputError(f"QueryCache maxsize must be a positive int, got {maxsize!r}.")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[Hashable, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def __repr__(self) -> str:
        s = self.stats()
        return f"QueryCache(size={s.size}/{s.maxsize}, hit_rate={s.hit_rate:.3f})"

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self.maxsize)

    def clear(self) -> None:
        """Forget every entry and the counts (after a model change, say)."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0

    def through(self, namespace: Hashable, texts: Sequence[str],
                encode: Callable[[list[str]], Sequence[Any]]) -> list[Any]:
        """The encodings of ``texts``, in order: cached ones from the cache, the rest from
        one ``encode(missing)`` call (each distinct missing text once), then cached.
        ``namespace`` keeps encoders apart (model, precision, backend)."""
        out: list[Any] = [None] * len(texts)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                key = (namespace, text)
                if key in self._entries:
                    self._entries.move_to_end(key)
                    out[i] = self._entries[key]
                    self._hits += 1
                elif text in missing:  # asked twice in one call: encoded once
                    missing[text].append(i)
                    self._hits += 1
                else:
                    missing[text] = [i]
                    self._misses += 1
        if missing:
            fresh = list(encode(list(missing)))
            if len(fresh) != len(missing):
                raise InvalidInputError(f"the encoder returned {len(fresh)} encodings for "
                                        f"{len(missing)} texts.")
            with self._lock:
                for (text, where), value in zip(missing.items(), fresh):
                    value = _frozen(value)
                    for i in where:
                        out[i] = value
                    self._entries[(namespace, text)] = value
                    self._entries.move_to_end((namespace, text))
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        return out


def _frozen(value: Any) -> Any:
    """A cached array cannot be changed by whoever received it (it is shared)."""
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.flags.writeable = False
    return value


def as_query_cache(value: Any) -> QueryCache | None:
    """An encoder's ``query_cache=`` option: ``None`` (off), a size, or a shared cache."""
    if value is None or isinstance(value, QueryCache):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"query_cache= takes None, a size (int) or a QueryCache, got "
                                f"{value!r}.")
    return QueryCache(value)


class CachedQueryEmbeddings(Embeddings):
    """Any LangChain ``Embeddings`` with its queries cached (documents pass through).

    Args:
        embeddings: The embeddings to wrap (``HuggingFaceEmbeddings``, a hosted model...).
        cache: A :class:`QueryCache` or its size.
        name: What tells this model's entries apart in a shared cache (default: its repr).
    """

    def __init__(self, embeddings: Any, cache: QueryCache | int = 4096,
                 name: str | None = None) -> None:
        if not callable(getattr(embeddings, "embed_query", None)):
            raise InvalidInputError(f"CachedQueryEmbeddings wraps an Embeddings (with "
                                    f"embed_query), got {type(embeddings).__name__}.")
        self.embeddings, self.query_cache = embeddings, as_query_cache(cache)
        self.namespace = name or repr(embeddings)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return list(self.query_cache.through(  # type: ignore[union-attr]
            self.namespace, [text], lambda miss: [self.embeddings.embed_query(miss[0])])[0])

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self.embeddings.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        import asyncio

        return await asyncio.to_thread(self.embed_query, text)


__all__ = ["QueryCache", "CacheStats", "CachedQueryEmbeddings", "as_query_cache"]
