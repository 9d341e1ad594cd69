"""One client connection of the HTTPS tracker: TLS handshake, then keep-alive requests.

HTTP is `support.http`'s; this module brings the transport (the lean TLS stream,
TCP_NODELAY and TCP_QUICKACK), the connection slots (idle while reading a
request, so evictable; busy while answering) and the handler: one announce or
scrape through the `TrackerService`.

libtorrent opens a new connection per announce and leaves Nagle on. After a TLS 1.3
handshake the server has nothing to send (no session tickets: libtorrent never
resumes a session), so the client's request waits behind Nagle for our delayed ACK
of its Finished: ~40 ms per announce, measured with libtorrent 2.1.1 against this
server. ``TCP_QUICKACK`` right after the handshake acknowledges at once: the request
then arrives within a millisecond, and a whole libtorrent announce (new connection,
handshake, answer) takes ~4 ms on loopback (bench/tracker.py).
"""

from __future__ import annotations

import logging
import random
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address

import trio

from support.http import (
    ErrorResponse,
    Handler,
    HttpError,
    HttpLimits,
    Request,
    Response,
    serve_http_connection,
)
from tracker.admission import CertInfo
from tracker.config import TrackerConfig
from tracker.connection_slots import ConnectionSlots
from tracker.errors import TrackerError
from tracker.prometheus_metrics import TrackerMetrics
from tracker.service import Outcome, TrackerService
from tracker.simple_request import simple_request_target, simple_response
from tracker.tls_engine import TlsFailure, TlsServer
from tracker.tls_stream import ServerTlsStream

__all__ = ["ConnectionContext", "http_limits", "serve_connection"]

log = logging.getLogger("tracker")

_CERT_CACHE_SIZE = 4096
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only
_TEXT = [("Content-Type", "text/plain")]


def http_limits(config: TrackerConfig) -> HttpLimits:
    """The HTTP bounds of a tracker connection.

    A whole request (announces have no body) must come and be answered within
    ``idle_timeout_s`` of the wait for it beginning; nothing lingers after a
    refusal (the client is libtorrent, and a TLS stream has no half-close).
    """
    return HttpLimits(
        max_head_bytes=config.max_request_bytes,
        max_header_count=config.max_header_count,
        max_body_bytes=config.max_request_bytes,
        idle_timeout_s=config.idle_timeout_s,
        request_timeout_s=config.idle_timeout_s,
        response_timeout_s=None,  # the request's deadline bounds its answer too
        linger_s=0,
    )


@dataclass
class ConnectionContext:
    """What every connection of one tracker shares."""

    config: TrackerConfig
    tls: TlsServer
    service: TrackerService
    metrics: TrackerMetrics
    slots: ConnectionSlots
    rng: random.Random = field(default_factory=random.Random)
    cert_cache: dict[bytes, CertInfo] = field(default_factory=dict)
    limits: HttpLimits = field(init=False)

    def __post_init__(self) -> None:
        self.limits = http_limits(self.config)

    def cert_info(self, der: bytes) -> CertInfo:
        """Parse a client certificate once; clients of a rental reconnect often."""
        info = self.cert_cache.get(der)
        if info is None:
            if len(self.cert_cache) >= _CERT_CACHE_SIZE:
                self.cert_cache.clear()
            info = self.cert_cache[der] = CertInfo.from_der(der)
        return info


def _handshake_failure(exc: BaseException) -> str:
    cause = exc.__cause__
    return cause.reason if isinstance(cause, TlsFailure) else "closed"


def _log_refusal(outcome: Outcome, peer_ip: IPv4Address | IPv6Address) -> None:
    decision = outcome.decision
    if decision is None:
        log.info(
            "request refused kind=%s detail=%r peer=%s",
            outcome.kind.value,
            outcome.failure_reason,
            peer_ip,
        )
    elif not decision.admitted:
        log.warning(
            "%s refused reason=%s film=%s serial=%d peer=%s",
            outcome.kind.value,
            decision.reason.value,
            decision.film or "-",
            decision.serial,
            peer_ip,
        )
    elif outcome.result is not None and log.isEnabledFor(logging.DEBUG):
        result = outcome.result
        log.debug(
            "announce film=%s peer=%s port=%s given=%s same_network=%d other_network=%d",
            decision.film,
            peer_ip,
            int.from_bytes(result.address[-2:], "big") if result.address else "-",
            ",".join(_listed(result.peers, 6) + _listed(result.peers6, 18)) or "-",
            result.same_network,
            result.other_network,
        )


def _listed(compact: bytes, size: int) -> list[str]:
    return [str(ip_address(compact[i : i + size - 2])) for i in range(0, len(compact), size)]


