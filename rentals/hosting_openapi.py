"""The hosting part of the OpenAPI document (`rentals.openapi` merges it in)."""

from __future__ import annotations

from support.openapi_schema import Schema
from support.openapi_schema import object_schema as _object
from support.openapi_schema import ref as _ref

__all__ = ["HOSTING_PATHS", "HOSTING_SCHEMAS"]

_TIME: Schema = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_ID: Schema = {"type": "string", "pattern": "^[1-9][0-9]*$",
               "description": "the hosting id: the serial of its certificates, in decimal"}
_CREDENTIAL: Schema = {
    "type": "string", "contentMediaType": "application/x-pem-file",
    "description": "the hosting credential as PEM text (the content of a .pvh file): one "
                   "certificate, SAN = film id, the hosting policy, no content key",
}

_HOSTING: dict[str, Schema] = {
    "hosting_id": _ID,
    "film_id": {"type": "string"},
    "state": {"enum": ["pending", "issued"],
              "description": "pending: reserved, certificate not yet stored (retry the create)"},
    "not_before": {**_TIME, "description": "the hosting window's start"},
    "not_after": {**_TIME, "description": "the hosting window's end: no renewal past it"},
    "certificate_not_after": {**_NULLABLE_TIME,
                              "description": "end of the first certificate stored with it"},
    "created_at": _TIME,
    "revoked": {"type": "boolean"},
    "revoked_at": _NULLABLE_TIME,
    "revoke_reason": {"type": ["string", "null"]},
    "renew_url": {"type": "string", "description": "where the node renews (mutual TLS)"},
}

HOSTING_SCHEMAS: dict[str, Schema] = {
    "HostingRequest": _object({
        "film_id": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"},
        "node_public_key": {"type": "string",
                            "description": "the opted-in node's node.pub (PEM)"},
        "days": {"type": "number", "exclusiveMinimum": 0, "maximum": 90,
                 "description": "window length (or give not_after)"},
        "not_after": _TIME,
        "not_before": {**_TIME, "description": "window start (default: now)"},
    }, required=["film_id", "node_public_key"]),
    "Hosting": _object(_HOSTING),
    "CreatedHosting": _object({**_HOSTING, "credential": _CREDENTIAL}),
    "HostingRenewal": _object({
        "hosting_id": _ID,
        "credential": _CREDENTIAL,
        "certificate_not_after": _TIME,
        "not_after": {**_TIME, "description": "the hosting window's end"},
        "renew_after": {**_TIME, "description": "when to renew next (2/3 of the lifetime)"},
    }),
}


def _error(description: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


_SHOP: list[Schema] = [{"shopKey": []}]
_ID_PARAM = {"name": "hosting_id", "in": "path", "required": True, "schema": _ID}
_UNAUTHENTICATED = _error("no, unknown or revoked shop key")

HOSTING_PATHS: dict[str, Schema] = {
    "/v1/hostings": {
        "post": {
            "summary": "create a hosting: a credential for an opted-in node (no content key)",
            "security": _SHOP,
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "maxLength": 200},
                            "description": "a retry with the same key and body returns the"
                            " first answer"}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("HostingRequest")}}},
            "responses": {
                "201": _json("created (or replayed)", "CreatedHosting"),
                "400": _error("a field is invalid (named in `field`)"),
                "401": _UNAUTHENTICATED,
                "404": _error("the film is not in the catalogue"),
                "409": _error("the Idempotency-Key was used for another request"),
            },
        },
    },
    "/v1/hostings/{hosting_id}": {
        "get": {
            "summary": "read a hosting",
            "security": _SHOP,
            "parameters": [_ID_PARAM],
            "responses": {"200": _json("the hosting", "Hosting"),
                          "401": _UNAUTHENTICATED,
                          "404": _error("no such hosting")},
        },
    },
    "/v1/hostings/{hosting_id}/revoke": {
        "post": {
            "summary": "revoke (host left, replaced): on the CRL at once, no more renewals",
            "security": _SHOP,
            "parameters": [_ID_PARAM],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("Revocation")}}},
            "responses": {"200": _json("revoked (idempotent)", "Hosting"),
                          "400": _error("no reason"),
                          "401": _UNAUTHENTICATED,
                          "404": _error("no such hosting")},
        },
    },
    "/v1/hostings/{hosting_id}/renew": {
        "post": {
            "summary": "a fresh hosting certificate (mutual TLS with the hosting certificate)",
            "security": [{"nodeCertificate": []}],
            "parameters": [_ID_PARAM],
            "responses": {
                "200": _json("renewed", "HostingRenewal"),
                "401": _error("no client certificate"),
                "403": _error("revoked, ended, not issued, not a hosting certificate of this"
                              " hosting, or another node key"),
                "404": _error("no such hosting"),
            },
        },
    },
}
