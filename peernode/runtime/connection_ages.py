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

__all__ = [
    "DEFAULT_MAX_CONNECTION_AGE_S",
    "ConnectionAges",
    "connection_age_limit",
    "customer_age_bound",
    "cycle_due",
]

# The longest an honest node keeps one peer connection, by default (seconds): a fifth of
# the rental service's default certificate lifetime L (2 h). The service's certificates
# last 0.8 L, so a node revoked at any moment gets its last byte within L; an origin
# whose operator shortens ``cert_lifetime_s`` must keep its bound at most L/5.
DEFAULT_MAX_CONNECTION_AGE_S = 1440.0
# A customer's bound is at most this fraction of its own certificate's span (the rental
# service gives every rental the same span, 0.8 L, so also of a peer's): 0.2 L.
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


def cycle_due(oldest_s: float, max_age_s: float, interval_s: float) -> bool:
    """Whether to end the connections now, so that none outlives ``max_age_s``.

    ``oldest_s`` is the oldest connection's age as `ConnectionAges` counts it, from its
    first sight: a connection may be up to one look (``interval_s``) older than that, and
    the next look comes ``interval_s`` later. So the connections end at the last look
    before the bound could pass, not at the first look after it.
    """
    return oldest_s + 2 * interval_s >= max_age_s


# A customer ends its connections at a random fraction of its limit, in this range:
CUSTOMER_FRACTION = (0.5, 0.8)


def customer_age_bound(limit_s: float, jitter: float) -> float:
    """The age at which one customer download ends its connections: a fraction of
    ``limit_s`` in `CUSTOMER_FRACTION`, chosen by ``jitter`` in [0, 1).

    Why below the limit, and random: when both ends of a connection end it at the same
    age, both pause and resume at once and their reconnections collide (measured: a
    16 s download took 50 s with customer and origin both at 2.5 s, 21 s with the
    customer alone cycling). A customer ends its connections before the origin's bound
    (its `max_connection_age_s`) is reached, and of two customers the one that drew the
    smaller fraction goes first, so the other end's age counter starts again; only a
    connection whose other end never cycles (a revoked node's) reaches the origin's bound.
    """
    low, high = CUSTOMER_FRACTION
    return limit_s * (low + (high - low) * min(max(jitter, 0.0), 1.0))


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
