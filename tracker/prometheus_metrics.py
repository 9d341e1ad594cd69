"""Prometheus metrics of one tracker: announces by reason, swarms, bytes, origin offload,
peer reachability and connect-back probes, peers per network, peers handed out within vs
across networks.

Counting happens on the announce path, so it is plain dictionary arithmetic; the
Prometheus families are built only when the metrics endpoint is scraped (a custom
collector on a registry of its own, so several trackers can run in one process).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracker.reachability import Reachability
from tracker.service import Outcome, RequestKind, TrackerService

__all__ = ["ConnectionCounts", "TrackerMetrics"]


class ConnectionCounts(Protocol):
    """Open and evicted connection counts (`ConnectionSlots` has them)."""

    open: int
    evicted: int


class TrackerMetrics(Collector):
    """Counters fed by the server, rendered in the Prometheus text format."""

    def __init__(self, service: TrackerService) -> None:
        self._service = service
        self._requests: Counter[tuple[str, str, str]] = Counter()  # kind, result, reason
        self._malformed: Counter[str] = Counter()
        self._uploaded: Counter[str] = Counter()
        self._downloaded: Counter[str] = Counter()
        self._origin_uploaded: Counter[str] = Counter()
        self._client_downloaded: Counter[str] = Counter()
        self._renter_uploaded: Counter[str] = Counter()
        self._handshake_failures: Counter[str] = Counter()
        self._reload_failures: Counter[str] = Counter()
        self._swarm_refusals: Counter[str] = Counter()
        self._handed_out: Counter[str] = Counter({"same_network": 0, "other_network": 0})
        self._metrics_refused = 0
        self.connections: ConnectionCounts | None = None
        """Where open and evicted connections are counted (the server's slots)."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    @property
    def service(self) -> TrackerService:
        """The service whose state the metrics report."""
        return self._service

    def observe(self, outcome: Outcome) -> None:
        """Count one answered request (and the bytes an admitted announce reports)."""
        decision = outcome.decision
        if decision is None:
            self._malformed[outcome.kind.value] += 1
            return
        result = "admitted" if decision.admitted else "refused"
        self._requests[outcome.kind.value, result, decision.reason.value] += 1
        result_ = outcome.result
        film = decision.film
        if result_ is None or film is None:
            return
        if result_.refusal is not None:
            self._swarm_refusals[result_.refusal.value] += 1
            return
        self._handed_out["same_network"] += result_.same_network
        self._handed_out["other_network"] += result_.other_network
        self._uploaded[film] += result_.uploaded_delta
        self._downloaded[film] += result_.downloaded_delta
        if decision.is_origin:
            self._origin_uploaded[film] += result_.uploaded_delta
        elif not decision.is_host:  # hosts' bytes: `TrackerService.hosts`
            self._client_downloaded[film] += result_.downloaded_delta
            self._renter_uploaded[film] += result_.uploaded_delta

    def handshake_failed(self, reason: str) -> None:
        """Count a TLS handshake that did not complete (``reason`` is a short label)."""
        self._handshake_failures[reason] += 1

    def reload_failed(self, source: str) -> None:
        """Count a failed reload of ``source`` (``"library"`` or ``"crl"``)."""
        self._reload_failures[source] += 1

    def metrics_connection_refused(self) -> None:
        """Count a connection to the metrics listener from outside ``--metrics-allow``."""
        self._metrics_refused += 1

    def requests(self, kind: RequestKind, reason: str) -> int:
        """How many ``kind`` requests ended with ``reason`` (for tests and benchmarks)."""
        return sum(n for (k, _, r), n in self._requests.items() if k == kind and r == reason)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """Build the metric families (called by prometheus_client on each scrape)."""
        announces = CounterMetricFamily(
            "tracker_announces",
            "Announces answered, by result and reason",
            labels=["result", "reason"],
        )
        scrapes = CounterMetricFamily(
            "tracker_scrapes", "Scrapes answered, by result and reason", labels=["result", "reason"]
        )
        for (kind, result, reason), n in sorted(self._requests.items()):
            family = announces if kind == RequestKind.ANNOUNCE else scrapes
            family.add_metric([result, reason], n)
        yield announces
        yield scrapes
        yield _counter(
            "tracker_bad_requests", "Malformed requests or unknown paths", "kind", self._malformed
        )
        yield _counter(
            "tracker_handshake_failures",
            "TLS handshakes refused or abandoned",
            "reason",
            self._handshake_failures,
        )
        yield _counter(
            "tracker_reload_failures",
            "Failed reloads of the library or the CRL",
            "source",
            self._reload_failures,
        )
        yield CounterMetricFamily(
            "tracker_metrics_refused_connections",
            "Connections to this metrics listener from outside --metrics-allow, closed at once",
            value=self._metrics_refused,
        )
        if self.connections is not None:
            yield CounterMetricFamily(
                "tracker_connections_evicted",
                "Idle connections closed to make room at the cap",
                value=self.connections.evicted,
            )
            yield GaugeMetricFamily(
                "tracker_connections", "Open client connections", value=self.connections.open
            )
        yield _counter(
            "tracker_swarm_refusals",
            "Admitted announces the swarm refused (peer id of another serial, serial cap)",
            "reason",
            self._swarm_refusals,
        )
        yield from self._swarm_families()
        yield from self._byte_families()
        yield from self._reachability_families()

    def _reachability_families(self) -> Iterator[Metric]:
        swarms = self._service.swarms
        table = swarms.reachability
        by_class: Counter[str] = Counter()
        by_network: Counter[str] = Counter()
        for address, cls in table.seen().items():
            by_class[cls.value] += 1
            by_network[swarms.networks.name_of(address)] += 1
        for cls in Reachability:
            by_class.setdefault(cls.value, 0)
        yield _gauge(
            "tracker_peer_addresses",
            "Announcing peer addresses (not expired) by reachability class",
            "reachability",
            by_class,
        )
        yield _counter(
            "tracker_peers_handed_out",
            "Peers in the lists answered (origins included), on the requester's network"
            " or another (locality on or off)",
            "scope",
            self._handed_out,
        )
        yield _gauge(
            "tracker_network_peer_addresses",
            "Announcing peer addresses (not expired) per network (operator map, else /24 or /48)",
            "network",
            by_network,
        )
        c = table.counters
        probes = CounterMetricFamily(
            "tracker_probes", "Connect-back probes, by result", labels=["result"]
        )
        for result, n in (
            ("sent", c.sent),
            ("ok", c.ok),
            ("failed", c.failed),
            ("rate_limited", c.rate_limited),
        ):
            probes.add_metric([result], n)
        yield probes
        yield CounterMetricFamily(
            "tracker_probe_seconds",
            "Wall time connect-back probes took, summed (the probe cost)",
            value=c.seconds,
        )

    def _swarm_families(self) -> Iterator[Metric]:
        service = self._service
        seeders: Counter[str] = Counter()
        leechers: Counter[str] = Counter()
        swarms = 0
        for info_hash, counts in service.swarms.swarms():
            film = service.catalog.get(info_hash, info_hash.hex())
            seeders[film] += counts.seeders
            leechers[film] += counts.leechers
            swarms += 1
        yield GaugeMetricFamily("tracker_swarms", "Torrents with at least one peer", value=swarms)
        yield GaugeMetricFamily(
            "tracker_peers", "Peers in every swarm", value=seeders.total() + leechers.total()
        )
        yield _gauge("tracker_seeders", "Seeders (origins included) per film", "film", seeders)
        yield _gauge("tracker_leechers", "Leechers per film", "film", leechers)
        yield GaugeMetricFamily(
            "tracker_catalog_torrents", "Info-hashes the tracker serves", value=len(service.catalog)
        )
        yield GaugeMetricFamily(
            "tracker_crl_seconds_past_next_update",
            "How long the CRL in use is past its nextUpdate (0 when fresh)",
            value=service.crl_seconds_past_next_update,
        )
        yield GaugeMetricFamily(
            "tracker_crl_expired",
            "1 while the CRL is past nextUpdate + grace and every rental is refused",
            value=1.0 if service.crl_expired else 0.0,
        )
        yield GaugeMetricFamily(
            "tracker_revoked_serials",
            "Serials on the loaded CRL",
            value=len(service.revoked_serials),
        )

    def _byte_families(self) -> Iterator[Metric]:
        yield _counter(
            "tracker_reported_uploaded_bytes",
            "Bytes peers report uploading",
            "film",
            self._uploaded,
        )
        yield _counter(
            "tracker_reported_downloaded_bytes",
            "Bytes peers report downloading",
            "film",
            self._downloaded,
        )
        yield _counter(
            "tracker_origin_uploaded_bytes",
            "Bytes origin seeders report uploading",
            "film",
            self._origin_uploaded,
        )
        yield _counter(
            "tracker_client_downloaded_bytes",
            "Bytes rental clients report downloading",
            "film",
            self._client_downloaded,
        )
        yield from self._host_families()
        offload = GaugeMetricFamily(
            "tracker_origin_offload_ratio",
            "Estimated share of client downloads not served by the origin"
            " (1 - origin uploaded / client downloaded)",
            labels=["film"],
        )
        for film, down in sorted(self._client_downloaded.items()):
            if down > 0:
                share = 1.0 - self._origin_uploaded[film] / down
                offload.add_metric([film], min(1.0, max(0.0, share)))
        yield offload


    def _host_families(self) -> Iterator[Metric]:
        hosts = self._service.hosts
        yield _counter(
            "tracker_renter_uploaded_bytes",
            "Bytes renting peers report uploading",
            "film",
            self._renter_uploaded,
        )
        yield _counter(
            "tracker_host_uploaded_bytes",
            "Bytes hosts (hosting credentials, no key) report uploading",
            "film",
            hosts.uploaded,
        )
        yield _counter(
            "tracker_host_downloaded_bytes",
            "Bytes hosts report downloading (placement)",
            "film",
            hosts.downloaded,
        )
        live = GaugeMetricFamily("tracker_hosts", "Hosts in the swarm, and how many hold"
                                 " the whole film", labels=["film", "state"])
        for film, (count, complete) in hosts.counts().items():
            live.add_metric([film, "all"], count)
            live.add_metric([film, "complete"], complete)
        yield live


def _counter(name: str, doc: str, label: str, values: Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, n in sorted(values.items()):
        family.add_metric([key], n)
    return family


def _gauge(name: str, doc: str, label: str, values: Counter[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, n in sorted(values.items()):
        family.add_metric([key], n)
    return family
