"""The daemon's hosting endpoints without any I/O: request, stored record, view, events.

A placement (what `peernode place` or the rental service decides: a film's torrent and
a hosting credential for this node's key, `certs.hosting`) reaches an opted-in
customer's daemon as ``PUT /v1/hostings/{film_id}``: the client app, which talks to the
operator, hands it to its local daemon. `parse_hosting_request` checks the body,
`HostingRecord` is what the state directory keeps to host the film again after a
restart (the credential itself is kept beside it, replaced by each renewal),
`hosting_view` is the API's view of a hosted film and `hosting_events_between` the
server-sent events a change of view means.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from certs import CertsError, validate_film_id
from peernode.daemon.api import (
    ApiError,
    base64_field,
    node_key_path_field,
    parse_json_object,
    peers_field,
    reject_unknown_fields,
)
from peernode.errors import PeernodeError
from support.hostport import format_hostport, parse_hostport

if TYPE_CHECKING:
    from peernode.runtime.download_state import DownloadStats

__all__ = [
    "HOSTING_EVENT_KINDS",
    "MAX_SERVICE_URL_CHARS",
    "HostingRecord",
    "HostingRequest",
    "decode_hosting_record",
    "encode_hosting_record",
    "failed_hosting_view",
    "hosting_events_between",
    "hosting_view",
    "parse_hosting_request",
    "validate_service_url",
]

HOSTING_EVENT_KINDS = ("hosting-progress", "hosting-complete", "hosting-renewed",
                       "hosting-expired", "hosting-renewal-stopped", "hosting-error")

MAX_SERVICE_URL_CHARS = 2048


def validate_service_url(url: str) -> str:
    """``url`` if it is the https:// URL of a rental service, else `PeernodeError`."""
    try:
        parts = urlsplit(url)
        ok = (parts.scheme == "https" and bool(parts.hostname) and parts.port != 0
              and not parts.query and not parts.fragment and url.isprintable()
              and " " not in url and len(url) <= MAX_SERVICE_URL_CHARS)
    except ValueError:
        ok = False
    if not ok:
        raise PeernodeError(f"service_url {url[:80]!r}: give the rental service's https:// URL")
    return url.rstrip("/")


@dataclass(frozen=True)
class HostingRequest:
    """``PUT /v1/hostings/{film_id}``: the film's torrent, the hosting credential (the
    ``.pvh`` file), the node key it is for, and where it renews (if it does)."""

    film_id: str
    torrent: bytes
    credential: bytes
    node_key_path: str
    peers: tuple[tuple[str, int], ...] = ()
    service_url: str | None = None


def parse_hosting_request(film_id: str, body: bytes) -> HostingRequest:
    """Validate the path's film id and the body; `ApiError` names the field at fault."""
    try:
        validate_film_id(film_id)
    except CertsError:
        raise ApiError("invalid_field", f"{film_id[:80]!r} is not a film id", field="id") from None
    obj = parse_json_object(body)
    reject_unknown_fields(obj, {"torrent", "credential", "node_key_path", "peers",
                                "service_url"})
    torrent = base64_field(obj, "torrent")
    credential = base64_field(obj, "credential")
    service_url = obj.get("service_url")
    if service_url is not None:
        if not isinstance(service_url, str):
            raise ApiError("invalid_field", "service_url must be an https:// URL",
                           field="service_url")
        try:
            service_url = validate_service_url(service_url)
        except PeernodeError as e:
            raise ApiError("invalid_field", str(e), field="service_url") from None
    return HostingRequest(film_id, torrent, credential, node_key_path_field(obj),
                          peers_field(obj), service_url)


@dataclass(frozen=True)
class HostingRecord:
    """A hosted film the daemon keeps: enough to host it again after a restart (the
    torrent and the current credential are files beside it; the node key stays where
    the client keeps it)."""

    film_id: str
    node_key_path: str
    peers: tuple[tuple[str, int], ...] = ()
    service_url: str | None = None
    added_at: datetime | None = None


_RECORD_KEYS = {"film_id", "node_key_path", "peers", "service_url", "added_at"}


def encode_hosting_record(record: HostingRecord) -> bytes:
    """The record as UTF-8 JSON."""
    return json.dumps({
        "film_id": record.film_id,
        "node_key_path": record.node_key_path,
        "peers": [format_hostport(h, p) for h, p in record.peers],
        "service_url": record.service_url,
        "added_at": record.added_at.isoformat() if record.added_at else None,
    }, indent=1).encode()


