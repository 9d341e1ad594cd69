"""How often the origin's sessions tick: fast for a few customers, slow in a crowd (pure).

libtorrent's tick (``tick_interval``) grants the rate limiter's quota: a capped
seeder whose quota is spent answers a new request at its next tick. At
libtorrent's 500 ms a player's first byte and the first byte after a seek waited
for the origin (bench/startup.py: 0.29 / 0.24 s, against 0.15 / 0.10 s at
100 ms), while a flash crowd's origin sent more copies at 100 ms
(flash-crowd.toml: 1.144 against 1.114 at 500 ms; the demo, 4 clients: 1.34-1.44
against 1.21-1.25). So each session of the origin ticks every ``fast_ms`` while it
serves at most ``few`` downloading customers and every ``slow_ms`` above: a
customer who starts or seeks alone is answered within 100 ms, a crowd gets the
coarse pacing. The origin re-decides every half second and starts fast, so the
first customers of a crowd are served at the fine tick until the crowd is there.
"""

from __future__ import annotations

__all__ = ["FAST_TICK_MS", "FEW_CUSTOMERS", "SLOW_TICK_MS", "origin_tick_ms"]

FAST_TICK_MS = 100
SLOW_TICK_MS = 500
FEW_CUSTOMERS = 2


def origin_tick_ms(downloading: int, *, few: int = FEW_CUSTOMERS, fast_ms: int = FAST_TICK_MS,
                   slow_ms: int = SLOW_TICK_MS) -> int:
    """The tick of a session serving ``downloading`` customers (peers not seeding)."""
    return fast_ms if downloading <= few else slow_ms
