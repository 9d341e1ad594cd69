"""The HTTPS tracker in-process: mutual TLS, keep-alive, bounds, timeouts, reloads, shutdown."""

from __future__ import annotations

import logging
from datetime import timedelta

import h11
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from certs.authority import crl_pem
from support.atomic_write import write_atomic
from tracker import RunningTracker
from tracker.admission import NOT_SERVED_TEXT, Reason
from tracker.service import RequestKind

from .conftest import (
    HttpsClient,
    Pki,
    announce_once,
    announce_target,
    bdecoded,
    issue_rental,
    start_tracker,
)


async def test_rental_announces_and_gets_the_origin_on_a_keep_alive_connection(pki: Pki) -> None:
    film = pki.films["film-a"]
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        origin = pki.ca.issue_seeder()
        origin_ctx = pki.client_context(origin.cert_pem, origin.key_pem)
        body = await announce_once(
            tracker.port, origin_ctx, announce_target(film.info_hash, 1, left=0)
        )
        assert body[b"peers"] == b""

        rental = issue_rental(pki.ca, "film-a")
        client = await HttpsClient.connect(
            tracker.port, pki.client_context(rental.cert_pem, rental.key_pem)
        )
        status, raw = await client.get(announce_target(film.info_hash, 2, ip="10.9.9.9"))
        assert status == 200
        body = bdecoded(raw)
        # the origin, at the connection's address and its announced port
        assert body[b"peers"] == bytes([127, 0, 0, 1]) + (20001).to_bytes(2, "big")
        assert (body[b"complete"], body[b"incomplete"]) == (1, 1)
        # same connection, second request
        status, raw = await client.get(announce_target(film.info_hash, 2, event="stopped"))
        assert bdecoded(raw)[b"incomplete"] == 0
        await client.aclose()
        assert tracker.metrics.requests(RequestKind.ANNOUNCE, Reason.ADMITTED) == 2
        assert tracker.metrics.requests(RequestKind.ANNOUNCE, Reason.ADMITTED_ORIGIN) == 1
        tracker.shutdown()


async def test_client_without_certificate_is_refused_in_the_handshake(pki: Pki) -> None:
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        # TLS 1.3: the refusal arrives after the client's side of the handshake completes
        with pytest.raises((trio.BrokenResourceError, h11.RemoteProtocolError)):
            await announce_once(tracker.port, pki.client_context(None, None), b"/scrape")
        await wait_until(
            lambda: handshake_failures(tracker) == {"peer_did_not_return_a_certificate": 1}
        )
        tracker.shutdown()


async def test_certificate_from_another_ca_is_refused_in_the_handshake(
    pki: Pki, other_ca: object
) -> None:
    import certs

    assert isinstance(other_ca, certs.authority.CA)
    rental = issue_rental(other_ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        ctx = pki.client_context(rental.cert_pem, rental.key_pem)
        with pytest.raises((trio.BrokenResourceError, h11.RemoteProtocolError)):
            await announce_once(
                tracker.port, ctx, announce_target(pki.films["film-a"].info_hash, 1)
            )
        await wait_until(lambda: handshake_failures(tracker) == {"certificate_verify_failed": 1})
        assert list(tracker.service.swarms.swarms()) == []
        tracker.shutdown()


def metric_samples(tracker: RunningTracker, name: str) -> dict[tuple[str, ...], float]:
    """Samples of metric ``name`` from the tracker's Prometheus text, by label values."""
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(tracker.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sample.labels.values())] = sample.value
    return out


def handshake_failures(tracker: RunningTracker) -> dict[str, float]:
    return {k[0]: v for k, v in metric_samples(tracker, "tracker_handshake_failures_total").items()}


async def wait_until(predicate: object, *, timeout_s: float = 5.0) -> None:
    assert callable(predicate)
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("film", "window", "use_hash_of", "reason", "failure"),
    [
        ("film-b", {}, "film-a", Reason.FILM_MISMATCH, NOT_SERVED_TEXT.encode()),
        ("film-a", {"start": -3 * HOUR}, "film-a", Reason.EXPIRED, b"rental has expired"),
        ("film-a", {"start": HOUR}, "film-a", Reason.NOT_YET_VALID, b"rental is not valid yet"),
        ("film-a", {}, None, Reason.UNKNOWN_TORRENT, NOT_SERVED_TEXT.encode()),
    ],
)
async def test_refused_announce_gets_no_peers_and_is_logged(
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    film: str,
    window: dict[str, timedelta],
    use_hash_of: str | None,
    reason: Reason,
    failure: bytes,
) -> None:
    info_hash = pki.films[use_hash_of].info_hash if use_hash_of else b"\x42" * 20
    rental = issue_rental(pki.ca, film, **window)
    caplog.set_level(logging.INFO, logger="tracker")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        if use_hash_of:  # an origin is in the swarm, yet the refused client must not learn it
            seeder = pki.ca.issue_seeder()
            await announce_once(
                tracker.port,
                pki.client_context(seeder.cert_pem, seeder.key_pem),
                announce_target(info_hash, 1, left=0),
            )
        body = await announce_once(
            tracker.port,
            pki.client_context(rental.cert_pem, rental.key_pem),
            announce_target(info_hash, 2),
        )
        assert body == {b"failure reason": failure, b"interval": 300, b"min interval": 300}
        assert tracker.metrics.requests(RequestKind.ANNOUNCE, reason) == 1
        tracker.shutdown()
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    expected_film = use_hash_of or "-"
    assert lines == [
        f"announce refused reason={reason} film={expected_film}"
        f" serial={rental.cert.serial_number} peer=127.0.0.1"
    ]
    assert "BEGIN CERTIFICATE" not in caplog.text


