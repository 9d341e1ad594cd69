"""How often the origin's sessions tick: fast for a few customers, slow in a crowd (pure).

libtorrent's tick (``tick_interval``) grants the rate limiter's quota: a capped
seeder whose quota is spent answers a new request at its next tick. At
libtorrent's 500 ms a player's first byte waited for the origin, while a flash
crowd's origin sent more copies at a fine tick (flash-crowd.toml: 1.144 at a
fixed 100 ms against 1.114 at 500 ms; the demo, 4 clients: 1.34-1.44 against
1.21-1.25). So each session of the origin ticks every ``fast_ms`` while it serves
at most ``few`` downloading customers and every ``slow_ms`` above: a customer who
starts or seeks alone is answered within 50 ms, a crowd gets the coarse pacing.
The origin re-decides every half second and starts fast, so the first customers
of a crowd are served at the fine tick until the crowd is there.

Measured (docs/performance.md, medians, load 2-50): bench/startup.py first byte
0.179 s and after a seek 0.077 s at 50 ms (7 runs of 5), 0.200 / 0.108 s at 100 ms
(8 runs), 0.335 / 0.104 s at a fixed 500 ms (4 runs); flash-crowd.toml copies
1.131 (6 seeds) against 1.126 at a fixed 500 ms (9 seeds), 1.137 against 1.130 side
by side: within the seeds' spread of +-0.05.
"""

from __future__ import annotations

__all__ = ["FAST_TICK_MS", "FEW_CUSTOMERS", "SLOW_TICK_MS", "origin_tick_ms"]

FAST_TICK_MS = 50
SLOW_TICK_MS = 500
FEW_CUSTOMERS = 2


def origin_tick_ms(downloading: int, *, few: int = FEW_CUSTOMERS, fast_ms: int = FAST_TICK_MS,
                   slow_ms: int = SLOW_TICK_MS) -> int:
    """The tick of a session serving ``downloading`` customers (peers not seeding)."""
    return fast_ms if downloading <= few else slow_ms
