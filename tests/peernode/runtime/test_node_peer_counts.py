"""Offload from per-peer counters, in real libtorrent sessions on loopback.

An origin (127.0.0.2) and a peer seeding the film (127.0.0.3), both capped, send to
a client node (127.0.0.4). Mid-download, while pieces are half received, the peer
goes away and comes back, in the two ways libtorrent treats differently: the client
bans it for a moment with an IP filter (libtorrent forgets the peer: the new
connection counts from zero), or the peer pauses its torrent (the client keeps its
entry: the new connection's counter starts at the old total). Either way the
client's bytes from the peer must match what the peer sent (its session's
payload counter), less what it sent after its last sample, and the origin is
credited with the rest (measured: 0.82 of 0.98 MB and 0.64 of 0.80 MB credited,
the rest unattributed).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
import trio
from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, private_key_pem
from certs.authority import CA, IssuedCert, make_rental_bundle
from peernode.runtime.download import Download
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.session_settings import add_ssl_torrent, make_session, ssl_listen_port

from .conftest import Film

RATE = 300_000  # bytes/s each sender: the 2 MiB film takes ~4 s
SAMPLE_S = 0.5  # Download.keep_counting_peers' interval


def _sender(host: str, film: Film, cert_pem: bytes, key_pem: bytes, save: Path, *,
            origin: bool) -> tuple[lt.session, lt.torrent_handle]:
    session = make_session(host, origin=origin, limit_local_peers=True,
                           settings={"upload_rate_limit": RATE})
    handle = add_ssl_torrent(session, lt.torrent_info(str(film.torrent)), save,
                             cert_pem=cert_pem, key_pem=key_pem, seed_mode=True)
    return session, handle


async def _sent_payload(session: lt.session) -> int:
    """The session's payload bytes sent (kept across pauses, unlike the torrent's)."""
    session.post_session_stats()
    with trio.fail_after(5):
        while True:
            for alert in session.pop_alerts():
                if isinstance(alert, lt.session_stats_alert):
                    return int(alert.values["net.sent_payload_bytes"])
            await trio.sleep(0.01)


async def _until_received(download: Download, fraction: float) -> None:
    with trio.fail_after(30):
        while download.handle.status().progress < fraction:
            await trio.sleep(0.02)


@pytest.mark.parametrize("away", ["banned", "paused"])
async def test_bytes_stay_attributed_when_a_peer_leaves_and_returns_mid_piece(
    tmp_path: Path, film: Film, ca: CA, seeder: IssuedCert, away: str
) -> None:
    now = datetime.now(UTC)
    peer_key = generate_node_key()
    peer_cert = ca.issue_rental(film.film_id, peer_key.public_key(),
                                not_before=now - timedelta(hours=1),
                                not_after=now + timedelta(hours=1)).public_bytes(Encoding.PEM)
    peer_dir = tmp_path / "peer"
    peer_dir.mkdir()
    shutil.copy(film.library / film.film_id, peer_dir / film.film_id)
    origin_s, _ = _sender("127.0.0.2", film, seeder.cert_pem, seeder.key_pem, film.library,
                          origin=True)
    peer_s, peer_h = _sender("127.0.0.3", film, peer_cert, private_key_pem(peer_key),
                             peer_dir, origin=False)
    peer_at = ("127.0.0.3", ssl_listen_port(peer_s))
    client_key = generate_node_key()
    bundle = make_rental_bundle(
        ca.issue_rental(film.film_id, client_key.public_key(),
                        not_before=now - timedelta(hours=1), not_after=now + timedelta(hours=1)),
        film.content_key)
    async with open_node(NodeConfig(listen_host="127.0.0.4", port_mapping=False)) as node:
        download = await node.fetch(film.torrent, bundle, client_key, save_dir=tmp_path / "c",
                                    peers=[("127.0.0.2", ssl_listen_port(origin_s)), peer_at])
        await _until_received(download, 0.3)
        assert download.handle.get_download_queue(), "pieces are half received"
        if away == "banned":
            banned = lt.ip_filter()
            banned.add_rule("127.0.0.3", "127.0.0.3", 1)
            node.session.set_ip_filter(banned)
        else:
            peer_h.pause()
        await trio.sleep(1.0)
        sent_before_return = await _sent_payload(peer_s)
        if away == "banned":
            node.session.set_ip_filter(lt.ip_filter())
        else:
            peer_h.resume()
        download.handle.connect_peer(peer_at)
        with trio.fail_after(30):
            stats = await download.complete()
        # Blocks in flight at completion still arrive (redundant, after the last
        # peer sample): the account must still cover every byte received.
        with trio.fail_after(10):
            while True:
                received = int(download.handle.status().total_payload_download)
                stats = download.stats()
                if stats.bytes_from_origin + stats.bytes_from_peers == received:
                    break
                await trio.sleep(0.1)
    peer_sent, origin_sent = await _sent_payload(peer_s), await _sent_payload(origin_s)
    assert peer_sent > sent_before_return + 100_000, "the peer came back and sent more"
    assert stats.bytes_from_origin + stats.bytes_from_peers == received
    assert stats.bytes_from_peers <= peer_sent, "offload never overstated"
    # What the peer sent after its last sample (one interval, two on a loaded machine)
    # and what was in flight when the connection closed goes to the origin, no more.
    assert stats.bytes_from_peers >= peer_sent - 2 * RATE * SAMPLE_S - 64 * 1024
    assert stats.bytes_from_origin >= origin_sent - 64 * 1024
    by_address = {(p.address, p.origin): p.bytes for p in stats.received_by_peer}
    assert by_address[("127.0.0.3", False)] == stats.bytes_from_peers
    assert by_address[("127.0.0.2", True)] == stats.bytes_from_origin - stats.bytes_unattributed
    assert set(by_address) == {("127.0.0.3", False), ("127.0.0.2", True)}
