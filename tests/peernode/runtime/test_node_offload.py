"""Offload accounting (pure): samples of per-peer payload counters -> bytes per source."""

from __future__ import annotations

from peernode.runtime.offload import (
    OffloadCounter,
    PeerBytes,
    PeerSample,
    PeersSampled,
    normal_address,
)

ORIGIN = "10.0.0.1"
PEER = "10.0.0.2"


def _peer(downloaded: int, *, address: str = PEER, port: int = 6881, local: int = 40000,
          origin: bool = False) -> PeerSample:
    return PeerSample(f"{address}:{port}", f"10.0.0.9:{local}", address, origin, downloaded)


def _origin(downloaded: int, *, local: int = 40001) -> PeerSample:
    return _peer(downloaded, address=ORIGIN, local=local, origin=True)


def _sample(c: OffloadCounter, total: int, *peers: PeerSample) -> None:
    c.on_sample(PeersSampled("film", peers, total))


def test_bytes_are_credited_to_the_peer_whose_counter_counted_them() -> None:
    c = OffloadCounter()
    _sample(c, 300, _origin(100), _peer(200))
    _sample(c, 1000, _origin(400), _peer(600))
    assert (c.bytes_from_origin, c.bytes_from_peers, c.bytes_unattributed) == (400, 600, 0)
    assert c.offload == 0.6
    assert c.received_by_peer() == (PeerBytes(PEER, 600, False), PeerBytes(ORIGIN, 400, True))


def test_what_a_peer_sent_after_its_last_sample_counts_as_origin() -> None:
    """Its counter vanished with the connection: the torrent's counter still has the bytes."""
    c = OffloadCounter()
    _sample(c, 300, _origin(100), _peer(200))
    _sample(c, 900, _origin(500))  # the peer left having sent 400 in all
    assert (c.bytes_from_origin, c.bytes_from_peers, c.bytes_unattributed) == (700, 200, 200)
    assert c.bytes_received == 900


def test_blocks_arriving_after_the_last_sample_count_as_origin() -> None:
    """Complete: peers are no longer sampled, but redundant blocks in flight still land."""
    c = OffloadCounter()
    _sample(c, 1000, _origin(400), _peer(600))
    c.on_late_total(1064)
    c.on_late_total(1000)  # an older reading never takes bytes back
    assert (c.bytes_from_origin, c.bytes_from_peers, c.bytes_unattributed) == (464, 600, 64)
    assert c.bytes_received == 1064


def test_a_reconnection_counting_from_zero_adds_to_the_peer() -> None:
    """An entry libtorrent dropped (an IP filter): the new connection starts at zero."""
    c = OffloadCounter()
    _sample(c, 5000, _peer(5000))
    _sample(c, 5000)
    _sample(c, 5300, _peer(300, local=40002))
    _sample(c, 9000, _peer(4000, local=40002))
    assert (c.bytes_from_peers, c.bytes_from_origin) == (9000, 0)


def test_a_reconnection_carrying_the_old_total_is_not_counted_twice() -> None:
    """libtorrent starts the new counter at the old connection's final total in whole
    KiB: the carry is not credited again (nor what the rounding cannot tell apart)."""
    c = OffloadCounter()
    _sample(c, 5000, _peer(5000))
    _sample(c, 6000)  # 1000 more from the peer before it left: unattributed
    assert (c.bytes_from_peers, c.bytes_unattributed) == (5000, 1000)
    for final, new in ((6000, 100), (5000, 100), (5000, 3000), (5100, 0)):
        c = OffloadCounter()
        _sample(c, 5000, _peer(5000))
        carried = final // 1024 * 1024
        _sample(c, final + new, _peer(carried + new, local=40002))
        assert c.bytes_received == final + new
        assert 5000 <= c.bytes_from_peers <= final + new, "what was sampled, never more"
        assert c.bytes_from_peers >= final + new - 1024 - (final - 5000)


def test_the_same_endpoints_with_a_smaller_counter_are_a_new_connection() -> None:
    """uTP: every connection shares the local UDP socket and a peer's listen port."""
    c = OffloadCounter()
    _sample(c, 3000, _peer(3000))
    _sample(c, 3500, _peer(500))
    assert c.bytes_from_peers == 3500


def test_a_peer_id_learned_late_moves_its_bytes_to_the_origin() -> None:
    c = OffloadCounter()
    _sample(c, 10, _peer(10, address=ORIGIN, origin=False))
    _sample(c, 50, _origin(50, local=40000))
    assert (c.bytes_from_origin, c.bytes_from_peers) == (50, 0)
    assert c.received_by_peer() == (PeerBytes(ORIGIN, 50, True),)


def test_a_resumed_torrent_starts_a_new_epoch_keeping_what_was_unattributed() -> None:
    """libtorrent zeroes the torrent's counter when a paused torrent resumes."""
    c = OffloadCounter()
    _sample(c, 1000, _peer(800))  # 200 of someone who left unsampled
    _sample(c, 300, _origin(300))
    assert (c.bytes_from_origin, c.bytes_from_peers) == (500, 800)


def test_earlier_runs_are_added_and_the_peers_are_never_overstated() -> None:
    c = OffloadCounter(origin_before=7, peers_before=3)
    assert (c.bytes_from_origin, c.bytes_from_peers, c.offload) == (7, 3, 0.3)
    _sample(c, 100, _peer(150))  # a counter ahead of the torrent's (never read in that order)
    assert c.bytes_unattributed == 0
    assert c.received_by_peer() == (PeerBytes(PEER, 150, False),)
    assert OffloadCounter().offload == 0.0


def test_addresses_are_shown_plainly() -> None:
    assert normal_address("::ffff:192.0.2.1") == "192.0.2.1"
    assert normal_address("[2001:DB8::1]") == "2001:db8::1"
    assert normal_address("not-an-ip") == "not-an-ip"
