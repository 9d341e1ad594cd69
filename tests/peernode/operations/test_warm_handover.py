"""The warm start hands customers over to the super-seeder one by one (pure core)."""

from __future__ import annotations

from peernode.operations.warm_handover import WarmHandover, split_upload_cap


def test_a_customer_is_handed_over_when_the_super_seeder_sends_it_bytes() -> None:
    handover = WarmHandover()
    assert not handover.update([("10.0.0.1", 0), ("10.0.0.2", 0)])
    assert handover.handed == frozenset()
    assert handover.update([("10.0.0.1", 16384), ("10.0.0.2", 0)])
    assert handover.handed == {"10.0.0.1"}
    # the other customer, still silent on its super-seeded connection, stays warm
    assert handover.waiting(["10.0.0.1", "10.0.0.2"]) == {"10.0.0.2"}
    assert not handover.update([("10.0.0.1", 32768), ("10.0.0.2", 0)])


def test_one_sending_connection_hands_over_an_ip_with_several() -> None:
    handover = WarmHandover()
    handover.update([("10.0.0.1", 0), ("10.0.0.1", 1)])
    assert handover.handed == {"10.0.0.1"}


def test_a_customer_gone_from_the_super_seeder_is_forgotten_and_served_warm_again() -> None:
    handover = WarmHandover()
    handover.update([("10.0.0.1", 100)])
    assert handover.update([])
    assert handover.handed == frozenset()
    assert handover.waiting(["10.0.0.1"]) == {"10.0.0.1"}


def test_the_cap_follows_the_customers_each_session_serves() -> None:
    cap = 4_000_000
    # everyone waiting: the warm session serves, the super-seeder keeps a tenth
    assert split_upload_cap(cap, waiting=20, handed=0) == (400_000, 3_600_000)
    assert split_upload_cap(cap, waiting=5, handed=15) == (3_000_000, 1_000_000)
    # no one waiting: the warm session is held at 1 B/s (0 would be unlimited)
    assert split_upload_cap(cap, waiting=0, handed=20) == (cap - 1, 1)
    assert sum(split_upload_cap(cap, waiting=3, handed=7)) == cap
    assert split_upload_cap(0, waiting=3, handed=1) == (0, 0)
