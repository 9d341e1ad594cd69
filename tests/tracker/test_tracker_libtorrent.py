"""Real libtorrent clients announcing over mutual TLS to the in-process tracker.

libtorrent runs its own threads; alerts are waited for in a worker thread so the
tracker keeps serving on the trio loop meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import libtorrent as lt
import pytest
import trio

import certs
import certs.authority
from peernode.runtime.session_settings import add_ssl_torrent, make_session, ssl_listen_port
from peernode.runtime.session_teardown import close_session_blocking
from tracker import RunningTracker, serve_tracker
from tracker.admission import NOT_SERVED_TEXT

from .conftest import Film, Pki, issue_rental

HOUR = timedelta(hours=1)
TRACKER_ALERTS = (lt.tracker_reply_alert, lt.tracker_error_alert)


@dataclass
class Node:
    """One libtorrent session with one SSL torrent, announcing to our tracker."""

    session: lt.session
    handle: lt.torrent_handle
    peer_ports: set[int] = field(default_factory=set)
    """Ports of every peer the session's alerts mentioned so far."""

    @property
    def port(self) -> int:
        return ssl_listen_port(self.session)

    async def next_alert(self, kinds: tuple[type, ...], timeout_s: float = 15.0) -> lt.alert:
        with trio.fail_after(timeout_s):
            while True:
                await trio.to_thread.run_sync(self.session.wait_for_alert, 100)
                for alert in self.session.pop_alerts():
                    if isinstance(alert, lt.peer_alert):
                        self.peer_ports.add(alert.endpoint[1])
                    if isinstance(alert, kinds):
                        return alert

    def reannounce(self) -> None:
        self.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)


@contextmanager
def node(
    film: Film,
    tracker: RunningTracker,
    cert_pem: bytes,
    key_pem: bytes,
    save: Path,
    *,
    origin: bool = False,
) -> Iterator[Node]:
    session = make_session(origin=origin)
    # The node's own mask leaves out block alerts (offload comes from peer counters);
    # these tests learn which peers served a download from those alerts.
    mask = session.get_settings()["alert_mask"]
    session.apply_settings({"alert_mask": int(mask)
                            | int(lt.alert.category_t.block_progress_notification)
                            | int(lt.alert.category_t.peer_notification)})
    try:
        handle = add_ssl_torrent(
            session,
            film.ti,
            save,
            cert_pem=cert_pem,
            key_pem=key_pem,
            seed_mode=origin,
            flags=lt.torrent_flags.paused,
        )
        handle.replace_trackers([lt.announce_entry(tracker.announce_url)])
        handle.resume()
        yield Node(session, handle)
    finally:
        session.pause()
        close_session_blocking(session)  # the tracker's prober may be mid-handshake with it
        del session


async def test_rental_client_receives_the_origin_and_another_admitted_peer(
    pki: Pki, tmp_path: Path
) -> None:
    film = pki.films["film-a"]
    seeder = pki.ca.issue_seeder()
    a, b = issue_rental(pki.ca, "film-a"), issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, pki.config())
        with node(film, tracker, seeder.cert_pem, seeder.key_pem, pki.library, origin=True) as o:
            first = await o.next_alert(TRACKER_ALERTS)
            assert isinstance(first, lt.tracker_reply_alert)
            assert first.num_peers == 0
            with node(film, tracker, b.cert_pem, b.key_pem, tmp_path / "b") as nb:
                reply = await nb.next_alert(TRACKER_ALERTS)
                assert isinstance(reply, lt.tracker_reply_alert), reply.message()
                assert reply.num_peers == 1  # the origin
                with node(film, tracker, a.cert_pem, a.key_pem, tmp_path / "a") as na:
                    reply = await na.next_alert(TRACKER_ALERTS)
                    assert isinstance(reply, lt.tracker_reply_alert), reply.message()
                    assert reply.num_peers == 2  # the origin and client b
                    swarm = tracker.service.swarms.scrape([film.info_hash])[film.info_hash]
                    # b may already have finished from the origin and be seeding
                    assert swarm.seeders + swarm.leechers == 3
                    # the peers handed out are real: a downloads the film from them
                    await na.next_alert((lt.torrent_finished_alert,), timeout_s=30)
                    assert na.peer_ports & {o.port, nb.port}
        tracker.shutdown()


