"""The origin ticks fast for a few customers and slow in a crowd."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from certs.authority import CA
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.origin_tick import FAST_TICK_MS, SLOW_TICK_MS, origin_tick_ms


def test_a_few_customers_get_the_fast_tick_a_crowd_the_slow_one() -> None:
    assert origin_tick_ms(0) == origin_tick_ms(1) == origin_tick_ms(2) == FAST_TICK_MS
    assert origin_tick_ms(3) == origin_tick_ms(20) == SLOW_TICK_MS
    assert origin_tick_ms(5, few=5, fast_ms=50, slow_ms=400) == 50
    assert origin_tick_ms(6, few=5, fast_ms=50, slow_ms=400) == 400


@pytest.mark.parametrize(("tick_ms", "expected"), [(None, FAST_TICK_MS), (250, 250)])
def test_an_idle_origin_starts_at_the_fast_tick_or_the_one_it_is_given(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tick_ms: int | None, expected: int,
) -> None:
    """libtorrent's own default for an origin is 500 ms: the origin sets its tick itself."""
    seeder = CA.create("tick test CA").issue_seeder()
    config = OriginConfig(tmp_path, seeder.cert_pem, seeder.key_pem, upload_rate_bps=1_000_000,
                          super_seeding=True, tick_ms=tick_ms)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_origin, config)
            nursery.cancel_scope.cancel()

    with caplog.at_level(logging.INFO, logger="peernode.operations.origin"):
        trio.run(main)
    lines = [r.getMessage() for r in caplog.records if "tick" in r.getMessage()]
    assert lines == [f"main session: tick {expected} ms (0 customers downloading)",
                     f"warm session: tick {expected} ms (0 customers downloading)"]
