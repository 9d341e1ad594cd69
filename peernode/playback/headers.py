"""What the playback server says about a film besides its bytes (pure).

The container header names the film's MIME type, and whoever packaged the film
chose it: served as it is, ``text/html`` on a ``127.0.0.1`` origin would make a
browser run the "film" as a page of that origin. Only media types are served as
they are; anything else goes out as ``application/octet-stream``, never sniffed
(``X-Content-Type-Options: nosniff``) and, opened as a document anyway, a sandbox
without scripts or an origin (``Content-Security-Policy: sandbox``). The token in
the playback URL is the only secret of the server: `redact_target` is how a
request target may appear in a log line.
"""

from __future__ import annotations

import re

__all__ = ["FALLBACK_MIME_TYPE", "SECURITY_HEADERS", "redact_target", "served_mime_type"]

FALLBACK_MIME_TYPE = "application/octet-stream"

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "sandbox"),
)
"""Sent with every response of the playback server, refusals included."""

# RFC 9110 token characters for the subtype; parameters (codecs=...) are dropped
_MEDIA = re.compile(r"(?:video|audio)/[a-z0-9][a-z0-9!#$&^_.+-]{0,100}")


def served_mime_type(recorded: str) -> str:
    """The Content-Type to send for a film whose container records ``recorded``:
    ``video/*`` and ``audio/*`` (without parameters) as recorded, else
    ``application/octet-stream``."""
    kind = recorded.partition(";")[0].strip().lower()
    if _MEDIA.fullmatch(kind) or kind == FALLBACK_MIME_TYPE:
        return kind
    return FALLBACK_MIME_TYPE


def redact_target(target: str) -> str:
    """``target`` as a log line may show it: its first path segment (the token) as
    ``<token>``, the query left out (a player may echo anything there)."""
    path = target.partition("?")[0]
    if not path.startswith("/"):
        return "<target>"
    _, _, rest = path[1:].partition("/")
    return f"/<token>/{rest}" if rest or path[1:] else "/"