# case -> (film on the rental, window start, failure reason the client sees, what is logged)
REFUSALS = {
    "another film": ("film-b", -HOUR, NOT_SERVED_TEXT, "film_mismatch"),
    "expired": ("film-a", -3 * HOUR, "rental has expired", "expired"),
    "not yet valid": ("film-a", HOUR, "rental is not valid yet", "not_yet_valid"),
}


@pytest.mark.parametrize("case", [*REFUSALS, "another CA"])
async def test_refused_rental_gets_no_peers_and_the_tracker_logs_why(
    pki: Pki,
    other_ca: certs.authority.CA,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    caplog.set_level(logging.INFO, logger="tracker")
    film = pki.films["film-a"]
    seeder = pki.ca.issue_seeder()
    if case == "another CA":
        rental = issue_rental(other_ca, "film-a")
        failure, logged = None, "handshake refused reason=certificate_verify_failed"
    else:
        rental_film, start, failure, reason = REFUSALS[case]
        rental = issue_rental(pki.ca, rental_film, start=start)
        logged = f"reason={reason} film=film-a serial={rental.cert.serial_number}"
    async with trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, pki.config())
        with node(film, tracker, seeder.cert_pem, seeder.key_pem, pki.library, origin=True) as o:
            await o.next_alert(TRACKER_ALERTS)
            with node(film, tracker, rental.cert_pem, rental.key_pem, tmp_path / "c") as client:
                alert = await client.next_alert(TRACKER_ALERTS)
                assert isinstance(alert, lt.tracker_error_alert)
                if failure is not None:
                    assert alert.failure_reason() == failure
                assert client.handle.get_peer_info() == []
        counts = tracker.service.swarms.scrape([film.info_hash])[film.info_hash]
        assert (counts.seeders, counts.leechers) == (1, 0)
        tracker.shutdown()
    assert logged in caplog.text


async def test_revoked_while_running_the_next_announce_is_refused(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    film = pki.films["film-a"]
    rental = issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, pki.config(reload_poll_s=0.1))
        with node(film, tracker, rental.cert_pem, rental.key_pem, tmp_path / "c") as client:
            assert isinstance(await client.next_alert(TRACKER_ALERTS), lt.tracker_reply_alert)
            pki.revoke(rental.cert.serial_number)  # as `peernode ca revoke` rewrites crl.pem
            with trio.fail_after(5):
                while rental.cert.serial_number not in tracker.service.revoked_serials:
                    await trio.sleep(0.05)
            client.reannounce()
            alert = await client.next_alert(TRACKER_ALERTS)
            assert isinstance(alert, lt.tracker_error_alert)
            assert alert.failure_reason() == "rental has been revoked"
        tracker.shutdown()
    assert f"reason=revoked film=film-a serial={rental.cert.serial_number}" in caplog.text


async def test_a_libtorrent_node_is_probed_connectable_on_its_ssl_port(
    pki: Pki, tmp_path: Path
) -> None:
    from ipaddress import IPv4Address

    from tracker.config import ProbePolicy
    from tracker.reachability import Reachability
    from tracker.swarm import compact_address

    film = pki.films["film-a"]
    rental = issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        config = pki.config(probe=ProbePolicy())
        tracker: RunningTracker = await nursery.start(serve_tracker, config)
        table = tracker.service.swarms.reachability
        with node(film, tracker, rental.cert_pem, rental.key_pem, tmp_path / "c") as client:
            reply = await client.next_alert(TRACKER_ALERTS)
            assert isinstance(reply, lt.tracker_reply_alert), reply.message()
            address = compact_address(IPv4Address("127.0.0.1"), client.port)
            with trio.fail_after(10):
                while table.class_of(address) is not Reachability.CONNECTABLE:
                    await trio.sleep(0.05)
            assert table.counters.failed == 0
        tracker.shutdown()
