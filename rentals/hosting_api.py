"""The hosting routes (``/v1/hostings``...), mapped onto `HostingService`.

Called by `rentals.api.RentalApi` for paths under ``/v1/hostings``. Same shape as the
rental routes: the operator's shop key creates, reads and revokes; the node renews
over mutual TLS with its hosting certificate. The credential is returned as PEM
text (a ``.pvh`` file's content). Every refusal is also counted by reason in
``peernode_hosting_refusals``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from rentals.errors import FieldError, NotFoundError, RentalsError
from rentals.hosting_records import HostingRecord
from rentals.hostings import HostingIssued, HostingService, parse_hosting_id
from rentals.metrics import ServiceMetrics
from rentals.requests import parse_idempotency_key, parse_json_object, parse_revoke_request
from rentals.service import RentalService
from rentals.shop_keys import ShopKeyRecord
from support.http import HttpError, Request, Response

__all__ = ["HostingApi"]

_Json = Callable[..., Response]
_Run = Callable[..., Awaitable[Any]]


class HostingApi:
    """The hosting routes; ``respond``/``iso``/``run`` come from the rental API."""

    def __init__(
        self,
        hostings: HostingService,
        rentals: RentalService,
        metrics: ServiceMetrics,
        *,
        publish_crl: Callable[[], None],
        public_url: str,
        run: _Run,
        respond: _Json,
        iso: Callable[[datetime | None], str | None],
        clock: Callable[[], datetime],
        not_allowed: Callable[[str], Response],
    ) -> None:
        self.hostings = hostings
        self.rentals = rentals
        self.metrics = metrics
        self.publish_crl = publish_crl
        self.public_url = public_url.rstrip("/")
        self._run = run
        self._respond = respond
        self._iso = iso
        self._clock = clock
        self._not_allowed = not_allowed

    async def route(
        self, request: Request, segments: list[str], cert: bytes | None
    ) -> tuple[str, Response]:
        """Answer a request whose path starts with ``/v1/hostings``."""
        try:
            return await self._route(request, segments, cert)
        except RentalsError as e:
            self.metrics.hosting_refusals.labels(e.reason).inc()
            raise

    async def _route(
        self, request: Request, segments: list[str], cert: bytes | None
    ) -> tuple[str, Response]:
        method = request.method
        if len(segments) == 2:
            if method == "POST":
                return "hosting_create", await self._create(request)
            return "other", self._not_allowed("POST")
        hosting_id = parse_hosting_id(segments[2])
        if len(segments) == 3:
            if method not in ("GET", "HEAD"):
                return "other", self._not_allowed("GET")
            return "hosting_get", await self._get(request, hosting_id)
        action = segments[3]
        if action == "revoke":
            if method != "POST":
                return "other", self._not_allowed("POST")
            return "hosting_revoke", await self._revoke(request, hosting_id)
        if action == "renew":
            if method != "POST":
                return "other", self._not_allowed("POST")
            return "hosting_renew", await self._renew(hosting_id, cert)
        raise NotFoundError(f"no route {request.target}")

    def _json(self, record: HostingRecord) -> dict[str, Any]:
        return {
            "hosting_id": str(record.hosting_id),
            "film_id": record.film_id,
            "state": record.state.value,
            "not_before": self._iso(record.not_before),
            "not_after": self._iso(record.not_after),
            "certificate_not_after": self._iso(record.certificate_not_after),
            "created_at": self._iso(record.created_at),
            "revoked": record.revoked,
            "revoked_at": self._iso(record.revoked_at),
            "revoke_reason": record.revoke_reason,
            "renew_url": f"{self.public_url}/v1/hostings/{record.hosting_id}/renew",
        }

    async def _body(self, request: Request) -> bytes | RentalsError:
        try:
            return await request.body()
        except HttpError as e:
            return FieldError("body", e.reason)

    async def _create(self, request: Request) -> Response:
        authorization = request.header("authorization")
        idempotency_header = request.header("idempotency-key")
        raw = await self._body(request)
        now = self._clock()

        def create() -> tuple[ShopKeyRecord, HostingIssued]:
            shop = self.rentals.authenticate(authorization)
            idempotency_key = parse_idempotency_key(idempotency_header)
            body = parse_json_object(_bytes_or_raise(raw))
            return shop, self.hostings.create(shop, body, idempotency_key=idempotency_key,
                                              now=now)

        _, issued = await self._run(create)
        headers = [("Location", f"/v1/hostings/{issued.record.hosting_id}")]
        if issued.replayed:
            headers.append(("Idempotent-Replayed", "true"))
        else:
            self.metrics.hostings_created.inc()
        value = self._json(issued.record) | {"credential": issued.credential.decode("ascii")}
        return self._respond(201, value, *headers)

    async def _get(self, request: Request, hosting_id: int) -> Response:
        authorization = request.header("authorization")

        def get() -> HostingRecord:
            self.rentals.authenticate(authorization)
            return self.hostings.get(hosting_id)

        return self._respond(200, self._json(await self._run(get)))

    async def _revoke(self, request: Request, hosting_id: int) -> Response:
        authorization = request.header("authorization")
        raw = await self._body(request)
        now = self._clock()

        def revoke() -> HostingRecord:
            self.rentals.authenticate(authorization)
            reason = parse_revoke_request(parse_json_object(_bytes_or_raise(raw)))
            record = self.hostings.revoke(hosting_id, reason=reason, now=now)
            # the CRL is on disk before the operator hears "revoked"
            self.publish_crl()
            return record

        record = await self._run(revoke)
        self.metrics.hostings_revoked.inc()
        return self._respond(200, self._json(record))

    async def _renew(self, hosting_id: int, cert: bytes | None) -> Response:
        now = self._clock()
        issued: HostingIssued = await self._run(self.hostings.renew, hosting_id, cert, now=now)
        self.metrics.hosting_renewals.inc()
        lifetime = issued.certificate_not_after - now
        return self._respond(200, {
            "hosting_id": str(hosting_id),
            "credential": issued.credential.decode("ascii"),
            "certificate_not_after": self._iso(issued.certificate_not_after),
            "not_after": self._iso(issued.record.not_after),
            "renew_after": self._iso(now + lifetime * 2 / 3),
        })


def _bytes_or_raise(raw: bytes | RentalsError) -> bytes:
    if isinstance(raw, RentalsError):
        raise raw
    return raw
