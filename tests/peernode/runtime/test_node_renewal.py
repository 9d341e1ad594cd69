"""The node's renewal loop on a real libtorrent handle, in virtual time (autojump clock):
renew at two thirds, back off on failures, set the new certificate, and after a refusal
stop sharing when the certificate expires, saying why (stats, --json, daemon view)."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio
import trio.testing

from certs import generate_node_key
from certs.authority import CA, make_rental_bundle
from peernode.daemon.events import download_view, events_between
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.renewal import keep_renewing, open_current_rental, renewed_bundle_path
from peernode.runtime.renewal_client import RenewalAnswer, RenewalRefused, RenewalUnavailable

from .conftest import FILM_ID, Film

URL = "https://rentals.example:8443"
LIFETIME = timedelta(hours=2)
WINDOW = timedelta(hours=48)
MIN = timedelta(minutes=1)


async def test_renewal_backs_off_renews_and_after_a_refusal_stops_sharing_at_expiry(
    tmp_path: Path, film: Film, ca: CA, autojump_clock: trio.testing.MockClock,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)

    def wall() -> datetime:
        return start + timedelta(seconds=trio.current_time())

    key = generate_node_key()
    first = ca.issue_rental(FILM_ID, key.public_key(), not_before=start - MIN,
                            not_after=start + LIFETIME)
    calls: list[timedelta] = []

    async def request(_url: str, _rental_id: int, **_kw: Any) -> RenewalAnswer:
        now = wall()
        calls.append(now - start)
        if len(calls) <= 2:
            raise RenewalUnavailable("rentals.example: connection refused")
        if len(calls) == 3:
            renewed = ca.issue_rental(FILM_ID, key.public_key(), not_before=now - 5 * MIN,
                                      not_after=now + LIFETIME, serial=first.serial_number)
            return RenewalAnswer(make_rental_bundle(renewed, film.content_key,
                                                    service_url=URL,
                                                    window=(start, start + WINDOW)))
        raise RenewalRefused("revoked", "rental was revoked: chargeback")

    config = NodeConfig(listen_host="127.0.0.1", port_mapping=False, wall_clock=wall)
    async with open_node(config) as node:
        # a bundle without a service: the node's own renewer has nothing to do, and this
        # test runs the loop with its stand-in service instead
        download = await node.fetch(film.torrent, make_rental_bundle(first, film.content_key),
                                    key, save_dir=tmp_path / "c")
        while download.renewal is None:  # the node's renewer looked, and had nothing to do
            await trio.sleep(0)
        assert download.renewal.state == "not_renewable"
        download.rental = replace(download.rental, service_url=URL,
                                  window_not_before=start, window_not_after=start + WINDOW)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(keep_renewing, download, key, ca.cert,
                                                 wall_clock=wall, request=request,
                                                 jitter=lambda: 1.0))
            await trio.sleep(81 * 60 + 1)
            assert download.renewal is not None
            assert download.renewal.state == "retrying"
            assert download.renewal.last_error == "rentals.example: connection refused"
            await trio.sleep(3 * 60)  # 84:01
            # due at 80 min (2/3 of 2 h), then 72 s and 144 s of backoff
            assert calls == [80 * MIN, 80 * MIN + timedelta(seconds=72),
                             80 * MIN + timedelta(seconds=216)]
            renewed_until = start + 80 * MIN + timedelta(seconds=216) + LIFETIME
            assert download.rental.not_after == renewed_until
            assert download.renewal.renewals == 1
            assert download.renewal.state == "scheduled"
            assert download.stats().rental_not_after == renewed_until
            kept = renewed_bundle_path(tmp_path / "c", FILM_ID)
            assert kept.is_file()
            await trio.sleep(LIFETIME.total_seconds() - 5 * 60)  # past the first expiry
            stats = download.stats()
            assert stats.state != "expired"  # the renewed certificate carries it on
            assert len(calls) == 4  # at 2/3 of the time the renewed one was held: refused
            assert calls[3] == calls[2] + 80 * MIN
            before = download_view(FILM_ID, stats, sharing=True, user_paused=False)
            assert before["renewal"]["state"] == "refused"
            assert before["renewal"]["refused_reason"] == "revoked"
            await trio.sleep((renewed_until - wall()).total_seconds() + 1)
            stats = download.stats()
            assert stats.state == "expired"
            assert download.handle.status().paused
            assert stats.summary()["renewal"]["message"] == "rental was revoked: chargeback"
            after = download_view(FILM_ID, stats, sharing=False, user_paused=False)
            kinds = [kind for kind, _ in events_between(before, after)]
            assert kinds == ["rental-expired"]
            assert len(calls) == 4  # a refusal is final
            nursery.cancel_scope.cancel()


def test_the_daemon_tells_renewals_and_refusals_once() -> None:
    base = {"id": "f", "state": "downloading", "complete": False, "error": None}
    scheduled = base | {"renewal": {"state": "scheduled", "renewals": 0}}
    renewed = base | {"renewal": {"state": "scheduled", "renewals": 1}}
    refused = base | {"renewal": {"state": "refused", "renewals": 1}}
    assert [k for k, _ in events_between(scheduled, renewed)] == ["progress", "rental-renewed"]
    assert [k for k, _ in events_between(renewed, refused)] == ["progress", "renewal-refused"]
    assert [k for k, _ in events_between(refused, refused)] == ["progress"]


async def test_a_damaged_kept_copy_does_not_hide_the_given_bundle(
    tmp_path: Path, film: Film, ca: CA,
) -> None:
    """A kept "renewed" bundle that is newer but not from this CA is ignored, with a log."""
    now = datetime.now(UTC)
    key = generate_node_key()
    good = ca.issue_rental(FILM_ID, key.public_key(), not_before=now - MIN,
                           not_after=now + LIFETIME)
    forged = CA.create().issue_rental(FILM_ID, key.public_key(), not_before=now - MIN,
                                           not_after=now + 2 * LIFETIME,
                                           serial=good.serial_number)
    kept = renewed_bundle_path(tmp_path, FILM_ID)
    kept.parent.mkdir(parents=True)
    kept.write_bytes(make_rental_bundle(forged, film.content_key))

    async def must_not_call(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a valid given bundle needs no renewal")

    rental = await open_current_rental(make_rental_bundle(good, film.content_key), key,
                                       ca.cert, save_dir=tmp_path, now=now,
                                       request=must_not_call)
    assert rental.not_after == good.not_valid_after_utc
