"""Download views and the server-sent events derived from them, without I/O.

The daemon polls each download's `DownloadStats`, turns it into the JSON view
the API returns (`download_view`), and compares it with the previous view
(`events_between`) to know what to tell event subscribers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from peernode.runtime.download_state import DownloadStats

__all__ = [
    "EVENT_KINDS",
    "download_view",
    "events_between",
    "failed_view",
    "format_sse",
    "seeding_action",
    "sse_comment",
]

EVENT_KINDS = ("progress", "completed", "error", "rental-expired", "rental-renewed",
               "renewal-refused")

_ACTIVE_STATES = frozenset({"checking", "downloading"})


def download_view(
    download_id: str, stats: DownloadStats, *, sharing: bool, user_paused: bool
) -> dict[str, Any]:
    """The API's view of one download (rates in bytes/s, times in seconds, UTC ISO 8601).

    ``state``: checking, downloading, paused, seeding (complete, shared),
    completed (complete, not shared), expired, error or stopped.
    """
    state = stats.state
    if state not in ("expired", "error"):
        if stats.complete:
            state = "seeding" if sharing else "completed"
        elif user_paused:
            state = "paused"
    return {
        "id": download_id,
        "film_id": stats.film_id,
        "state": state,
        "progress": round(stats.progress, 6),
        "complete": stats.complete,
        "total_bytes": stats.total_bytes,
        "done_bytes": stats.done_bytes,
        "download_rate_bps": stats.download_rate_bps,
        "upload_rate_bps": stats.upload_rate_bps,
        "peers": stats.peers,
        "bytes_from_origin": stats.bytes_from_origin,
        "bytes_from_peers": stats.bytes_from_peers,
        "bytes_uploaded": stats.bytes_uploaded,
        "bytes_downloaded_session": stats.bytes_downloaded_session,
        "seconds": round(stats.seconds, 3),
        "eta_s": None if stats.eta_s is None else round(stats.eta_s, 1),
        "rental_not_after": stats.rental_not_after.isoformat(),
        "error": stats.error,
        "renewal": None if stats.renewal is None else dict(stats.renewal),
    }


def seeding_action(
    view: Mapping[str, Any], *, seed_when_complete: bool, user_paused: bool
) -> Literal["pause", "resume"] | None:
    """What the seeding policy does to a download with this view: ``pause``, ``resume`` or None.

    A complete film is shared only with the customer's consent
    (``seed_when_complete``) and never while the customer paused it.
    """
    if not view["complete"]:
        return None
    if view["state"] == "seeding" and not seed_when_complete:
        return "pause"
    if view["state"] == "completed" and seed_when_complete and not user_paused:
        return "resume"
    return None


def failed_view(download_id: str, state: str, message: str) -> dict[str, Any]:
    """The view of a stored rental that could not be added again (``expired`` or ``error``)."""
    return {
        "id": download_id, "film_id": download_id, "state": state, "progress": 0.0,
        "complete": False, "total_bytes": 0, "done_bytes": 0, "download_rate_bps": 0,
        "upload_rate_bps": 0, "peers": 0, "bytes_from_origin": 0, "bytes_from_peers": 0,
        "bytes_uploaded": 0, "bytes_downloaded_session": 0, "seconds": 0.0, "eta_s": None,
        "rental_not_after": None, "error": message,
    }


def events_between(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The events a change from ``previous`` to ``current`` view means, in order.

    ``progress`` while a download is active; ``completed``, ``error`` and
    ``rental-expired`` once, on the transition; ``rental-renewed`` on each certificate
    renewal and ``renewal-refused`` once when the rental service refuses one (the
    download then stops sharing when its certificate expires).
    """
    events: list[tuple[str, dict[str, Any]]] = []
    was = previous or {}
    if current["state"] in _ACTIVE_STATES:
        events.append(("progress", dict(current)))
    if current["complete"] and not was.get("complete", False):
        events.append(("completed", dict(current)))
    if current["state"] == "error" and was.get("state") != "error":
        events.append(("error", {"id": current["id"], "code": "download_failed",
                                 "message": current["error"] or "download failed"}))
    if current["state"] == "expired" and was.get("state") != "expired":
        events.append(("rental-expired", dict(current)))
    renewal, renewal_was = current.get("renewal") or {}, was.get("renewal") or {}
    if renewal.get("renewals", 0) > renewal_was.get("renewals", 0):
        events.append(("rental-renewed", dict(current)))
    if renewal.get("state") == "refused" and renewal_was.get("state") != "refused":
        events.append(("renewal-refused", dict(current)))
    return events


def format_sse(kind: str, data: Mapping[str, Any], event_id: int) -> bytes:
    """One server-sent event: ``id``, ``event`` and a one-line JSON ``data`` field."""
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {kind}\ndata: {payload}\n\n".encode()


def sse_comment(text: str) -> bytes:
    """An SSE comment line (keeps idle connections alive through proxies)."""
    return f": {text}\n\n".encode()
