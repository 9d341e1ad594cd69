"""Answering requests while the shared store (Redis) is unreachable (pure).

`TrackerService.handle` lets a store failure through; the connection would be dropped
without an answer and the client would retry at once. `OutageTolerantService` answers
it instead with a bencoded ``failure reason`` and a ``min interval`` so clients back off.
"""

from __future__ import annotations

import random
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from tracker.admission import CertInfo
from tracker.errors import MalformedRequest
from tracker.redis_backend.store import RedisUnavailable
from tracker.request import ScrapeRequest, parse_request_target
from tracker.response import encode_failure
from tracker.service import HTTP_OK, Outcome, RequestKind, TrackerService

__all__ = ["STORE_UNAVAILABLE", "OutageTolerantService"]

STORE_UNAVAILABLE = "tracker storage unavailable, retry later"
"""The ``failure reason`` clients see while Redis is unreachable."""


class OutageTolerantService(TrackerService):
    """A `TrackerService` that answers with a failure reason when Redis is unreachable."""

    def handle(
        self,
        target: bytes,
        cert: CertInfo,
        peer_ip: IPv4Address | IPv6Address,
        *,
        now: float,
        wall_now: datetime,
        rng: random.Random,
    ) -> Outcome:
        """See `TrackerService.handle`; never raises `RedisUnavailable`."""
        try:
            return super().handle(target, cert, peer_ip, now=now, wall_now=wall_now, rng=rng)
        except RedisUnavailable:
            pass  # logged once per outage by the store
        try:  # parsed before, so this succeeds; it only tells announce from scrape
            scrape = isinstance(parse_request_target(target), ScrapeRequest)
        except MalformedRequest:
            scrape = False
        return Outcome(
            RequestKind.SCRAPE if scrape else RequestKind.ANNOUNCE,
            HTTP_OK,
            encode_failure(
                STORE_UNAVAILABLE, min_interval_s=self.swarms.policy.min_announce_interval_s
            ),
            failure_reason=STORE_UNAVAILABLE,
        )
