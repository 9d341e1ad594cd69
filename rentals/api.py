"""The HTTP API: routes of the rental service, mapped onto `RentalService`.

One `Handler` per connection (it knows the client certificate of that TLS
connection, if any). Blocking work (the store, scrypt, signing) runs in worker
threads; errors of `rentals` become JSON ``{"code", "message", "field"}`` with
their status; every answer is timed and every refusal counted by reason.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import trio

from rentals.errors import FieldError, RentalsError
from rentals.hosting_api import HostingApi
from rentals.hostings import HostingService
from rentals.metrics import ServiceMetrics
from rentals.openapi import openapi_document
from rentals.records import RentalRecord
from rentals.requests import parse_idempotency_key, parse_json_object, parse_revoke_request
from rentals.service import Issued, RentalService, parse_rental_id
from rentals.shop_keys import ShopKeyRecord
from support.http import Handler, HttpError, Request, Response

__all__ = ["RentalApi", "error_response"]

log = logging.getLogger("rentals")

_JSON = ("Content-Type", "application/json")
_NO_STORE = ("Cache-Control", "no-store")
_T = TypeVar("_T")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_response(status: int, value: Any, *headers: tuple[str, str], close: bool = False
                   ) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status, [_JSON, _NO_STORE, *headers], body, close=close)


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   close: bool = False) -> Response:
    """The JSON error body of every refusal."""
    value: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        value["field"] = field
    headers = [("WWW-Authenticate", 'Bearer realm="peernode rentals"')] if status == 401 else []
    return _json_response(status, value, *headers, close=close)


class RentalApi:
    """The routes, the clock, and what each answer is counted as."""

    def __init__(
        self,
        service: RentalService,
        metrics: ServiceMetrics,
        *,
        publish_crl: Callable[[], None],
        public_url: str,
        limiter: trio.CapacityLimiter,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hostings: HostingService | None = None,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.publish_crl = publish_crl
        self.public_url = public_url.rstrip("/")
        self.limiter = limiter
        self.clock = clock
        self.draining = False
        # the hosting routes (pre-positioning), if the service issues hostings
        self.hostings = None if hostings is None else HostingApi(
            hostings, service, metrics, publish_crl=publish_crl, public_url=public_url,
            run=self._run, respond=_json_response, iso=_iso, clock=lambda: self.clock(),
            not_allowed=_not_allowed,
        )

    async def _run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        return await trio.to_thread.run_sync(
            functools.partial(fn, *args, **kwargs), limiter=self.limiter
        )

    def handler(self, client_certificate: bytes | None) -> Handler:
        """The handler of one connection, whose client presented ``client_certificate``."""

        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            route = "other"
            try:
                route, response = await self._route(request, client_certificate)
            except RentalsError as e:
                self.metrics.refusals.labels(e.reason).inc()
                if e.status >= 500:
                    log.error("%s %s failed: %s", request.method, request.path, e)
                field = e.field if isinstance(e, FieldError) else None
                response = error_response(e.status, e.reason, str(e), field=field)
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            if self.draining:
                response = Response(response.status, response.headers, response.body, close=True)
            return response

        return handle

    async def _route(self, request: Request, cert: bytes | None) -> tuple[str, Response]:
        parts = urlsplit(request.target)
        segments = [s for s in parts.path.split("/") if s]
        method = request.method
        if segments == ["health"]:
            return "health", _check_method(method, "GET") or await self._health()
        if segments == ["metrics"]:
            return "metrics", _check_method(method, "GET") or Response(
                200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                self.metrics.render(),
            )
        if segments == ["openapi.json"]:
            return "openapi", _check_method(method, "GET") or _json_response(
                200, openapi_document(self.public_url)
            )
        if segments[:2] == ["v1", "hostings"] and len(segments) <= 4 and self.hostings:
            return await self.hostings.route(request, segments, cert)
        if segments[:2] != ["v1", "rentals"] or len(segments) > 4:
            return "other", error_response(404, "not_found", f"no route {parts.path}")
        if len(segments) == 2:
            if method == "POST":
                return "create", await self._create(request)
            if method == "GET":
                return "list", await self._list(request, parts.query)
            return "other", _not_allowed("GET, POST")
        rental_id = parse_rental_id(segments[2])
        if len(segments) == 3:
            return "get", _check_method(method, "GET") or await self._get(request, rental_id)
        action = segments[3]
        if action == "revoke":
            return "revoke", _check_method(method, "POST") or await self._revoke(
                request, rental_id
            )
        if action == "renew":
            return "renew", _check_method(method, "POST") or await self._renew(rental_id, cert)
        return "other", error_response(404, "not_found", f"no route {parts.path}")

    # -- answers ----------------------------------------------------------------------

    def _rental_json(self, record: RentalRecord) -> dict[str, Any]:
        return {
            "rental_id": str(record.rental_id),
            "film_id": record.film_id,
            "state": record.state.value,
            "not_before": _iso(record.not_before),
            "not_after": _iso(record.not_after),
            "certificate_not_after": _iso(record.certificate_not_after),
            "created_at": _iso(record.created_at),
            "revoked": record.revoked,
            "revoked_at": _iso(record.revoked_at),
            "revoke_reason": record.revoke_reason,
            "renew_url": f"{self.public_url}/v1/rentals/{record.rental_id}/renew",
        }

    async def _health(self) -> Response:
        count = await self._run(self.service.store.count_rentals)
        films = await self._run(self.service.catalog.films)
        return _json_response(200, {"status": "ok", "rentals": count, "films": len(films)})

    async def _shop(self, request: Request) -> Any:
        return await self._run(self.service.authenticate, request.header("authorization"))

    async def _raw_body(self, request: Request) -> bytes | FieldError:
        """The body, read before the key is checked (so that the check, the parsing and
        the operation take one trip to a worker thread); a failure to read is kept."""
        try:
            return await request.body()
        except HttpError as e:
            return FieldError("body", e.reason)

    async def _create(self, request: Request) -> Response:
        authorization = request.header("authorization")
        idempotency_header = request.header("idempotency-key")
        raw = await self._raw_body(request)
        now = self.clock()

        def create() -> tuple[ShopKeyRecord, Issued]:
            shop = self.service.authenticate(authorization)
            idempotency_key = parse_idempotency_key(idempotency_header)
            body = parse_json_object(_bytes_or_raise(raw))
            return shop, self.service.create(shop, body, idempotency_key=idempotency_key,
                                             now=now)

        shop, issued = await self._run(create)
        headers = [("Location", f"/v1/rentals/{issued.record.rental_id}")]
        if issued.replayed:
            headers.append(("Idempotent-Replayed", "true"))
        else:
            self.metrics.created.inc()
            log.info("rental %d created film=%s key=%s", issued.record.rental_id,
                     issued.record.film_id, shop.name)
        value = self._rental_json(issued.record) | {
            "bundle": base64.b64encode(issued.bundle).decode("ascii")
        }
        return _json_response(201, value, *headers)

    async def _list(self, request: Request, query: str) -> Response:
        await self._shop(request)
        params = parse_qs(query)
        limit, after = 100, None
        if "limit" in params:
            text = params["limit"][0]
            if not text.isdigit():
                raise FieldError("limit", "must be an integer in 1..1000")
            limit = int(text)
        if "after" in params:
            try:
                after = parse_rental_id(params["after"][0])
            except RentalsError:
                raise FieldError("after", "must be a rental id") from None
        records = await self._run(self.service.list, limit=limit, after=after)
        next_after = str(records[-1].rental_id) if len(records) == limit else None
        return _json_response(200, {"rentals": [self._rental_json(r) for r in records],
                                    "next_after": next_after})

    async def _get(self, request: Request, rental_id: int) -> Response:
        await self._shop(request)
        record = await self._run(self.service.get, rental_id)
        return _json_response(200, self._rental_json(record))

    async def _revoke(self, request: Request, rental_id: int) -> Response:
        authorization = request.header("authorization")
        raw = await self._raw_body(request)
        now = self.clock()

        def revoke() -> tuple[ShopKeyRecord, str, RentalRecord]:
            shop = self.service.authenticate(authorization)
            reason = parse_revoke_request(parse_json_object(_bytes_or_raise(raw)))
            record = self.service.revoke(rental_id, reason=reason, now=now)
            # the CRL is on disk before the shop hears "revoked": trackers refuse at once
            self.publish_crl()
            return shop, reason, record

        shop, reason, record = await self._run(revoke)
        self.metrics.revocations.inc()
        log.info("rental %d revoked by key=%s reason=%r", rental_id, shop.name, reason)
        return _json_response(200, self._rental_json(record))

    async def _renew(self, rental_id: int, cert: bytes | None) -> Response:
        now = self.clock()
        issued: Issued = await self._run(self.service.renew, rental_id, cert, now=now)
        self.metrics.renewals.inc()
        lifetime = issued.certificate_not_after - now
        return _json_response(200, {
            "rental_id": str(rental_id),
            "bundle": base64.b64encode(issued.bundle).decode("ascii"),
            "certificate_not_after": _iso(issued.certificate_not_after),
            "not_after": _iso(issued.record.not_after),
            "renew_after": _iso(now + lifetime * 2 / 3),
        })


def _bytes_or_raise(raw: bytes | FieldError) -> bytes:
    if isinstance(raw, FieldError):
        raise raw
    return raw


def _check_method(method: str, allowed: str) -> Response | None:
    return None if method == allowed or (allowed == "GET" and method == "HEAD") else _not_allowed(
        allowed
    )


def _not_allowed(allowed: str) -> Response:
    response = error_response(405, "method_not_allowed", f"use {allowed}")
    return Response(405, [*response.headers, ("Allow", allowed)], response.body)
