"""Real libtorrent clients: one announces to tracker A, another receives it from tracker B."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libtorrent as lt
import trio

from tests.tracker import conftest as tracker_fixtures
from tests.tracker import test_tracker_libtorrent as lt_tests
from tracker import RunningTracker, serve_tracker


async def test_libtorrent_peer_announced_to_a_is_given_by_b(
    pki: Any, redis_url: str, tmp_path: Path
) -> None:
    film = pki.films["film-a"]
    seeder = pki.ca.issue_seeder()
    rental = tracker_fixtures.issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        a: RunningTracker = await nursery.start(serve_tracker, pki.config(redis_url=redis_url))
        b: RunningTracker = await nursery.start(serve_tracker, pki.config(redis_url=redis_url))
        with lt_tests.node(film, a, seeder.cert_pem, seeder.key_pem, pki.library, origin=True) as o:
            first = await o.next_alert(lt_tests.TRACKER_ALERTS)
            assert isinstance(first, lt.tracker_reply_alert), first.message()
            with lt_tests.node(film, b, rental.cert_pem, rental.key_pem, tmp_path / "c") as c:
                reply = await c.next_alert(lt_tests.TRACKER_ALERTS)
                assert isinstance(reply, lt.tracker_reply_alert), reply.message()
                assert reply.num_peers == 1  # the origin, which only A has heard from
                ih = film.info_hash
                on_a = a.service.swarms.scrape([ih])[ih]
                assert on_a == b.service.swarms.scrape([ih])[ih]
                assert on_a.seeders + on_a.leechers == 2
                # and the peer is real: the client downloads the film from the origin
                await c.next_alert((lt.torrent_finished_alert,), timeout_s=30)
                assert o.port in c.peer_ports
        a.shutdown()
        b.shutdown()