async def test_unknown_torrent_and_another_film_get_the_same_bytes(pki: Pki) -> None:
    """No catalogue oracle: a renter of film-b announcing film-a's hash (a film of this
    tracker) and announcing a hash the tracker does not know get the same status and the
    same body, byte for byte."""
    rental = issue_rental(pki.ca, "film-b")
    ctx = pki.client_context(rental.cert_pem, rental.key_pem)
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        client = await HttpsClient.connect(tracker.port, ctx)
        known = await client.get(announce_target(pki.films["film-a"].info_hash, 1))
        unknown = await client.get(announce_target(b"\x42" * 20, 1))
        await client.aclose()
        assert known == unknown
        assert known[0] == 200
        assert bdecoded(known[1])[b"failure reason"] == NOT_SERVED_TEXT.encode()
        # the tracker itself still knows which it was
        assert tracker.metrics.requests(RequestKind.ANNOUNCE, Reason.FILM_MISMATCH) == 1
        assert tracker.metrics.requests(RequestKind.ANNOUNCE, Reason.UNKNOWN_TORRENT) == 1
        tracker.shutdown()


async def test_revocation_takes_effect_when_the_crl_file_changes(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    film = pki.films["film-a"]
    rental, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, reload_poll_s=0.05)
        assert b"failure reason" not in await announce_once(
            tracker.port, ctx, announce_target(film.info_hash, 1)
        )
        pki.revoke(rental.cert.serial_number)
        await wait_until(lambda: rental.cert.serial_number in tracker.service.revoked_serials)
        body = await announce_once(tracker.port, ctx, announce_target(film.info_hash, 1))
        assert body[b"failure reason"] == b"rental has been revoked"
        tracker.shutdown()
    assert f"reason=revoked film=film-a serial={rental.cert.serial_number}" in caplog.text


async def test_reload_on_request_and_a_bad_crl_keeps_the_previous_one(
    pki: Pki, other_ca: object, caplog: pytest.LogCaptureFixture
) -> None:
    import certs

    from .conftest import PLACEHOLDER_URL, make_film, start_tracker

    assert isinstance(other_ca, certs.authority.CA)
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, reload_poll_s=3600)
        pki.revoke(77)
        new = make_film(pki.library, "film-c", pki.ca.cert_pem, PLACEHOLDER_URL)
        tracker.reload()  # what SIGHUP does
        await wait_until(lambda: tracker.service.catalog.get(new.info_hash) == "film-c")
        await wait_until(lambda: tracker.service.revoked_serials == {77})
        # a CRL signed by another CA is not believed
        write_atomic(pki.crl_path, crl_pem(other_ca.sign_crl({})))
        (pki.library / "junk.torrent").write_bytes(b"not a torrent")
        tracker.reload()
        await wait_until(
            lambda: metric_samples(tracker, "tracker_reload_failures_total") == {("crl",): 1.0}
        )
        assert tracker.service.revoked_serials == {77}
        assert len(tracker.service.catalog) == 3
        tracker.shutdown()
    assert "reload failed, keeping the previous crl" in caplog.text
    assert "library: skipped junk.torrent: not a torrent" in caplog.text


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /announce?" + b"x" * 9000 + b" HTTP/1.1\r\nhost: a\r\n\r\n", 431),
        (b"GET /scrape HTTP/1.1\r\nhost: a\r\n" + b"x-h: 1\r\n" * 40 + b"\r\n", 431),
        (b"POST /announce HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\n\r\nab", 405),
        (b"GET /announce HTTP/1.1\r\nhost: a\r\ncontent-length: 9999\r\n\r\n" + b"a" * 9999, 413),
        (b"GARBAGE\r\n\r\n", 400),
    ],
)
async def test_bad_http_is_refused_and_does_not_stop_a_valid_announce(
    pki: Pki, request_bytes: bytes, status: int
) -> None:
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        bad = await HttpsClient.connect(tracker.port, ctx)
        await bad.stream.send_all(request_bytes)
        bad.conn = h11.Connection(h11.CLIENT)
        bad.conn.send(h11.Request(method="GET", target="/", headers=[("host", "a")]))
        bad.conn.send(h11.EndOfMessage())
        response = b""
        while chunk := await bad.stream.receive_some(65536):
            response += chunk
        assert response.startswith(b"HTTP/1.1 %d " % status)
        body = await announce_once(
            tracker.port, ctx, announce_target(pki.films["film-a"].info_hash, 1)
        )
        assert b"peers" in body
        tracker.shutdown()


