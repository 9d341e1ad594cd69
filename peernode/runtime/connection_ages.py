"""How old a torrent's peer connections are, from repeated looks at them (pure).

TLS checks a peer's certificate at the handshake only, and libtorrent never looks
at it again (its verify callback runs inside OpenSSL's handshake): a connection
made with a certificate that expired, or whose rental was revoked since, goes on.
Honest nodes therefore end connections older than a bound (`connection_age_limit`),
so a node whose rental was revoked keeps none past its certificate's expiry plus
that bound. The shell (`peernode.runtime.connection_cycling`) samples the handle's
peers; this counts their ages. Time is a parameter (seconds, any monotonic clock).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

__all__ = ["DEFAULT_MAX_CONNECTION_AGE_S", "ConnectionAges", "connection_age_limit"]

# The longest an honest node keeps one peer connection, by default (seconds).
DEFAULT_MAX_CONNECTION_AGE_S = 1800.0
# A customer's bound is at most this fraction of its own certificate's lifetime (the
# rental service gives every rental the same lifetime, so also of a peer's).
LIFETIME_FRACTION = 1 / 4


def connection_age_limit(configured_s: float | None, certificate_span_s: float | None
                         ) -> float | None:
    """The age at which a node ends its connections: ``configured_s``, and for a
    customer at most `LIFETIME_FRACTION` of ``certificate_span_s``; None: never."""
    if configured_s is None:
        return None
    if certificate_span_s is None or certificate_span_s <= 0:
        return configured_s
    return min(configured_s, certificate_span_s * LIFETIME_FRACTION)


class ConnectionAges:
    """First sight of every connection, keyed by what tells one connection from another
    (remote and local endpoints); a key that is gone is forgotten."""

    def __init__(self) -> None:
        self._first_seen: dict[Hashable, float] = {}

    def observe(self, connections: Iterable[Hashable], now: float) -> float:
        """Record the connections open at ``now``; the age of the oldest (0.0 if none)."""
        current = set(connections)
        for key in self._first_seen.keys() - current:
            del self._first_seen[key]
        for key in current:
            self._first_seen.setdefault(key, now)
        if not self._first_seen:
            return 0.0
        return now - min(self._first_seen.values())

    def __len__(self) -> int:
        return len(self._first_seen)
