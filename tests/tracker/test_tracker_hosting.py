"""Hosts (hosting credentials: SAN = film id, the hosting policy, no key) at the tracker:
admitted like renters for their film only, counted apart in the metrics and /members.json."""

from __future__ import annotations

import json
import logging
import random
import urllib.request
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest
import trio
from cryptography.hazmat.primitives.serialization import Encoding

import certs
import certs.authority
from tracker import RunningTracker, serve_tracker
from tracker.admission import NOT_SERVED_TEXT, CertInfo, Reason, admit, admit_scrape
from tracker.catalog import Catalog
from tracker.members import members_document
from tracker.prometheus_metrics import TrackerMetrics
from tracker.service import TrackerService
from tracker.swarm import Swarms

from .conftest import Pki, Rental, announce_once, announce_target
from .test_tracker_libtorrent import TRACKER_ALERTS, node

HOUR = timedelta(hours=1)
T0 = datetime(2030, 1, 1, tzinfo=UTC)
NOW = T0 + HOUR
IH_A, IH_B = b"\xaa" * 20, b"\xbb" * 20
CATALOG = Catalog({IH_A: "film-a", IH_B: "film-b"})


def hosting(ca: certs.authority.CA, film_id: str, *, start: timedelta = -HOUR) -> Rental:
    key = certs.generate_node_key()
    begin = datetime.now(UTC) + start
    cert = ca.issue_hosting(film_id, key.public_key(), not_before=begin,
                            not_after=begin + 48 * HOUR)
    return Rental(cert, cert.public_bytes(Encoding.PEM), certs.private_key_pem(key))


def host_info(ca: certs.authority.CA, film_id: str) -> CertInfo:
    key = certs.generate_node_key()
    cert = ca.issue_hosting(film_id, key.public_key(), not_before=T0, not_after=T0 + 48 * HOUR)
    return CertInfo.from_certificate(cert)


def test_the_tracker_reads_the_hosting_marker(ca: certs.authority.CA) -> None:
    info = host_info(ca, "film-a")
    assert info.is_host
    assert info.dns_names == ("film-a",)
    rental_key = certs.generate_node_key()
    rental = ca.issue_rental("film-a", rental_key.public_key(), not_before=T0,
                             not_after=T0 + HOUR)
    assert not CertInfo.from_certificate(rental).is_host


def test_a_host_is_admitted_for_its_film_only(ca: certs.authority.CA) -> None:
    info = host_info(ca, "film-a")
    own = admit(info, IH_A, CATALOG, frozenset(), NOW)
    assert own.reason is Reason.ADMITTED_HOST
    assert own.admitted
    assert own.is_host
    other = admit(info, IH_B, CATALOG, frozenset(), NOW)
    assert other.reason is Reason.FILM_MISMATCH
    assert not other.admitted
    assert other.failure_reason == NOT_SERVED_TEXT
    revoked = admit(info, IH_A, CATALOG, frozenset({info.serial}), NOW)
    assert revoked.reason is Reason.REVOKED
    decision, allowed = admit_scrape(info, (), CATALOG, frozenset(), NOW)
    assert decision.reason is Reason.ADMITTED_HOST
    assert allowed == (IH_A,)


def _announce(ih: bytes, n: int, *, left: int, uploaded: int = 0, downloaded: int = 0) -> bytes:
    from urllib.parse import urlencode

    q = {"info_hash": ih, "peer_id": bytes([n]) * 20, "port": str(6000 + n),
         "uploaded": str(uploaded), "downloaded": str(downloaded), "left": str(left)}
    return b"/announce?" + urlencode(q).encode()


def test_bytes_from_hosts_are_counted_apart_from_renters_and_the_origin(
    ca: certs.authority.CA,
) -> None:
    svc = TrackerService(Swarms(), CATALOG)
    metrics = TrackerMetrics(svc)
    host = host_info(ca, "film-a")
    renter = CertInfo(7, ("film-a",), T0, T0 + 48 * HOUR)
    origin = CertInfo(8, ("*",), T0, T0 + 48 * HOUR)
    rng = random.Random(1)

    def call(target: bytes, cert: CertInfo, n: int, now: float) -> None:
        out = svc.handle(target, cert, IPv4Address(f"10.0.0.{n}"), now=now, wall_now=NOW, rng=rng)
        metrics.observe(out)

    call(_announce(IH_A, 9, left=0), origin, 9, 0.0)
    call(_announce(IH_A, 1, left=100), host, 1, 0.0)
    call(_announce(IH_A, 9, left=0, uploaded=100), origin, 9, 1.0)
    call(_announce(IH_A, 1, left=0, downloaded=100), host, 1, 1.0)  # placement done
    call(_announce(IH_A, 2, left=100), renter, 2, 2.0)
    call(_announce(IH_A, 1, left=0, downloaded=100, uploaded=80), host, 1, 3.0)
    call(_announce(IH_A, 2, left=0, downloaded=100, uploaded=5), renter, 2, 3.0)
    assert svc.hosts.uploaded["film-a"] == 80
    assert svc.hosts.downloaded["film-a"] == 100
    assert svc.hosts.counts() == {"film-a": (1, 1)}
    text = metrics.render().decode()
    assert 'tracker_host_uploaded_bytes_total{film="film-a"} 80.0' in text
    assert 'tracker_renter_uploaded_bytes_total{film="film-a"} 5.0' in text
    assert 'tracker_origin_uploaded_bytes_total{film="film-a"} 100.0' in text
    # the offload ratio is about renters: a host's placement download is not a renter's
    assert 'tracker_client_downloaded_bytes_total{film="film-a"} 100.0' in text
    assert 'tracker_hosts{film="film-a",state="complete"} 1.0' in text
    assert 'reason="admitted_host"' in text
    doc = members_document(svc.swarms, svc.catalog, 3.0, svc.hosts.addresses(3.0))
    flags = {m["addresses"][0]: m["host"] for m in doc["films"]["film-a"]}
    assert flags == {"10.0.0.1": True, "10.0.0.2": False}