async def test_malformed_announce_and_unknown_path(pki: Pki) -> None:
    rental = issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        client = await HttpsClient.connect(
            tracker.port, pki.client_context(rental.cert_pem, rental.key_pem)
        )
        status, body = await client.get(b"/announce?info_hash=abc")
        assert status == 200
        assert bdecoded(body) == {b"failure reason": b"missing parameter peer_id"}
        status, _ = await client.get(b"/favicon.ico")
        assert status == 404
        status, body = await client.get(b"/scrape")  # the connection is still usable
        zeros = {b"complete": 0, b"incomplete": 0, b"downloaded": 0}
        assert bdecoded(body) == {b"files": {pki.films["film-a"].info_hash: zeros}}
        await client.aclose()
        assert metric_samples(tracker, "tracker_bad_requests_total") == {
            ("malformed",): 1.0,
            ("not_found",): 1.0,
        }
        tracker.shutdown()


async def test_silent_and_stalled_connections_do_not_keep_a_valid_announce_out(pki: Pki) -> None:
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, max_connections=3)
        # silent: connect and send nothing (never accepted, thanks to TCP_DEFER_ACCEPT)
        silent = [await trio.open_tcp_stream("127.0.0.1", tracker.port) for _ in range(10)]
        # stalled: one byte of a ClientHello, then nothing (accepted, stuck in the handshake)
        stalled = [await trio.open_tcp_stream("127.0.0.1", tracker.port) for _ in range(10)]
        for s in stalled:
            await s.send_all(b"\x16")
        await wait_until(
            lambda: metric_samples(tracker, "tracker_connections_evicted_total") == {(): 7.0}
        )  # 10 stalled, 3 slots
        assert metric_samples(tracker, "tracker_connections") == {(): 3.0}
        body = await announce_once(
            tracker.port, ctx, announce_target(pki.films["film-a"].info_hash, 1)
        )
        assert b"peers" in body
        assert metric_samples(tracker, "tracker_connections_evicted_total") == {(): 8.0}
        for s in silent + stalled:
            await s.aclose()
        tracker.shutdown()


async def test_metrics_endpoint_reports_announces_swarms_and_origin_offload(pki: Pki) -> None:
    import urllib.request

    film = pki.films["film-a"]
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, metrics_host="127.0.0.1")
        seeder = pki.ca.issue_seeder()
        origin = pki.client_context(seeder.cert_pem, seeder.key_pem)
        rental = issue_rental(pki.ca, "film-a")
        client = pki.client_context(rental.cert_pem, rental.key_pem)
        await announce_once(tracker.port, origin, announce_target(film.info_hash, 1, left=0))
        await announce_once(tracker.port, client, announce_target(film.info_hash, 2))
        # later: the client got 1000 bytes, 250 of them from the origin
        await announce_once(
            tracker.port, origin, announce_target(film.info_hash, 1, left=0, uploaded=250)
        )
        await announce_once(
            tracker.port, client, announce_target(film.info_hash, 2, downloaded=1000, uploaded=40)
        )
        await announce_once(tracker.port, client, announce_target(b"\x42" * 20, 2))
        url = f"http://127.0.0.1:{tracker.metrics_port}/metrics"
        text = await trio.to_thread.run_sync(lambda: urllib.request.urlopen(url).read().decode())
        tracker.shutdown()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    film_a = (("film", "film-a"),)
    assert (
        samples[("tracker_announces_total", (("reason", "admitted"), ("result", "admitted")))] == 2
    )
    assert (
        samples[
            ("tracker_announces_total", (("reason", "admitted_origin"), ("result", "admitted")))
        ]
        == 2
    )
    assert (
        samples[("tracker_announces_total", (("reason", "unknown_torrent"), ("result", "refused")))]
        == 1
    )
    assert samples[("tracker_swarms", ())] == 1
    assert samples[("tracker_peers", ())] == 2
    assert samples[("tracker_seeders", film_a)] == 1
    assert samples[("tracker_leechers", film_a)] == 1
    assert samples[("tracker_reported_downloaded_bytes_total", film_a)] == 1000
    assert samples[("tracker_reported_uploaded_bytes_total", film_a)] == 290
    assert samples[("tracker_origin_uploaded_bytes_total", film_a)] == 250
    assert samples[("tracker_client_downloaded_bytes_total", film_a)] == 1000
    assert samples[("tracker_origin_offload_ratio", film_a)] == 0.75
    assert samples[("tracker_catalog_torrents", ())] == 2
