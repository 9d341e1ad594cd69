"""The daemon's control API without any I/O: error codes, routes, request bodies.

The HTTP shell (`daemon_http`) turns a request line into a `Route` with
`route_request`, a body into typed values with `parse_rental_request` or
`parse_settings_update`, and any `ApiError` into ``{"code", "message"}`` JSON.
Codes are part of the API contract: clients branch on them, never on messages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from peernode.errors import PeernodeError
from peernode.runtime.hosting_policy import HostingPolicy
from support.errors import InputError
from support.hostport import parse_hostport

__all__ = [
    "ERROR_STATUS",
    "MAX_BODY_BYTES",
    "PUBLIC_OPERATIONS",
    "ApiError",
    "DaemonSettings",
    "RentalRequest",
    "Route",
    "base64_field",
    "node_key_path_field",
    "parse_json_object",
    "parse_rental_request",
    "parse_settings_update",
    "peers_field",
    "reject_unknown_fields",
    "route_request",
]

# A torrent of a feature film (v2 piece layers included) plus a rental bundle,
# base64-encoded, stays well under this; anything larger is refused unread.
MAX_BODY_BYTES = 8 * 1024 * 1024

# Stable error codes and their HTTP status.
ERROR_STATUS: dict[str, int] = {
    "invalid_http": 400,
    "invalid_json": 400,
    "invalid_field": 400,
    "rental_rejected": 400,
    "credential_rejected": 400,
    "unauthorized": 401,
    "hosting_refused": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "request_timeout": 408,
    "payload_too_large": 413,
    "headers_too_large": 431,
    "internal_error": 500,
    "unavailable": 503,
}


class ApiError(PeernodeError):
    """A request the daemon refuses; ``code`` is stable, ``field`` names the bad input."""

    def __init__(
        self, code: str, message: str, *, field: str | None = None, allow: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.allow = allow
        """For ``method_not_allowed``: the methods the path has (the ``Allow`` header)."""

    @property
    def status(self) -> int:
        """The HTTP status of this error."""
        return ERROR_STATUS[self.code]

    def body(self) -> dict[str, str]:
        """The JSON error object (``field`` only when one input is at fault)."""
        out = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class Route:
    """What a request asks for: an operation name and the download (or hosted film) it
    is about."""

    operation: str
    download_id: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    def flag(self, name: str) -> bool:
        """A boolean query parameter (``true``/``false``); `ApiError` if anything else."""
        for key, value in self.query:
            if key == name:
                if value in ("true", "1"):
                    return True
                if value in ("false", "0"):
                    return False
                raise ApiError("invalid_field", f"{name} must be true or false", field=name)
        return False


# path pattern -> {method: operation}; "{id}" matches one path segment.
_ROUTES: dict[tuple[str, ...], dict[str, str]] = {
    ("openapi.json",): {"GET": "openapi"},
    ("v1", "health"): {"GET": "health"},
    ("v1", "rentals"): {"POST": "add_rental"},
    ("v1", "downloads"): {"GET": "list_downloads"},
    ("v1", "downloads", "{id}"): {"GET": "get_download", "DELETE": "delete_download"},
    ("v1", "downloads", "{id}", "pause"): {"POST": "pause"},
    ("v1", "downloads", "{id}", "resume"): {"POST": "resume"},
    ("v1", "downloads", "{id}", "playback"): {"GET": "playback"},
    ("v1", "events"): {"GET": "events"},
    ("v1", "settings"): {"GET": "get_settings", "PUT": "put_settings"},
    ("v1", "hostings"): {"GET": "list_hostings"},
    ("v1", "hostings", "{id}"): {"GET": "get_hosting", "PUT": "put_hosting",
                                 "DELETE": "delete_hosting"},
}

PUBLIC_OPERATIONS = frozenset({"openapi"})


def route_request(method: str, target: str) -> Route:
    """Map a method and request target to a `Route`.

    Raises `ApiError` ``not_found`` for an unknown path and ``method_not_allowed``
    for a known path with another method.
    """
    parts = urlsplit(target)
    segments = tuple(s for s in parts.path.split("/") if s)
    for pattern, methods in _ROUTES.items():
        if len(pattern) != len(segments):
            continue
        download_id = None
        for want, got in zip(pattern, segments, strict=True):
            if want == "{id}":
                download_id = got
            elif want != got:
                break
        else:
            operation = methods.get(method)
            if operation is None:
                allowed = ", ".join(sorted(methods))
                raise ApiError("method_not_allowed", f"{method} not allowed here (use {allowed})",
                               allow=allowed)
            query = tuple(
                (k, v) for k, vs in parse_qs(parts.query, keep_blank_values=True).items()
                for v in vs
            )
            return Route(operation, download_id, query)
    raise ApiError("not_found", f"no such endpoint: {parts.path}")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object; `ApiError` ``invalid_json``."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError("invalid_json", f"request body is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ApiError("invalid_json", "request body must be a JSON object")
    return value


def reject_unknown_fields(obj: dict[str, Any], known: set[str]) -> None:
    """`ApiError` ``invalid_field`` naming the first key of ``obj`` not in ``known``."""
    for key in obj:
        if key not in known:
            raise ApiError("invalid_field", f"unknown field {key!r}", field=key)


def base64_field(obj: dict[str, Any], name: str) -> bytes:
    """The bytes of a required, non-empty, standard base64 string field."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError("invalid_field", f"{name} must be a non-empty base64 string", field=name)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("invalid_field", f"{name} is not valid base64", field=name) from None


