"""The OpenAPI 3.1 description of the daemon's control API (served at /openapi.json).

Built from the same error codes the API uses, so the two cannot drift apart;
its schemas are JSON Schema 2020-12, which the end-to-end test validates
every response against.
"""

from __future__ import annotations

from typing import Any

from certs.identifiers import FILM_ID_PATTERN
from peernode.daemon.api import ERROR_STATUS, MAX_BODY_BYTES
from peernode.daemon.events import EVENT_KINDS
from peernode.daemon.hosting_api import HOSTING_EVENT_KINDS, MAX_SERVICE_URL_CHARS
from peernode.daemon.state_dir import MIN_TOKEN_CHARS
from support.openapi_schema import Schema
from support.openapi_schema import object_schema as _object
from support.openapi_schema import ref as _ref

__all__ = ["PORT_MAPPING_EVENT", "openapi_document"]

# The server-sent event kind published when the router port mapping changes.
PORT_MAPPING_EVENT = "port-mapping"

_INT = {"type": "integer", "minimum": 0}
# what base64.b64decode(validate=True) accepts: the standard alphabet, padded
_BASE64 = {"type": "string", "minLength": 4, "contentEncoding": "base64",
           "pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}
_HOSTPORT = r"^(?:\[[0-9A-Fa-f:.]+\]|[^\[\]:]+):[0-9]{1,5}$"
_FILM_ID = {"type": "string", "pattern": FILM_ID_PATTERN.pattern, "maxLength": 63}
_RATE = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_STATES = ["checking", "downloading", "paused", "seeding", "completed", "expired", "error",
           "stopped"]


_DOWNLOAD = _object({
    "id": {**_FILM_ID, "description": "download id (the film id)"},
    "film_id": _FILM_ID,
    "state": {"enum": _STATES},
    "progress": {"type": "number", "minimum": 0, "maximum": 1},
    "complete": {"type": "boolean"},
    "total_bytes": _INT,
    "done_bytes": _INT,
    "download_rate_bps": _INT,
    "upload_rate_bps": _INT,
    "peers": _INT,
    "bytes_from_origin": {**_INT, "description": "bytes received from the origin (CDN-billed)"},
    "bytes_from_peers": {**_INT, "description": "bytes received from other customers"},
    "bytes_uploaded": _INT,
    "bytes_downloaded_session": {**_INT,
                                 "description": "payload received since the daemon started"},
    "seconds": {"type": "number", "minimum": 0},
    "eta_s": {"type": ["number", "null"]},
    "rental_not_after": {"type": ["string", "null"], "format": "date-time"},
    "error": {"type": ["string", "null"]},
    "added_at": {"type": ["string", "null"], "format": "date-time"},
    "renewal": {
        "type": ["object", "null"],
        "description": "the certificate renewal: state (scheduled, retrying, refused, "
                       "complete, not_renewable, stopped), renewals, next_attempt_at, "
                       "refused_reason and message when the rental service said no",
        "properties": {
            "state": {"enum": ["scheduled", "retrying", "refused", "complete",
                               "not_renewable", "stopped"]},
            "certificate_not_after": {"type": "string", "format": "date-time"},
            "rental_ends": {"type": "string", "format": "date-time"},
            "renewals": _INT,
            "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
            "failures": _INT,
            "last_error": {"type": ["string", "null"]},
            "refused_reason": {"type": ["string", "null"]},
            "message": {"type": ["string", "null"]},
        },
    },
}, required=["id", "film_id", "state", "progress", "complete", "total_bytes", "done_bytes",
             "download_rate_bps", "upload_rate_bps", "peers", "bytes_from_origin",
             "bytes_from_peers", "bytes_uploaded", "bytes_downloaded_session", "seconds",
             "eta_s", "rental_not_after", "error"])

_HOUR_RANGE = "([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-4])"
_HOURS = f"^({_HOUR_RANGE}(,{_HOUR_RANGE})*)?$"
_HOSTING: dict[str, Schema] = {
    "enabled": {"type": "boolean", "description": "host films' ciphertext before their "
                "release (the owner's opt-in; off by default)"},
    "disk_quota_bytes": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                         "description": "disk the hosted films may take"},
    "upload_rate_bps": _RATE,
    "download_rate_bps": _RATE,
    "hours": {"type": "string", "pattern": _HOURS,
              "description": "UTC hours hosting may transfer, e.g. \"1-7\" or \"22-6\"; "
              "empty: any time"},
}

