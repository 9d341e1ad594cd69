"""The tracker's request logic: target + verified certificate -> HTTP status and body (pure).

The shell hands over the request target, what it learned from the TLS handshake and
the clocks; everything the tracker decides happens here, so it is tested without a
socket. The catalog and the revoked serials are plain attributes the shell replaces
when their files change.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from tracker.admission import CertInfo, Decision, Reason, admit, admit_scrape
from tracker.catalog import Catalog
from tracker.errors import MalformedRequest, UnknownPath
from tracker.hosting import HostLedger
from tracker.reachability import ProbeVerdict
from tracker.request import MAX_SCRAPE_HASHES, AnnounceRequest, Event, parse_request_target
from tracker.response import encode_announce, encode_failure, encode_scrape
from tracker.store import StoreRefusal
from tracker.swarm import AnnounceResult, Swarms

__all__ = ["Outcome", "RequestKind", "TrackerService"]

HTTP_OK = 200
HTTP_BAD_REQUEST = 400
HTTP_NOT_FOUND = 404

_REFUSAL_TEXT = {
    StoreRefusal.OTHER_OWNER: "peer id in use by another rental",
    StoreRefusal.OWNER_CAP: "too many peers for this rental in this swarm",
}


class RequestKind(enum.StrEnum):
    """What a request turned out to be; the value is a metric label."""

    ANNOUNCE = "announce"
    SCRAPE = "scrape"
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one request, and what the shell logs and counts about it."""

    kind: RequestKind
    status: int
    body: bytes
    decision: Decision | None = None
    """Admission's decision (announce and scrape)."""
    result: AnnounceResult | None = None
    """The swarm's answer (admitted announces only)."""
    request: AnnounceRequest | None = None
    failure_reason: str = ""
    """For a malformed request: what was wrong (also in the body)."""


class TrackerService:
    """Answers announce and scrape requests from admitted certificate holders."""

    def __init__(
        self,
        swarms: Swarms,
        catalog: Catalog | None = None,
        revoked_serials: frozenset[int] = frozenset(),
        *,
        max_scrape_hashes: int = MAX_SCRAPE_HASHES,
    ) -> None:
        self.swarms = swarms
        self.catalog = catalog if catalog is not None else Catalog()
        self.revoked_serials = revoked_serials
        self.max_scrape_hashes = max_scrape_hashes
        self.crl_expired = False
        """Set by the shell when the CRL is past nextUpdate + grace: every rental is
        refused (fail closed; origins are still served) until a fresh CRL arrives."""
        self.crl_seconds_past_next_update = 0.0
        """How stale the CRL is (0 when fresh), for the metrics."""
        self.hosts = HostLedger(ttl_s=swarms.policy.peer_ttl_s)
        """Which members are hosts (hosting credentials) and what they uploaded."""
        self.probe_sink: Callable[[bytes], bool] | None = None
        """Where probes are queued (the shell's `ProbeRunner.submit`: False if it is
        full); ``None``: no probing (every peer stays unknown)."""

    def _consider_probe(self, address: bytes, stopped: bool, now: float) -> None:
        # the probe goes to the connection's own address and the announced port only
        # (`AnnounceResult.address`), never to an address the request names
        table = self.swarms.reachability
        if stopped:
            table.forget(address)
        elif self.probe_sink is None:
            table.note(address, now)
        elif table.consider(address, now) is ProbeVerdict.PROBE and not self.probe_sink(address):
            table.dropped(address)

    def _hosts_serve(self, decision: Decision, now: float) -> bool:
        """Whether a renter's list leaves the origin out: enough complete hosts hold the
        film (`SwarmPolicy.origin_backup_hosts`); hosts themselves always get it."""
        wanted = self.swarms.policy.origin_backup_hosts
        if not wanted or decision.film is None or decision.is_host:
            return False
        hosts = self.hosts.hosts_of(decision.film, now).values()
        return sum(1 for p in hosts if p.left_bytes == 0) >= wanted

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
        """Answer one request.

        ``now`` is monotonic seconds (peer expiry), ``wall_now`` the timezone-aware
        UTC time (certificate validity). Never raises for bad client input: a
        malformed request gets a ``failure reason`` body.
        """
        try:
            request = parse_request_target(target, max_scrape_hashes=self.max_scrape_hashes)
        except UnknownPath as e:
            return Outcome(
                RequestKind.NOT_FOUND,
                HTTP_NOT_FOUND,
                encode_failure(str(e)),
                failure_reason=e.failure_reason,
            )
        except MalformedRequest as e:
            return Outcome(
                RequestKind.MALFORMED,
                HTTP_OK,
                encode_failure(e.failure_reason),
                failure_reason=e.failure_reason,
            )
        policy = self.swarms.policy
        if not isinstance(request, AnnounceRequest):
            decision, allowed = admit_scrape(
                cert, request.info_hashes, self.catalog, self.revoked_serials, wall_now
            )
            body = (
                encode_scrape(self.swarms.scrape(allowed))
                if decision.admitted
                else encode_failure(
                    decision.failure_reason, min_interval_s=policy.min_announce_interval_s
                )
            )
            return Outcome(RequestKind.SCRAPE, HTTP_OK, body, decision)
        decision = admit(cert, request.info_hash, self.catalog, self.revoked_serials, wall_now)
        if self.crl_expired and decision.reason in (Reason.ADMITTED, Reason.ADMITTED_HOST):
            decision = Decision(Reason.CRL_EXPIRED, decision.film, decision.serial)
        if not decision.admitted:
            # a refused client retries at the announce interval, not in a tight loop
            body = encode_failure(
                decision.failure_reason, min_interval_s=policy.announce_interval_s
            )
            return Outcome(RequestKind.ANNOUNCE, HTTP_OK, body, decision, request=request)
        result = self.swarms.announce(
            request, peer_ip, now, rng, is_origin=decision.is_origin, serial=decision.serial,
            include_origins=not self._hosts_serve(decision, now),
        )
        if result.refusal is not None:
            body = encode_failure(
                _REFUSAL_TEXT[result.refusal], min_interval_s=policy.announce_interval_s
            )
            return Outcome(RequestKind.ANNOUNCE, HTTP_OK, body, decision, result, request)
        if decision.is_host and decision.film is not None:
            self.hosts.note(
                decision.film, result.address, uploaded_delta=result.uploaded_delta,
                downloaded_delta=result.downloaded_delta, left=request.left,
                stopped=request.event is Event.STOPPED, now=now,
            )
        if not decision.is_origin:
            self._consider_probe(result.address, request.event is Event.STOPPED, now)
        return Outcome(
            RequestKind.ANNOUNCE, HTTP_OK, encode_announce(result), decision, result, request
        )
