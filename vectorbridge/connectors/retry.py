"""Bounded retries for calls to a server: exponential backoff with jitter, then a clear error.

A server that restarts, a dropped connection or a timeout should cost a pause, not an ingest.
Each engine connector says which of its client's exceptions are *transient* (connection
refused or reset, timeouts, 502/503/504, a collection released by a restart) and may name a
*recovery* call to make before the next try (Milvus reloads a collection a restart released).
The drivers in :mod:`vectorbridge.connectors.calls` retry such failures of idempotent calls
under a :class:`RetryPolicy`; when the attempts run out they raise
:class:`~vectorbridge.errors.ServerUnavailableError` naming the server and what to check.
Embedded engines have no transient failures, so nothing is retried there.

Every call vectorbridge makes is idempotent (upserts by id, deletes by id or filter, reads)
except inserting a multi-vector field's token rows into Milvus; that call is marked and its
operation replays the whole delete-then-insert step instead (see ``MilvusConnector``).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from vectorbridge.errors import InvalidInputError, ServerUnavailableError

log = logging.getLogger("vectorbridge")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a server that does not answer.

    Attempt ``i`` (from 1) that fails transiently waits
    ``min(max_delay, initial_delay * multiplier ** (i - 1))``, scaled by a random factor in
    ``[1 - jitter, 1]`` (so clients that failed together do not retry together), before
    attempt ``i + 1``. The defaults ride out a server restart of ~15 s.

    Attributes:
        attempts: Tries per call, the first included (1 = never retry).
        initial_delay: Seconds before the second try.
        max_delay: Cap on one pause, in seconds.
        multiplier: Growth of the pause per failed try.
        jitter: Fraction of each pause that is randomised, in [0, 1].

    Examples:
        >>> [round(d, 2) for d in RetryPolicy(attempts=4, jitter=0).delays()]
        [0.25, 0.5, 1.0]
    """

    attempts: int = 7
    initial_delay: float = 0.25
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and self.attempts >= 1):
            raise InvalidInputError(f"RetryPolicy(attempts={self.attempts!r}): use an int >= 1 "
                                    "(1 turns retries off).")
        if not (0 <= self.initial_delay <= self.max_delay):
            raise InvalidInputError("RetryPolicy: need 0 <= initial_delay <= max_delay; got "
                                    f"{self.initial_delay!r} and {self.max_delay!r}.")
        if self.multiplier < 1:
            raise InvalidInputError(f"RetryPolicy(multiplier={self.multiplier!r}): use >= 1.")
        if not 0 <= self.jitter <= 1:
            raise InvalidInputError(f"RetryPolicy(jitter={self.jitter!r}): use a value in [0, 1].")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The pauses between tries: ``attempts - 1`` of them."""
        rng = rng or random
        for i in range(self.attempts - 1):
            d = min(self.max_delay, self.initial_delay * self.multiplier ** i)
            yield d * (1 - self.jitter * rng.random())

    @classmethod
    def none(cls) -> "RetryPolicy":
        """One try, no retry: for callers that do their own."""
        return cls(attempts=1)


class Guard(Protocol):
    """What a driver needs from a connector to retry its calls (``Connector`` implements it)."""

    retry: RetryPolicy

    def _transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` may go away by itself (connection, timeout, restart)."""

    def _recovery(self, exc: BaseException, method: str, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        """A client call ``(method, args)`` to make before retrying, or ``None``."""

    def _unavailable(self, exc: BaseException, method: str, tries: int,
                     waited: float) -> ServerUnavailableError:
        """The error to raise once the attempts are spent."""


def log_retry(where: str, method: str, exc: BaseException, attempt: int, attempts: int,
              delay: float) -> None:
    """One warning per retry; names the server and the error type, never credentials."""
    log.warning("%s: %s failed (%s); retry %d/%d in %.2f s", where, method,
                type(exc).__name__, attempt, attempts - 1, delay)


__all__ = ["Guard", "RetryPolicy", "log_retry"]
