"""Prometheus metrics of the origin seeder (`peernode seed --metrics`)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Gauge, start_http_server

from peernode.operations.origin import OriginStats

__all__ = ["start_origin_metrics"]


def start_origin_metrics(host: str, port: int) -> Callable[[OriginStats], None]:
    """Serve /metrics on ``host:port`` (a daemon thread); returns the stats sink."""
    uploaded = Gauge(
        "peernode_origin_uploaded_bytes", "Payload bytes the origin uploaded per film", ["film"]
    )
    peers = Gauge("peernode_origin_peers", "Peers connected to the origin per film", ["film"])
    films = Gauge("peernode_origin_films", "Films being seeded")
    start_http_server(port, addr=host)

    def update(stats: OriginStats) -> None:
        films.set(len(stats.uploaded_bytes))
        for film, n in stats.uploaded_bytes.items():
            uploaded.labels(film).set(n)
        for film, n in stats.peers.items():
            peers.labels(film).set(n)

    return update