async def test_a_hosting_credential_never_opens_the_tracker_for_another_film(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real libtorrent node with film-a's hosting credential announces film-b: refused,
    with the one answer for 'not this film', and it learns no peer."""
    caplog.set_level(logging.INFO, logger="tracker")
    seeder = pki.ca.issue_seeder()
    host = hosting(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, pki.config())
        film_b = pki.films["film-b"]
        with node(film_b, tracker, seeder.cert_pem, seeder.key_pem, pki.library, origin=True) as o:
            await o.next_alert(TRACKER_ALERTS)
            with node(film_b, tracker, host.cert_pem, host.key_pem, tmp_path / "h") as client:
                alert = await client.next_alert(TRACKER_ALERTS)
                assert isinstance(alert, lt.tracker_error_alert)
                assert alert.failure_reason() == NOT_SERVED_TEXT
                assert client.handle.get_peer_info() == []
        counts = tracker.service.swarms.scrape([film_b.info_hash])[film_b.info_hash]
        assert (counts.seeders, counts.leechers) == (1, 0)
        # the same credential is admitted for its own film, as a host
        film_a = pki.films["film-a"]
        with node(film_a, tracker, host.cert_pem, host.key_pem, tmp_path / "h2") as client:
            alert = await client.next_alert(TRACKER_ALERTS)
            assert isinstance(alert, lt.tracker_reply_alert), alert.message()
            assert list(tracker.service.hosts.counts()) == ["film-a"]
        tracker.shutdown()
    serial = host.cert.serial_number
    assert f"reason=film_mismatch film=film-b serial={serial}" in caplog.text


async def test_members_json_marks_hosts(pki: Pki) -> None:
    film = pki.films["film-a"]
    async with trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(
            serve_tracker, pki.config(metrics_host="127.0.0.1")
        )
        host = hosting(pki.ca, "film-a")
        await announce_once(tracker.port, pki.client_context(host.cert_pem, host.key_pem),
                            announce_target(film.info_hash, 1))
        await announce_once(tracker.port, pki.rental_context("film-a")[1],
                            announce_target(film.info_hash, 2))
        url = f"http://127.0.0.1:{tracker.metrics_port}/members.json"
        body: Any = await trio.to_thread.run_sync(lambda: urllib.request.urlopen(url).read())
        tracker.shutdown()
    members = json.loads(body)["films"]["film-a"]
    assert sorted(m["host"] for m in members) == [False, True]


def test_with_enough_complete_hosts_renters_lists_leave_the_origin_out(
    ca: certs.authority.CA,
) -> None:
    from tracker.config import SwarmPolicy

    svc = TrackerService(Swarms(SwarmPolicy(origin_backup_hosts=2)), CATALOG)
    origin = CertInfo(8, ("*",), T0, T0 + 48 * HOUR)
    renter = CertInfo(7, ("film-a",), T0, T0 + 48 * HOUR)
    rng = random.Random(1)
    origin_peer = bytes([10, 0, 0, 9]) + (6009).to_bytes(2, "big")

    def peers(target: bytes, cert: CertInfo, n: int) -> bytes:
        out = svc.handle(target, cert, IPv4Address(f"10.0.0.{n}"), now=1.0, wall_now=NOW,
                         rng=rng)
        assert out.result is not None, out
        return out.result.peers

    peers(_announce(IH_A, 9, left=0), origin, 9)
    # hosts still placing get the origin, and so do renters while hosts are incomplete
    assert origin_peer in peers(_announce(IH_A, 1, left=100), host_info(ca, "film-a"), 1)
    assert origin_peer in peers(_announce(IH_A, 5, left=100), renter, 5)
    for n in (2, 3):
        peers(_announce(IH_A, n, left=0), host_info(ca, "film-a"), n)
    listed = peers(_announce(IH_A, 6, left=100), CertInfo(6, ("film-a",), T0, T0 + 9 * HOUR), 6)
    assert origin_peer not in listed
    assert bytes([10, 0, 0, 2]) + (6002).to_bytes(2, "big") in listed