async def _handshake(tls: ServerTlsStream, ctx: ConnectionContext) -> bool:
    with trio.CancelScope(deadline=trio.current_time() + ctx.config.handshake_timeout_s) as scope:
        ctx.slots.set_idle(scope)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as e:
            reason = _handshake_failure(e)
            ctx.metrics.handshake_failed(reason)
            log.info("handshake refused reason=%s", reason)
            return False
        finally:
            ctx.slots.set_busy(scope)
    if scope.cancelled_caught:
        timed_out = trio.current_time() >= scope.deadline
        ctx.metrics.handshake_failed("timeout" if timed_out else "evicted")
        return False
    if _QUICKACK is not None:
        tls.transport_stream.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    return True


def _answer(
    ctx: ConnectionContext, cert: CertInfo, peer_ip: IPv4Address | IPv6Address, target: bytes
) -> Outcome:
    """One GET answered by the service (logged and counted)."""
    outcome = ctx.service.handle(
        target,
        cert,
        peer_ip,
        now=trio.current_time(),
        wall_now=datetime.now(UTC),
        rng=ctx.rng,
    )
    ctx.metrics.observe(outcome)
    _log_refusal(outcome, peer_ip)
    return outcome


def _handler(ctx: ConnectionContext, cert: CertInfo, peer_ip: IPv4Address | IPv6Address) -> Handler:
    """The answers to one client's requests (logged and counted)."""

    async def handle(request: Request) -> Response:
        if request.raw_method != b"GET":
            log.info("request refused status=405 method=%r peer=%s", request.raw_method, peer_ip)
            return Response(405, _TEXT, b"only GET is supported", close=True)
        outcome = _answer(ctx, cert, peer_ip, request.raw_target)
        return Response(outcome.status, _TEXT, outcome.body, close=ctx.slots.draining)

    return handle


def _refusal(peer_ip: IPv4Address | IPv6Address) -> ErrorResponse:
    """The answer to a request refused at the HTTP layer (broken, too large, late)."""

    def refuse(error: HttpError) -> Response:
        log.info("request refused status=%d detail=%r peer=%s", error.status, error.reason, peer_ip)
        return Response(error.status, _TEXT, error.reason.encode(), close=True)

    return refuse


async def _answered_simply(
    tls: ServerTlsStream, ctx: ConnectionContext, cert: CertInfo,
    peer_ip: IPv4Address | IPv6Address,
) -> bool:
    """Read once; if that is libtorrent's one simple request, answer it with one write and
    say True (the caller closes). Else give the bytes back to the HTTP core: False.

    The read is idle time (evictable) within ``idle_timeout_s``, as in the core; a
    client that sends nothing by then, or leaves, is done with (True).
    """
    deadline = trio.current_time() + ctx.config.idle_timeout_s
    with trio.CancelScope(deadline=deadline) as scope:
        ctx.slots.set_idle(scope)
        try:
            data = await tls.receive_some(ctx.limits.max_head_bytes + 1)
        finally:
            ctx.slots.set_busy(scope)
    if scope.cancelled_caught or not data:
        return True
    target = simple_request_target(
        data,
        max_head_bytes=ctx.limits.max_head_bytes,
        max_header_count=ctx.limits.max_header_count,
    )
    if target is None:
        tls.unread(data)
        return False
    outcome = _answer(ctx, cert, peer_ip, target)
    with trio.move_on_after(ctx.config.idle_timeout_s):
        await tls.send_all(simple_response(outcome.status, outcome.body))
    return True


async def serve_connection(tcp: trio.SocketStream, ctx: ConnectionContext) -> None:
    """Serve one accepted TCP connection until it closes, times out or is evicted.

    Never raises for anything the client does; the slot is the caller's to release.
    """
    tls = ServerTlsStream(tcp, ctx.tls)
    try:
        peer_ip = ip_address(tcp.socket.getpeername()[0])
        tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if await _handshake(tls, ctx):
            der = tls.getpeercert(binary_form=True)
            if der is not None:  # never None after a handshake with CERT_REQUIRED
                cert = ctx.cert_info(der)
                if await _answered_simply(tls, ctx, cert, peer_ip):
                    return
                await serve_http_connection(
                    tls,
                    _handler(ctx, cert, peer_ip),
                    ctx.limits,
                    error_response=_refusal(peer_ip),
                    phases=ctx.slots,
                    log=log,
                )
    except (trio.BrokenResourceError, OSError):
        pass  # the client went away
    except TrackerError as e:
        log.info("connection dropped: %s", e)
    except Exception:  # a bug: it ends this connection, never the tracker
        log.exception("connection failed")
    finally:
        tls.close()