_DATE_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_HOSTED = _object({
    "id": {**_FILM_ID, "description": "the hosted film's id"},
    "film_id": _FILM_ID,
    "hosting_id": {"type": ["integer", "null"], "minimum": 0,
                   "description": "the hosting credential's serial (the hosting's id at the "
                   "rental service); null if it could not be hosted again"},
    "state": {"enum": ["checking", "placing", "seeding", "paused", "expired", "error"],
              "description": "placing: fetching the container; paused: outside the owner's "
              "hours or consent withdrawn; expired: the credential ended"},
    "progress": {"type": "number", "minimum": 0, "maximum": 1},
    "complete": {"type": "boolean"},
    "total_bytes": _INT,
    "have_bytes": _INT,
    "download_rate_bps": _INT,
    "upload_rate_bps": _INT,
    "uploaded_bytes": {**_INT, "description": "bytes served to renters and other hosts"},
    "peers": _INT,
    "credential_not_after": _DATE_TIME_OR_NULL,
    "service_url": {"type": ["string", "null"],
                    "description": "the rental service that renews the credential"},
    "renewal_stopped": {"type": ["string", "null"],
                        "description": "why the credential is no longer renewed (revoked, "
                        "ended, window_end...)"},
    "added_at": _DATE_TIME_OR_NULL,
    "error": {"type": ["string", "null"]},
}, required=["id", "film_id", "hosting_id", "state", "progress", "complete", "total_bytes",
             "have_bytes", "download_rate_bps", "upload_rate_bps", "uploaded_bytes", "peers",
             "credential_not_after", "service_url", "renewal_stopped", "added_at", "error"])

