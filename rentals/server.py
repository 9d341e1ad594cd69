"""`serve_rental_service`: the HTTPS rental service, its CRL publisher, graceful shutdown.

Shaped like the tracker's ``serve_tracker``: runs until cancelled (hard stop) or
until `RunningRentalService.shutdown` (graceful: stop accepting, let requests in
flight finish within ``shutdown_grace_s``), and reports the running service
through ``task_status`` once it accepts connections. HTTP is the shared core's
(`support.http`) over trio's TLS stream.
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import trio

from certs.authority.ca import CA, CA_CERT_FILE
from rentals.api import RentalApi, error_response
from rentals.catalog import Catalog
from rentals.config import RentalServiceConfig
from rentals.crl_publishing import publish_crl
from rentals.database import open_store
from rentals.hosting_store import ServiceStore
from rentals.hostings import HostingService
from rentals.metrics import ServiceMetrics
from rentals.service import RentalService
from rentals.tls import server_ssl_context
from support.hostport import format_hostport
from support.http import HttpError, HttpLimits, Response, serve_http_connection

__all__ = ["RunningRentalService", "serve_rental_service"]

log = logging.getLogger("rentals")

_LIMITS = HttpLimits(
    max_head_bytes=16 * 1024, max_header_count=64, max_body_bytes=16 * 1024,
    idle_timeout_s=30.0, request_timeout_s=10.0, response_timeout_s=30.0, linger_s=1.0,
)
_WORKER_THREADS = 4


@dataclass
class RunningRentalService:
    """A started service: where it listens, its parts, and its controls."""

    host: str
    port: int
    service: RentalService
    metrics: ServiceMetrics
    api: RentalApi
    _stop: trio.Event = field(default_factory=trio.Event)

    @property
    def url(self) -> str:
        """The base URL (``https://HOST:PORT``)."""
        return f"https://{format_hostport(self.host, self.port)}"

    def shutdown(self) -> None:
        """Begin a graceful shutdown; `serve_rental_service` returns once it is done."""
        self._stop.set()


class _CrlPublisher:
    """Writes the CRL from the store's revocations; one writer at a time."""

    def __init__(self, config: RentalServiceConfig, ca: CA, store: ServiceStore,
                 metrics: ServiceMetrics, clock: Callable[[], datetime]) -> None:
        self._config, self._ca, self._store = config, ca, store
        self._metrics, self._clock = metrics, clock
        self._lock = threading.Lock()

    def publish(self) -> None:
        with self._lock:
            now = self._clock()
            try:
                publish_crl(
                    self._ca, self._config.crl_path, self._revoked(), now=now,
                    next_update=timedelta(seconds=self._config.crl_next_update_s),
                )
            except Exception:
                self._metrics.crl_failures.inc()
                raise
            self._metrics.crl_published.set(now.timestamp())

    def _revoked(self) -> dict[int, datetime]:
        """Revoked rentals and revoked hostings: serials of one CA, one CRL."""
        return {**self._store.revoked_hostings(), **self._store.revoked_rentals()}

    async def keep_fresh(self, limiter: trio.CapacityLimiter) -> None:
        """Re-sign at half of nextUpdate, so trackers never hold a stale CRL."""
        while True:
            await trio.sleep(self._config.crl_next_update_s / 2)
            try:
                await trio.to_thread.run_sync(self.publish, limiter=limiter)
            except Exception as e:
                log.error("CRL refresh failed (retrying in a minute): %s", e)
                await trio.sleep(min(60.0, self._config.crl_next_update_s / 4))


class _IdleConnections:
    """The HTTP core's connection phases: idle keep-alive connections (waiting for a
    request) are closed at once when the service drains; busy ones finish."""

    def __init__(self) -> None:
        self._idle: set[trio.CancelScope] = set()
        self.draining = False

    def set_idle(self, scope: trio.CancelScope) -> None:
        if self.draining:
            scope.cancel()
        else:
            self._idle.add(scope)

    def set_busy(self, scope: trio.CancelScope) -> None:
        self._idle.discard(scope)

    def drain(self) -> None:
        self.draining = True
        for scope in list(self._idle):
            scope.cancel()
        self._idle.clear()


def _public_url(config: RentalServiceConfig, port: int) -> str:
    if config.public_url is not None:
        return config.public_url
    host = "127.0.0.1" if config.listen_host in ("0.0.0.0", "") else config.listen_host
    host = "::1" if host == "::" else host
    return f"https://{format_hostport(host, port)}"


def _http_refusal(error: HttpError) -> Response:
    return error_response(error.status, "invalid_field" if error.status < 500 else "internal",
                          error.reason, close=True)


async def _serve_connection(
    tcp: trio.SocketStream, ctx: ssl.SSLContext, api: RentalApi, config: RentalServiceConfig,
    phases: _IdleConnections,
) -> None:
    tls = trio.SSLStream(tcp, ctx, server_side=True, https_compatible=True)
    try:
        with trio.move_on_after(config.handshake_timeout_s) as handshake:
            await tls.do_handshake()
        if handshake.cancelled_caught:
            return
        cert = tls.getpeercert(binary_form=True)
        await serve_http_connection(
            tls, api.handler(cert), _LIMITS, error_response=_http_refusal, phases=phases,
            log=log,
        )
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # a failed handshake or a client gone
    finally:
        await trio.aclose_forcefully(tls)


def _open_parts(
    config: RentalServiceConfig, clock: Callable[[], datetime]
) -> tuple[CA, ServiceStore, RentalService]:
    ca = CA.load(config.ca_dir)
    store = open_store(config.database, base_dir=config.base_dir)
    service = RentalService(
        store, ca, Catalog(config.library, config.ca_dir),
        lifetime=config.lifetime, max_rental_hours=config.max_rental_hours,
    )
    return ca, store, service


async def serve_rental_service(
    config: RentalServiceConfig,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    task_status: trio.TaskStatus[RunningRentalService] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the service until shut down or cancelled.

    Raises (before reporting started) `RentalsError`/`CertsError` if the CA, the TLS
    files or the database cannot be used, `OSError` if the address cannot be bound.
    """
    ssl_context = server_ssl_context(config.ca_dir / CA_CERT_FILE, config.tls_cert,
                                     config.tls_key)
    ca, store, service = await trio.to_thread.run_sync(_open_parts, config, clock)
    try:
        metrics = ServiceMetrics()
        limiter = trio.CapacityLimiter(_WORKER_THREADS)
        publisher = _CrlPublisher(config, ca, store, metrics, clock)
        await trio.to_thread.run_sync(publisher.publish, limiter=limiter)
        listeners = await trio.open_tcp_listeners(config.listen_port, host=config.listen_host)
        port = listeners[0].socket.getsockname()[1]
        public_url = _public_url(config, port)
        service.service_url = public_url  # bundles name where their nodes renew
        hostings = HostingService(store, ca, service.catalog, lifetime=config.lifetime)
        api = RentalApi(service, metrics, publish_crl=publisher.publish,
                        public_url=public_url, limiter=limiter, clock=clock,
                        hostings=hostings)
        running = RunningRentalService(config.listen_host, port, service, metrics, api)
        phases = _IdleConnections()
        async with trio.open_nursery() as chores:
            chores.start_soon(publisher.keep_fresh, limiter)
            async with trio.open_nursery() as connections:

                async def accept(listener: trio.SocketListener) -> None:
                    while True:
                        try:
                            stream = await listener.accept()
                        except OSError as e:
                            log.error("accept failed (%s); retrying", e.strerror)
                            await trio.sleep(0.1)
                            continue
                        connections.start_soon(_serve_connection, stream, ssl_context, api,
                                               config, phases)

                async with trio.open_nursery() as acceptors:
                    for listener in listeners:
                        acceptors.start_soon(accept, listener)
                    log.info("rental service listening on %s", running.url)
                    task_status.started(running)
                    await running._stop.wait()
                    acceptors.cancel_scope.cancel()
                for listener in listeners:
                    await listener.aclose()
                api.draining = True  # answers in flight say Connection: close
                phases.drain()  # idle keep-alive connections close now
                connections.cancel_scope.deadline = trio.current_time() + config.shutdown_grace_s
            chores.cancel_scope.cancel()
    finally:
        await trio.to_thread.run_sync(functools.partial(store.close))
