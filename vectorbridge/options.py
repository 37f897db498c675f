"""Option checking shared by the public classes: unknown names and bad values are refused
with an :class:`~vectorbridge.errors.InvalidInputError` before anything is created or written.

A misspelt keyword (``rrf_K=10``, ``oversampel=4``) silently ignored is a configuration that
looks applied and is not; a pydantic ``ValidationError`` raised after the collection was
written leaves a half-built collection behind. Both are turned into one error that names the
option, the value given and what is allowed, and suggests the nearest valid name.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, Iterable, TypeVar

from pydantic import ValidationError

from vectorbridge.errors import InvalidInputError

T = TypeVar("T", bound=Callable[..., Any])


def refuse_unknown(owner: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Raise naming each keyword of ``given`` that is not in ``allowed``, with the closest
    valid names."""
    allowed = sorted(set(allowed))
    unknown = [name for name in given if name not in allowed]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, allowed, n=2, cutoff=0.6) or \
            difflib.get_close_matches(name.lower(), [a.lower() for a in allowed], n=1, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    raise InvalidInputError(
        f"{owner} got unknown option{'s' if len(unknown) > 1 else ''} {', '.join(parts)}. "
        f"Valid options: {', '.join(allowed)}. Nothing was created or written."
    )


def describe_validation_error(owner: str, err: ValidationError) -> InvalidInputError:
    """A pydantic ``ValidationError`` as a vectorbridge error: option, value, what is allowed.
    A vectorbridge error raised by the model's own checks (``model_post_init``: a stage's
    refusal, a missing encoder) comes back as it was raised, one sentence naming the option
    and the fix, not wrapped in the dict of every option."""
    for e in err.errors(include_url=False):
        original = (e.get("ctx") or {}).get("error")
        if not e.get("loc") and isinstance(original, InvalidInputError):
            return original
    lines = []
    for e in err.errors(include_url=False):
        name = ".".join(str(p) for p in e.get("loc", ())) or "?"
        expected = (e.get("ctx") or {}).get("expected")
        msg = str(e.get("msg", "invalid"))
        allowed = f"; allowed: {expected}" if expected and str(expected) not in msg else ""
        lines.append(f"{name}={e.get('input')!r}: {msg}{allowed}")
    return InvalidInputError(f"{owner}: " + "; ".join(lines) + ". Nothing was created or written.")


def checked_keywords(init: T) -> T:
    """Decorate an ``__init__`` so that unknown keywords raise :func:`refuse_unknown`'s error
    instead of Python's ``TypeError``. Functions taking ``**kwargs`` pass them on: only
    their named parameters are checked (whatever they forward checks the rest)."""
    sig = inspect.signature(init)
    params = sig.parameters
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and n != "self"]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not open_ended:
            refuse_unknown(type(self).__name__, kwargs, named)
        return init(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


__all__ = ["refuse_unknown", "describe_validation_error", "checked_keywords"]
