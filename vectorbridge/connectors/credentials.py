"""Credentials: taken from arguments or the environment, and kept out of every printed text.

Connectors hold an API key or token to reach a server. A key that lands in a ``repr``, a log
line or an exception message ends up in bug reports, CI logs and tracebacks, so connectors
show addresses through :func:`redact_url` and scrub their secrets from error text.

Example:
    >>> redact_url("https://user:hunter2@db.example.com:6333/path?api_key=abc&x=1")
    'https://user:***@db.example.com:6333/path?api_key=***&x=1'
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

#: Query parameters whose values are credentials.
_SECRET_PARAM = re.compile(r"(?i)((?:api[_-]?key|token|password|secret|auth)[^=&]*=)[^&]*")


def redact_url(url: str) -> str:
    """``url`` with a password in its user part and credential query values replaced by
    ``***``; anything that is not a URL comes back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, sep, _ = user.partition(":")
        netloc = f"{name}{':***' if sep else ''}@{host}" if sep else f"***@{host}"
    query = _SECRET_PARAM.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secret_from(value: str | None, env: str) -> str | None:
    """The given credential, else the environment variable ``env`` (unset or empty: None).
    Lets deployments keep keys out of code and config files."""
    if value:
        return value
    return os.environ.get(env) or None


def url_secrets(url: str | None) -> tuple[str, ...]:
    """Credentials embedded in a URL (user-part password, credential query values)."""
    if not url:
        return ()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    found = [parts.password] if parts.password else []
    found += [m.group(0).split("=", 1)[1] for m in _SECRET_PARAM.finditer(parts.query)]
    return tuple(s for s in found if s)


__all__ = ["redact_url", "secret_from", "url_secrets"]
