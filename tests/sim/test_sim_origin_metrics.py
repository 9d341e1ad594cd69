"""Reading the origin's own byte count from its Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from sim.backends.origin_metrics import origin_uploaded, origin_uploaded_bytes
from support.processes import free_port


def test_the_uploaded_bytes_of_every_film_are_added_up() -> None:
    registry = CollectorRegistry()
    uploaded = Gauge("peernode_origin_uploaded_bytes", "bytes", ["film"], registry=registry)
    Gauge("peernode_origin_peers", "peers", ["film"], registry=registry).labels("a").set(9)
    uploaded.labels("a").set(1_000_000)
    uploaded.labels("b").set(234)
    assert origin_uploaded_bytes(generate_latest(registry).decode()) == 1_000_234
    assert origin_uploaded_bytes("") == 0


async def test_an_origin_that_does_not_answer_has_no_count() -> None:
    assert await origin_uploaded("127.0.0.1", free_port("127.0.0.1"), timeout_s=1) is None