@dataclass(frozen=True)
class RentalRequest:
    """``POST /v1/rentals``: a torrent, its rental bundle and the node key that opens it."""

    torrent: bytes
    rental: bytes
    node_key_path: str
    peers: tuple[tuple[str, int], ...] = ()


def parse_rental_request(body: bytes) -> RentalRequest:
    """Validate the body of ``POST /v1/rentals``; `ApiError` names the field at fault."""
    obj = parse_json_object(body)
    reject_unknown_fields(obj, {"torrent", "rental", "node_key_path", "peers"})
    torrent = base64_field(obj, "torrent")
    rental = base64_field(obj, "rental")
    return RentalRequest(torrent, rental, node_key_path_field(obj), peers_field(obj))


def node_key_path_field(obj: dict[str, Any]) -> str:
    """The ``node_key_path`` of a request: an absolute path (the daemon never copies a
    private key, it reads it where the client keeps it)."""
    key_path = obj.get("node_key_path")
    if not isinstance(key_path, str) or not key_path.startswith("/"):
        raise ApiError("invalid_field", "node_key_path must be an absolute path",
                       field="node_key_path")
    return key_path


def peers_field(obj: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """The optional ``peers`` of a request: HOST:PORT strings ([V6]:PORT for IPv6)."""
    raw_peers = obj.get("peers", [])
    if not isinstance(raw_peers, list) or not all(isinstance(p, str) for p in raw_peers):
        raise ApiError("invalid_field", "peers must be a list of HOST:PORT strings", field="peers")
    try:
        return tuple(parse_hostport(p) for p in raw_peers)
    except InputError as e:
        raise ApiError("invalid_field", f"peers: {e}", field="peers") from None


@dataclass(frozen=True)
class DaemonSettings:
    """The customer's consent: caps in bytes/s (0 = unlimited) and the seeding policy.

    ``seed_when_complete`` false: a completed film is no longer shared.
    ``port_mapping`` false: the home router is not asked (UPnP IGD, NAT-PMP) to
    forward the node's port.
    ``hosting``: the owner's consent to host films' ciphertext before their release,
    and its limits (off by default; `peernode.runtime.hosting_policy`).
    """

    upload_rate_bps: int = 0
    download_rate_bps: int = 0
    seed_when_complete: bool = True
    port_mapping: bool = True
    hosting: HostingPolicy = field(default_factory=HostingPolicy)

    def to_json(self) -> dict[str, Any]:
        """The settings as the API and the state file show them."""
        return {
            "upload_rate_bps": self.upload_rate_bps,
            "download_rate_bps": self.download_rate_bps,
            "seed_when_complete": self.seed_when_complete,
            "port_mapping": self.port_mapping,
            "hosting": {
                "enabled": self.hosting.enabled,
                "disk_quota_bytes": self.hosting.disk_quota_bytes,
                "upload_rate_bps": self.hosting.upload_rate_bps,
                "download_rate_bps": self.hosting.download_rate_bps,
                "hours": self.hosting.hours,
            },
        }


_MAX_RATE_BPS = 2**31 - 1  # libtorrent's rate limit settings are C ints


def _rate_field(obj: dict[str, Any], name: str, default: int) -> int:
    value = obj.get(name, default)
    # JSON Schema's integer: 273.0 is one (it has no fraction), true is not (bool is an
    # int in Python)
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= _MAX_RATE_BPS:
        raise ApiError("invalid_field", f"{name} must be an integer from 0 to {_MAX_RATE_BPS}",
                       field=name)
    return value


def parse_settings_update(obj: dict[str, Any], current: DaemonSettings) -> DaemonSettings:
    """Apply a settings object (fields omitted stay as they are); `ApiError` on a bad field."""
    reject_unknown_fields(obj, {"upload_rate_bps", "download_rate_bps", "seed_when_complete",
                          "port_mapping", "hosting"})
    updated = replace(
        current,
        upload_rate_bps=_rate_field(obj, "upload_rate_bps", current.upload_rate_bps),
        download_rate_bps=_rate_field(obj, "download_rate_bps", current.download_rate_bps),
    )
    for name in ("seed_when_complete", "port_mapping"):
        if name in obj:
            value = obj[name]
            if not isinstance(value, bool):
                raise ApiError("invalid_field", f"{name} must be true or false", field=name)
            flags: dict[str, Any] = {name: value}
            updated = replace(updated, **flags)
    if "hosting" in obj:
        updated = replace(updated, hosting=_hosting_update(obj["hosting"], current.hosting))
    return updated


_MAX_QUOTA_BYTES = 2**63 - 1


def _hosting_update(obj: object, current: HostingPolicy) -> HostingPolicy:
    """The ``hosting`` object of a settings update (fields omitted stay as they are)."""
    if not isinstance(obj, dict):
        raise ApiError("invalid_field", "hosting must be an object", field="hosting")
    reject_unknown_fields(obj, {"enabled", "disk_quota_bytes", "upload_rate_bps",
                          "download_rate_bps", "hours"})
    enabled = obj.get("enabled", current.enabled)
    if not isinstance(enabled, bool):
        raise ApiError("invalid_field", "hosting.enabled must be true or false",
                       field="hosting.enabled")
    quota = obj.get("disk_quota_bytes", current.disk_quota_bytes)
    if type(quota) is not int or not 0 <= quota <= _MAX_QUOTA_BYTES:
        raise ApiError("invalid_field", "hosting.disk_quota_bytes must be a byte count",
                       field="hosting.disk_quota_bytes")
    hours = obj.get("hours", current.hours)
    if not isinstance(hours, str):
        raise ApiError("invalid_field", "hosting.hours must be a string such as \"1-7\"",
                       field="hosting.hours")
    try:
        return HostingPolicy(
            enabled=enabled, disk_quota_bytes=quota,
            upload_rate_bps=_rate_field(obj, "upload_rate_bps", current.upload_rate_bps),
            download_rate_bps=_rate_field(obj, "download_rate_bps", current.download_rate_bps),
            hours=hours,
        )
    except PeernodeError as e:
        raise ApiError("invalid_field", str(e), field="hosting.hours") from None
