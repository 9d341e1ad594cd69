"""The tracker's request logic end to end, without sockets: target in, bencoded body out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from typing import Any
from urllib.parse import urlencode

from tracker.admission import CertInfo, Reason
from tracker.catalog import Catalog
from tracker.service import RequestKind, TrackerService
from tracker.swarm import Swarms

from .conftest import bdecoded

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
IH_A, IH_B = b"\xaa" * 20, b"\xbb" * 20
RENTAL_A = CertInfo(1, ("film-a",), T0, T0 + timedelta(days=2))
ORIGIN = CertInfo(2, ("*",), T0, T0 + timedelta(days=365))


def service(**kw: Any) -> TrackerService:
    return TrackerService(Swarms(), Catalog({IH_A: "film-a", IH_B: "film-b"}), **kw)


def announce(ih: bytes, n: int, left: int = 5, **extra: str) -> bytes:
    q = {
        "info_hash": ih,
        "peer_id": bytes([n]) * 20,
        "port": str(6000 + n),
        "uploaded": "0",
        "downloaded": "0",
        "left": str(left),
        **extra,
    }
    return b"/announce?" + urlencode(q).encode()


def call(svc: TrackerService, target: bytes, cert: CertInfo, n: int = 1) -> Any:
    out = svc.handle(
        target, cert, IPv4Address(f"10.0.0.{n}"), now=0.0, wall_now=NOW, rng=random.Random(1)
    )
    return out, bdecoded(out.body)


def test_admitted_announce_gets_the_origin() -> None:
    svc = service()
    call(svc, announce(IH_A, 9, left=0), ORIGIN, 9)
    out, body = call(svc, announce(IH_A, 1), RENTAL_A, 1)
    assert out.kind is RequestKind.ANNOUNCE
    assert out.decision.reason is Reason.ADMITTED
    assert body[b"peers"] == bytes([10, 0, 0, 9]) + (6009).to_bytes(2, "big")
    # a leecher not known connectable with no connectable peer is asked back soon
    assert (body[b"interval"], body[b"min interval"]) == (60, 60)
    assert (body[b"complete"], body[b"incomplete"]) == (1, 1)


def test_refused_announce_gets_a_failure_reason_and_is_not_stored() -> None:
    svc = service(revoked_serials=frozenset({1}))
    out, body = call(svc, announce(IH_A, 1), RENTAL_A)
    assert out.decision.reason is Reason.REVOKED
    assert body[b"failure reason"] == b"rental has been revoked"
    assert body[b"min interval"] == 300
    assert b"peers" not in body
    assert list(svc.swarms.swarms()) == []
    out, body = call(service(), announce(IH_B, 1), RENTAL_A)
    assert out.decision.reason is Reason.FILM_MISMATCH
    assert out.decision.film == "film-b"


def test_malformed_and_unknown_path() -> None:
    out, body = call(service(), announce(b"short", 1), RENTAL_A)
    assert (out.kind, out.status) == (RequestKind.MALFORMED, 200)
    assert body[b"failure reason"] == b"invalid info_hash: must be 20 bytes"
    out, _ = call(service(), b"/favicon.ico", RENTAL_A)
    assert (out.kind, out.status) == (RequestKind.NOT_FOUND, 404)


def test_scrape_only_shows_admitted_films() -> None:
    svc = service()
    call(svc, announce(IH_A, 1), RENTAL_A)
    call(svc, announce(IH_B, 9, left=0), ORIGIN, 9)
    _, body = call(svc, b"/scrape", RENTAL_A)
    assert body == {b"files": {IH_A: {b"complete": 0, b"incomplete": 1, b"downloaded": 0}}}
    _, body = call(svc, b"/scrape?" + urlencode({"info_hash": IH_B}).encode(), RENTAL_A)
    assert body == {b"files": {}}
    _, body = call(svc, b"/scrape", ORIGIN)
    assert set(body[b"files"]) == {IH_A, IH_B}
    expired = CertInfo(3, ("film-a",), T0, T0 + timedelta(minutes=1))
    out, body = call(svc, b"/scrape", expired)
    assert out.decision.reason is Reason.EXPIRED
    assert body[b"failure reason"] == b"rental has expired"
