"""The CRL at a running tracker: an older CRL cannot roll a revocation back, and a CRL
past its nextUpdate + grace makes the tracker refuse every rental (fail closed)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import trio

from certs.authority import crl_pem
from support.atomic_write import write_atomic

from .conftest import Pki, announce_once, announce_target, start_tracker
from .test_tracker_server import metric_samples, wait_until


async def test_an_older_crl_put_back_does_not_undo_a_revocation(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    film = pki.films["film-a"]
    rental, ctx = pki.rental_context("film-a")
    serial = rental.cert.serial_number
    now = datetime.now(UTC)
    old = pki.ca.sign_crl({}, now=now - timedelta(minutes=5), crl_number=10)
    new = pki.ca.sign_crl({serial: now}, now=now, crl_number=11)
    write_atomic(pki.crl_path, crl_pem(old))
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, reload_poll_s=0.05)
        write_atomic(pki.crl_path, crl_pem(new))
        await wait_until(lambda: serial in tracker.service.revoked_serials)
        with caplog.at_level(logging.ERROR, logger="tracker"):
            write_atomic(pki.crl_path, crl_pem(old))  # validly signed, but older
            await wait_until(lambda: "older CRL" in caplog.text)
        assert serial in tracker.service.revoked_serials
        body = await announce_once(tracker.port, ctx, announce_target(film.info_hash, 1))
        assert body[b"failure reason"] == b"rental has been revoked"
        tracker.shutdown()


async def test_a_crl_past_its_grace_makes_the_tracker_refuse_every_rental(pki: Pki) -> None:
    film = pki.films["film-a"]
    _, ctx = pki.rental_context("film-a")
    now = datetime.now(UTC)
    stale = pki.ca.sign_crl({}, now=now - timedelta(hours=3), next_update_hours=1)
    write_atomic(pki.crl_path, crl_pem(stale))
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, crl_grace_s=600.0, reload_poll_s=0.05,
                                      metrics_host="127.0.0.1")
        body = await announce_once(tracker.port, ctx, announce_target(film.info_hash, 1))
        assert body[b"failure reason"].startswith(b"the tracker's revocation list is out of date")
        assert metric_samples(tracker, "tracker_crl_expired")[()] == 1.0
        assert metric_samples(tracker, "tracker_crl_seconds_past_next_update")[()] > 7000
        origin = pki.ca.issue_seeder()
        origin_body = await announce_once(
            tracker.port, pki.client_context(origin.cert_pem, origin.key_pem),
            announce_target(film.info_hash, 2, left=0))
        assert b"failure reason" not in origin_body  # the origin is no rental: still served
        # a fresh CRL ends it
        write_atomic(pki.crl_path, crl_pem(pki.ca.sign_crl({}, now=datetime.now(UTC),
                                                           crl_number=2)))
        await wait_until(lambda: not tracker.service.crl_expired)
        body = await announce_once(tracker.port, ctx, announce_target(film.info_hash, 1))
        assert b"failure reason" not in body
        tracker.shutdown()


async def test_a_crl_past_its_next_update_within_the_grace_is_used_with_a_warning(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    film = pki.films["film-a"]
    _, ctx = pki.rental_context("film-a")
    now = datetime.now(UTC)
    write_atomic(pki.crl_path, crl_pem(
        pki.ca.sign_crl({}, now=now - timedelta(hours=2), next_update_hours=1)))
    with caplog.at_level(logging.WARNING, logger="tracker"):
        async with trio.open_nursery() as nursery:
            tracker = await start_tracker(nursery, pki, crl_grace_s=7200.0)
            body = await announce_once(tracker.port, ctx, announce_target(film.info_hash, 1))
            assert b"failure reason" not in body
            tracker.shutdown()
    assert "past its nextUpdate" in caplog.text