_SCHEMAS: dict[str, Schema] = {
    "Error": _object({
        "code": {"enum": sorted(ERROR_STATUS)},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the request field at fault"},
    }, required=["code", "message"]),
    "Download": _DOWNLOAD,
    "Hosting": _HOSTED,
    "HostingList": _object({"hostings": {"type": "array", "items": _ref("Hosting")}}),
    "HostingRequest": _object({
        "torrent": {**_BASE64, "description": "the film's .torrent file"},
        "credential": {**_BASE64, "description": "the hosting credential (.pvh: SAN = the "
                       "film id, the hosting policy, this node's key; no content key)"},
        "node_key_path": {"type": "string", "pattern": "^/",
                          "description": "absolute path of this node's key (mode 0600)"},
        "peers": {"type": "array", "items": {"type": "string", "pattern": _HOSTPORT},
                  "description": "HOST:PORT peers to connect to directly ([V6]:PORT for IPv6)"},
        "service_url": {"type": "string", "pattern": "^https://[^ ?#]+$",
                        "maxLength": MAX_SERVICE_URL_CHARS,
                        "description": "the rental service that issued the credential: the "
                        "daemon renews it there (mutual TLS) while it hosts the film"},
    }, required=["torrent", "credential", "node_key_path"]),
    "DownloadList": _object({"downloads": {"type": "array", "items": _ref("Download")}}),
    "RentalRequest": _object({
        "torrent": {**_BASE64, "description": "the film's .torrent file"},
        "rental": {**_BASE64, "description": "the rental bundle (.pvr)"},
        "node_key_path": {"type": "string", "pattern": "^/",
                          "description": "absolute path of this node's key (mode 0600)"},
        "peers": {"type": "array", "items": {"type": "string", "pattern": _HOSTPORT},
                  "description": "HOST:PORT peers to connect to directly ([V6]:PORT for IPv6)"},
    }, required=["torrent", "rental", "node_key_path"]),
    "Settings": _object({
        "upload_rate_bps": _RATE,
        "download_rate_bps": _RATE,
        "seed_when_complete": {"type": "boolean",
                               "description": "share completed films (the customer's consent)"},
        "port_mapping": {"type": "boolean",
                         "description": "ask the home router (UPnP IGD, NAT-PMP) to forward "
                         "the node's port (the customer's consent)"},
        "hosting": _object(_HOSTING),
    }),
    "SettingsUpdate": _object({
        "upload_rate_bps": _RATE,
        "download_rate_bps": _RATE,
        "seed_when_complete": {"type": "boolean"},
        "port_mapping": {"type": "boolean"},
        "hosting": _object(_HOSTING, required=[]),
    }, required=[]),
    "PortMapping": _object({
        "state": {"enum": ["pending", "mapped", "failed", "disabled"]},
        "protocol": {"enum": ["upnp", "natpmp"], "description": "what mapped the port"},
        "external_address": {"type": ["string", "null"],
                             "description": "the router's public address, if it said"},
        "external_port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "error": {"type": "string", "description": "why the port is not mapped"},
    }, required=["state"]),
    "Health": _object({"status": {"enum": ["ok", "degraded"],
                                  "description": "degraded: the SSL listen socket is closed"},
                       "downloads": _INT, "ssl_port": _INT, "uptime_s": {"type": "number"},
                       "port_mapping": _ref("PortMapping")},
                      required=["status", "downloads", "ssl_port", "uptime_s"]),
    "Playback": _object({"id": {"type": "string"}, "url": {"type": "string", "format": "uri"}}),
    "Deleted": _object({"id": {"type": "string"}, "deleted": {"const": True},
                        "files_deleted": {"type": "boolean"}}),
    "DownloadFailedEvent": _object({"id": {"type": "string"}, "code": {"type": "string"},
                                    "message": {"type": "string"}}),
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# What any request can be answered besides its own outcomes: broken HTTP (400; 501 for
# an unknown transfer coding), no or a wrong token (401), another method (405, with
# Allow), a head or body not in time (408), too large (413, 431), a failure (500), and
# every connection slot taken (503).
_ANY_REQUEST = (400, 401, 405, 408, 413, 431, 500, 501, 503)
_ERROR_TEXT = {400: "bad request", 401: "no or wrong bearer token",
               403: "refused by the owner's hosting settings (off, or the quota is reached)",
               404: "no such download or hosted film",
               405: "method not allowed here", 408: "request not received in time",
               409: "conflict with the download's (or hosted film's) state",
               413: "request body too large",
               431: "request head too large", 500: "internal error",
               501: "transfer coding not supported",
               503: "every connection slot is taken, playback cannot start, or the "
                    "rental service cannot renew an expired certificate now; retry"}
_ALLOW = {"Allow": {"required": True, "description": "the methods this path has",
                    "schema": {"type": "string"}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    for status in sorted({*_ANY_REQUEST, *statuses}):
        out[str(status)] = _json(_ref("Error"), _ERROR_TEXT[status])
        if status == 405:
            out[str(status)]["headers"] = _ALLOW
    return out


_ID = [{"name": "id", "in": "path", "required": True, "schema": _FILM_ID,
        "description": "a download id (its film id)"}]


_HOSTED_ID = [{"name": "id", "in": "path", "required": True, "schema": _FILM_ID,
               "description": "the hosted film's id"}]


def _op(summary: str, ok: str, schema: str, *errors: int, **extra: Any) -> Schema:
    return {"summary": summary, "responses": {ok: _json(_ref(schema), summary), **_errors(*errors)},
            **extra}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document as a JSON-ready dict."""
    body = {"required": True, "content": {"application/json": {"schema": _ref("RentalRequest")}}}
    hosting_body = {"required": True,
                    "content": {"application/json": {"schema": _ref("HostingRequest")}}}
    settings_body = {"required": True,
                     "content": {"application/json": {"schema": _ref("SettingsUpdate")}}}
    events = {
        "description": "server-sent events; each `data` is one JSON object: `progress`, "
        "`completed`, `rental-expired`, `rental-renewed` and `renewal-refused` carry a "
        "Download, `error` a DownloadFailedEvent, "
        f"`{PORT_MAPPING_EVENT}` a PortMapping (when the router mapping changes), "
        + ", ".join(f"`{k}`" for k in HOSTING_EVENT_KINDS) + " a Hosting",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "peernode daemon control API",
            "version": "1",
            "description": "Local control API of `peernode daemon` (127.0.0.1 only). Every "
            "/v1 call needs `Authorization: Bearer TOKEN` (TOKEN in STATE_DIR/token, at "
            f"least {MIN_TOKEN_CHARS} characters). Request "
            f"bodies are limited to {MAX_BODY_BYTES} bytes. Event kinds: "
            + ", ".join((*EVENT_KINDS, PORT_MAPPING_EVENT, *HOSTING_EVENT_KINDS)) + ".",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/openapi.json": {"get": {"summary": "this document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1"},
                                                    **_errors()}}},
            "/v1/health": {"get": _op("daemon health", "200", "Health")},
            "/v1/rentals": {"post": _op("add a rental: start downloading its film", "201",
                                        "Download", 400, 409, 413, requestBody=body)},
            "/v1/downloads": {"get": _op("every download", "200", "DownloadList")},
            "/v1/downloads/{id}": {
                "get": _op("one download", "200", "Download", 404, parameters=_ID),
                "delete": _op("stop and forget a download", "200", "Deleted", 404,
                              parameters=[*_ID, {"name": "delete_files", "in": "query",
                                                 "schema": {"type": "boolean"}}]),
            },
            "/v1/downloads/{id}/pause": {"post": _op("pause", "200", "Download", 404, 409,
                                                     parameters=_ID)},
            "/v1/downloads/{id}/resume": {"post": _op("resume", "200", "Download", 404, 409,
                                                      parameters=_ID)},
            "/v1/downloads/{id}/playback": {"get": _op("the playback URL (starts a server)",
                                                       "200", "Playback", 404, 409, 503,
                                                       parameters=_ID)},
            "/v1/events": {"get": {"summary": "server-sent events",
                                   "responses": {"200": events, **_errors()}}},
            "/v1/hostings": {"get": _op("every hosted film", "200", "HostingList")},
            "/v1/hostings/{id}": {
                "put": {
                    "summary": "host a film placed on this node (its torrent and hosting "
                    "credential); refused (403) unless the owner opted in and the quota has "
                    "room",
                    "parameters": _HOSTED_ID, "requestBody": hosting_body,
                    "responses": {"200": _json(_ref("Hosting"), "hosted already: its "
                                               "credential was replaced"),
                                  "201": _json(_ref("Hosting"), "placement received"),
                                  **_errors(400, 403, 409, 413)},
                },
                "get": _op("one hosted film", "200", "Hosting", 404, parameters=_HOSTED_ID),
                "delete": _op("stop hosting a film and free its disk", "200", "Deleted", 404,
                              parameters=_HOSTED_ID),
            },
            "/v1/settings": {
                "get": _op("the settings", "200", "Settings"),
                "put": _op("change caps and seeding policy (fields omitted stay)", "200",
                           "Settings", 400, requestBody=settings_body),
            },
        },
    }
