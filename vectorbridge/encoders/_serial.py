"""One call at a time per encoder: what lets async retrieval run encoders in worker threads.

The async retriever runs every encoder call off the event loop, in a worker thread, so two
concurrent queries can reach the same encoder at once. Not every encoder allows that: a
Hugging Face fast tokenizer used from two threads raises ``RuntimeError: Already borrowed``,
and BM25's corpus statistics change under ``fit`` / ``partial_fit`` while a query reads them.
So each encoder (or the model object several encoders share) holds a re-entrant lock, kept
outside the object (a weak map), so encoders still pickle and deep-copy as before.

Example:
    >>> class Counter:
    ...     n = 0
    ...     @serialized
    ...     def bump(self): self.n += 1; return self.n
    >>> Counter().bump()
    1
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_LOCKS: "weakref.WeakKeyDictionary[Any, threading.RLock]" = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()
_SHARED = threading.RLock()  # for owners that cannot be weakly referenced


def lock_of(owner: Any) -> Any:
    """The re-entrant lock serialising calls on ``owner``."""
    with _GUARD:
        try:
            lock = _LOCKS.get(owner)
            if lock is None:
                lock = _LOCKS[owner] = threading.RLock()
        except TypeError:  # not weak-referenceable or not hashable
            return _SHARED
        return lock


def serialized(method: F) -> F:
    """A method that runs one call at a time per instance (re-entrant: a serialized method
    may call another)."""
    @functools.wraps(method)
    def one_at_a_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock_of(self):
            return method(self, *args, **kwargs)

    return one_at_a_time  # type: ignore[return-value]


__all__ = ["lock_of", "serialized"]
