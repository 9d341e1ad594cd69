"""The tracker speaks TLS 1.3 only: under TLS 1.2 the client certificate, whose SAN names
the film, would cross the wire in clear (and 1.2 still allows CBC suites)."""

from __future__ import annotations

import ssl

import pytest
import trio

from .conftest import Pki, announce_once, announce_target, issue_rental, start_tracker
from .test_tracker_server import handshake_failures, wait_until


async def test_a_tls_1_2_client_with_a_valid_rental_is_refused(pki: Pki) -> None:
    film = pki.films["film-a"]
    rental = issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        old = pki.client_context(rental.cert_pem, rental.key_pem)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(trio.BrokenResourceError) as refused:
            await announce_once(tracker.port, old, announce_target(film.info_hash, 1))
        assert isinstance(refused.value.__cause__, ssl.SSLError)
        assert "PROTOCOL_VERSION" in str(refused.value.__cause__)
        await wait_until(lambda: sum(handshake_failures(tracker).values()) >= 1)
        # control: the same rental over TLS 1.3 is admitted
        current = pki.client_context(rental.cert_pem, rental.key_pem)
        body = await announce_once(tracker.port, current, announce_target(film.info_hash, 2))
        assert b"failure reason" not in body
        tracker.shutdown()
