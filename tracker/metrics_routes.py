"""What the operator-only metrics listener answers: ``/metrics``, ``/members.json``,
``/hosts.json`` (pre-positioning hosts and their progress) and ``/unreachable.json``
(the IPs the origin deprioritizes), and whom it answers (``--metrics-allow``).

Kept out of `tracker.server` (which only moves the bytes), so a route is added here.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address

from support.http import Response
from tracker.hosting import HOSTS_PATH, hosts_json
from tracker.members import MEMBERS_PATH, members_json
from tracker.prometheus_metrics import TrackerMetrics
from tracker.unreachable import UNREACHABLE_PATH, unreachable_json

__all__ = ["metrics_listener_response", "metrics_peer_allowed"]

_METRICS_TYPE = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]
_JSON_TYPE = [("Content-Type", "application/json")]


def metrics_listener_response(path: str, metrics: TrackerMetrics, now: float) -> Response:
    """The answer to a GET of ``path`` on the metrics listener (``now``: monotonic s)."""
    if path == "/metrics":
        return Response(200, _METRICS_TYPE, metrics.render())
    if path == MEMBERS_PATH:
        service = metrics.service
        return Response(200, _JSON_TYPE, members_json(service.swarms, service.catalog, now,
                                                      service.hosts.addresses(now)))
    if path == HOSTS_PATH:
        return Response(200, _JSON_TYPE, hosts_json(metrics.service.hosts, now))
    if path == UNREACHABLE_PATH:
        table = metrics.service.swarms.reachability
        return Response(200, _JSON_TYPE, unreachable_json(table.seen_classes()))
    return Response(
        404, _METRICS_TYPE,
        b"see /metrics, /members.json, /hosts.json or /unreachable.json\n",
    )


def metrics_peer_allowed(
    host: str, allowed: Sequence[IPv4Network | IPv6Network] | None
) -> bool:
    """Whether a connection from ``host`` (the peer's address as the socket gives it)
    may use the metrics listener: anyone when ``allowed`` is ``None``, else only an
    address inside one of its networks. An IPv4-mapped IPv6 peer (a dual-stack socket
    accepting IPv4) is matched as its IPv4 address; loopback is not implied."""
    if allowed is None:
        return True
    try:
        peer = ip_address(host)
    except ValueError:  # not an IP (a scope id we cannot read): refuse
        return False
    if isinstance(peer, IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in allowed)
