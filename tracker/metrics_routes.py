"""What the operator-only metrics listener answers: ``/metrics``, ``/members.json`` and
``/hosts.json`` (pre-positioning hosts and their progress).

Kept out of `tracker.server` (which only moves the bytes), so a route is added here.
"""

from __future__ import annotations

from support.http import Response
from tracker.hosting import HOSTS_PATH, hosts_json
from tracker.members import MEMBERS_PATH, members_json
from tracker.prometheus_metrics import TrackerMetrics

__all__ = ["metrics_listener_response"]

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
    return Response(404, _METRICS_TYPE, b"see /metrics, /members.json or /hosts.json\n")
