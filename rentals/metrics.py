"""Prometheus metrics of the rental service, on a registry of its own (several services
can run in one process, as in the tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServiceMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    """Rentals created, renewals, refusals by reason, request latency by route."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.created = Counter(
            "peernode_rentals_created", "Rentals created (idempotent replays not counted)",
            registry=self.registry,
        )
        self.renewals = Counter(
            "peernode_rental_renewals", "Rental certificates renewed", registry=self.registry
        )
        self.revocations = Counter(
            "peernode_rentals_revoked", "Rentals revoked by the shop", registry=self.registry
        )
        self.refusals = Counter(
            "peernode_rental_refusals", "Requests refused, by reason", ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "peernode_rental_request_seconds", "Time to answer a request, by route",
            ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.crl_published = Gauge(
            "peernode_rental_crl_published_timestamp_seconds",
            "When the CRL was last written", registry=self.registry,
        )
        self.crl_failures = Counter(
            "peernode_rental_crl_failures", "CRL writes that failed", registry=self.registry
        )

        # hostings (pre-positioning)
        self.hostings_created = Counter(
            "peernode_hostings_created",
            "Hosting credentials created (idempotent replays not counted)",
            registry=self.registry,
        )
        self.hosting_renewals = Counter(
            "peernode_hosting_renewals", "Hosting certificates renewed", registry=self.registry
        )
        self.hostings_revoked = Counter(
            "peernode_hostings_revoked", "Hostings revoked by the operator",
            registry=self.registry,
        )
        self.hosting_refusals = Counter(
            "peernode_hosting_refusals", "Hosting requests refused, by reason", ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