def decode_hosting_record(data: bytes) -> HostingRecord:
    """Parse `encode_hosting_record` output; `PeernodeError` if damaged."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PeernodeError(f"hosting record is not JSON: {e}") from None
    if not isinstance(obj, dict) or set(obj) - _RECORD_KEYS:
        raise PeernodeError("hosting record is not a record (unknown keys)")
    try:
        added, url = obj.get("added_at"), obj.get("service_url")
        record = HostingRecord(
            film_id=validate_film_id(str(obj["film_id"])),
            node_key_path=str(obj["node_key_path"]),
            peers=tuple(parse_hostport(str(text)) for text in obj["peers"]),
            service_url=None if url is None else validate_service_url(str(url)),
            added_at=datetime.fromisoformat(added) if added else None,
        )
    except (KeyError, TypeError, ValueError, PeernodeError, CertsError) as e:
        raise PeernodeError(f"hosting record is damaged: {e}") from None
    return record


def hosting_view(
    stats: DownloadStats,
    *,
    paused: bool,
    hosting_id: int,
    credential_not_after: datetime,
    service_url: str | None,
    renewal_stopped: str | None,
    added_at: datetime | None,
) -> dict[str, Any]:
    """The API's view of one hosted film (bytes, bytes/s, UTC ISO 8601).

    ``state``: checking, placing (fetching the container), seeding (complete, serving
    renters), paused (outside the owner's hours, or consent withdrawn), expired (the
    credential ended: nothing is shared) or error.
    """
    state = stats.state
    if state not in ("expired", "error"):
        if paused:
            state = "paused"
        elif state != "checking":
            state = "seeding" if stats.complete else "placing"
    return {
        "id": stats.film_id,
        "film_id": stats.film_id,
        "hosting_id": hosting_id,
        "state": state,
        "progress": round(stats.progress, 6),
        "complete": stats.complete,
        "total_bytes": stats.total_bytes,
        "have_bytes": stats.done_bytes,
        "download_rate_bps": stats.download_rate_bps,
        "upload_rate_bps": stats.upload_rate_bps,
        "uploaded_bytes": stats.bytes_uploaded,
        "peers": stats.peers,
        "credential_not_after": credential_not_after.isoformat(),
        "service_url": service_url,
        "renewal_stopped": renewal_stopped,
        "added_at": added_at.isoformat() if added_at else None,
        "error": stats.error,
    }


def failed_hosting_view(film_id: str, state: str, message: str,
                        added_at: datetime | None) -> dict[str, Any]:
    """The view of a stored hosting that could not be hosted again (``expired``, ``error``)."""
    return {
        "id": film_id, "film_id": film_id, "hosting_id": None, "state": state,
        "progress": 0.0, "complete": False, "total_bytes": 0, "have_bytes": 0,
        "download_rate_bps": 0, "upload_rate_bps": 0, "uploaded_bytes": 0, "peers": 0,
        "credential_not_after": None, "service_url": None, "renewal_stopped": None,
        "added_at": added_at.isoformat() if added_at else None, "error": message,
    }


def hosting_events_between(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The events a change from ``previous`` to ``current`` hosting view means, in order:
    ``hosting-progress`` while placing; ``hosting-complete``, ``hosting-expired``,
    ``hosting-error`` and ``hosting-renewal-stopped`` once, on the transition;
    ``hosting-renewed`` whenever the credential's notAfter moves later."""
    events: list[tuple[str, dict[str, Any]]] = []
    was = previous or {}
    if current["state"] in ("checking", "placing"):
        events.append(("hosting-progress", dict(current)))
    if current["complete"] and not was.get("complete", False):
        events.append(("hosting-complete", dict(current)))
    before, after = was.get("credential_not_after"), current["credential_not_after"]
    if before is not None and after is not None and after > before:
        events.append(("hosting-renewed", dict(current)))
    if current["state"] == "expired" and was.get("state") != "expired":
        events.append(("hosting-expired", dict(current)))
    if current["state"] == "error" and was.get("state") != "error":
        events.append(("hosting-error", dict(current)))
    if current["renewal_stopped"] is not None and was.get("renewal_stopped") is None:
        events.append(("hosting-renewal-stopped", dict(current)))
    return events
