"""The OpenAPI 3.1 description of the rental service (served at /openapi.json).

Its schemas are JSON Schema 2020-12; the end-to-end tests validate every JSON
response against them, so the document and the service cannot drift apart.
"""

from __future__ import annotations

from rentals.hosting_openapi import HOSTING_PATHS, HOSTING_SCHEMAS
from support.openapi_schema import Schema
from support.openapi_schema import object_schema as _object
from support.openapi_schema import ref as _ref

__all__ = ["ERROR_CODES", "openapi_document"]

ERROR_CODES = (
    "invalid_field", "unauthenticated", "not_found", "idempotency_conflict", "revoked",
    "ended", "not_issued", "wrong_node_key", "store_unavailable", "method_not_allowed",
    "internal",
)

_TIME: Schema = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_ID: Schema = {"type": "string", "pattern": "^[1-9][0-9]*$",
       "description": "the rental id: the serial of its certificates, in decimal"}


_RENTAL: dict[str, Schema] = {
    "rental_id": _ID,
    "film_id": {"type": "string"},
    "state": {"enum": ["pending", "issued"],
              "description": "pending: reserved, certificate not yet stored (retry the create)"},
    "not_before": {**_TIME, "description": "the rental window's start"},
    "not_after": {**_TIME, "description": "the rental window's end"},
    "certificate_not_after": {**_NULLABLE_TIME,
                              "description": "end of the last certificate stored with it"},
    "created_at": _TIME,
    "revoked": {"type": "boolean"},
    "revoked_at": _NULLABLE_TIME,
    "revoke_reason": {"type": ["string", "null"]},
    "renew_url": {"type": "string", "description": "where the node renews (mutual TLS)"},
}
_BUNDLE: Schema = {"type": "string", "contentEncoding": "base64",
           "description": "the rental bundle (.pvr), as `peernode fetch --rental` reads it; it "
                          "names this service and the rental window, so the node renews "
                          "by itself"}

_SCHEMAS: dict[str, Schema] = {
    "Error": _object({
        "code": {"enum": list(ERROR_CODES)},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the request field at fault (400)"},
    }, required=["code", "message"]),
    "RentalRequest": _object({
        "film_id": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"},
        "node_public_key": {"type": "string", "description": "the node's node.pub (PEM)"},
        "hours": {"type": "number", "exclusiveMinimum": 0,
                  "description": "window length (or give not_after)"},
        "not_after": _TIME,
        "not_before": {**_TIME, "description": "window start (default: now)"},
    }, required=["film_id", "node_public_key"]),
    "Rental": _object(_RENTAL),
    "CreatedRental": _object({**_RENTAL, "bundle": _BUNDLE}),
    "RentalList": _object({"rentals": {"type": "array", "items": _ref("Rental")},
                           "next_after": {"type": ["string", "null"]}}),
    "Revocation": _object({"reason": {"type": "string", "minLength": 1, "maxLength": 500}}),
    "Renewal": _object({
        "rental_id": _ID,
        "bundle": _BUNDLE,
        "certificate_not_after": _TIME,
        "not_after": {**_TIME, "description": "the rental window's end: no renewal past it"},
        "renew_after": {**_TIME, "description": "when to renew next (2/3 of the lifetime)"},
    }),
    "Health": _object({"status": {"enum": ["ok"]}, "rentals": {"type": "integer"},
                       "films": {"type": "integer"}}),
}


def _error(description: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


_SHOP: list[Schema] = [{"shopKey": []}]
_ID_PARAM = {"name": "rental_id", "in": "path", "required": True, "schema": _ID}


def openapi_document(server_url: str | None = None) -> Schema:
    """The whole document; ``server_url`` is put in ``servers`` if given."""
    doc: Schema = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "peernode rental service",
            "version": "1",
            "description": "Rentals for the shop's backend (API key), renewals for nodes"
            " (mutual TLS with the rental certificate), the CRL published for trackers.",
        },
        "components": {
            "schemas": {**_SCHEMAS, **HOSTING_SCHEMAS},
            "securitySchemes": {
                "shopKey": {"type": "http", "scheme": "bearer",
                            "description": "a key from `peernode rental-service add-shop-key`"},
                "nodeCertificate": {"type": "mutualTLS",
                                    "description": "a certificate of this CA for the rental's"
                                    " node key (an expired one too)"},
            },
        },
        "paths": {
            "/v1/rentals": {
                "post": {
                    "summary": "create a rental: certificate + wrapped content key",
                    "security": _SHOP,
                    "parameters": [{"name": "Idempotency-Key", "in": "header",
                                    "required": False, "schema": {"type": "string",
                                                                  "maxLength": 200},
                                    "description": "a retry with the same key and body"
                                    " returns the first answer"}],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("RentalRequest")}}},
                    "responses": {
                        "201": _json("created (or replayed)", "CreatedRental"),
                        "400": _error("a field is invalid (named in `field`)"),
                        "401": _error("no, unknown or revoked shop key"),
                        "404": _error("the film is not in the catalogue"),
                        "409": _error("the Idempotency-Key was used for another request"),
                    },
                },
                "get": {
                    "summary": "list rentals in id order",
                    "security": _SHOP,
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {
                            "type": "integer", "minimum": 1, "maximum": 1000}},
                        {"name": "after", "in": "query", "schema": _ID},
                    ],
                    "responses": {"200": _json("rentals", "RentalList"),
                                  "401": _error("no, unknown or revoked shop key")},
                },
            },
            "/v1/rentals/{rental_id}": {
                "get": {
                    "summary": "read a rental",
                    "security": _SHOP,
                    "parameters": [_ID_PARAM],
                    "responses": {"200": _json("the rental", "Rental"),
                                  "401": _error("no, unknown or revoked shop key"),
                                  "404": _error("no such rental")},
                },
            },
            "/v1/rentals/{rental_id}/revoke": {
                "post": {
                    "summary": "revoke (refund, abuse): on the CRL at once, no more renewals",
                    "security": _SHOP,
                    "parameters": [_ID_PARAM],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("Revocation")}}},
                    "responses": {"200": _json("revoked (idempotent)", "Rental"),
                                  "400": _error("no reason"),
                                  "401": _error("no, unknown or revoked shop key"),
                                  "404": _error("no such rental")},
                },
            },
            "/v1/rentals/{rental_id}/renew": {
                "post": {
                    "summary": "a fresh certificate for the node (mutual TLS proves its key)",
                    "security": [{"nodeCertificate": []}],
                    "parameters": [_ID_PARAM],
                    "responses": {
                        "200": _json("renewed", "Renewal"),
                        "401": _error("no client certificate"),
                        "403": _error("revoked, ended, not issued, or another node key"),
                        "404": _error("no such rental"),
                    },
                },
            },
            **HOSTING_PATHS,
            "/health": {"get": {"summary": "liveness and database",
                                "responses": {"200": _json("ok", "Health"),
                                              "503": _error("the database is unavailable")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {
                "200": {"description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
    }
    if server_url is not None:
        doc["servers"] = [{"url": server_url}]
    return doc
