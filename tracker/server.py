"""`serve_tracker`: the HTTPS tracker, its metrics listener and its background chores.

Shaped like trio's ``serve_*``: runs until cancelled (hard stop) or until
`RunningTracker.shutdown` is called (graceful: stop accepting, close idle
connections, give requests in flight ``shutdown_grace_s``), and reports a
`RunningTracker` through ``task_status`` once it accepts connections.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network, IPv6Network

import trio

from support.http import HttpLimits, Request, Response, serve_http_connection
from tracker.config import TrackerConfig
from tracker.connection import ConnectionContext, serve_connection
from tracker.connection_slots import ConnectionSlots
from tracker.crl_policy import CrlFreshness, CrlGuard
from tracker.errors import ConfigError, TrackerError
from tracker.listeners import open_listeners
from tracker.metrics_routes import metrics_listener_response, metrics_peer_allowed
from tracker.probe import ProbeRunner
from tracker.prometheus_metrics import TrackerMetrics
from tracker.reachability import ReachabilityTable
from tracker.redis_backend.outage import OutageTolerantService
from tracker.redis_backend.store import RedisStore, RedisUnavailable
from tracker.service import TrackerService
from tracker.swarm import Swarms
from tracker.tls import load_ca_certificate, server_tls
from tracker.watched_files import (
    Stamp,
    crl_stamp,
    library_stamp,
    load_crl_snapshot,
    load_library,
)

__all__ = ["RunningTracker", "serve_tracker"]

log = logging.getLogger("tracker")

# accept() failures that mean "out of resources for now", as in trio.serve_listeners
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_ACCEPT_BACKOFF_S = 0.1
_METRICS_LIMITS = HttpLimits(
    max_head_bytes=8192, max_header_count=64, max_body_bytes=0,
    idle_timeout_s=10.0, request_timeout_s=10.0, response_timeout_s=None, linger_s=0,
)


@dataclass
class RunningTracker:
    """A started tracker: where it listens, its state, and its controls."""

    host: str
    port: int
    metrics_port: int | None
    service: TrackerService
    metrics: TrackerMetrics
    listening: list[tuple[str, int]] = field(default_factory=list)
    """Every bound (host, port), IPv4 and IPv6."""
    _stop: trio.Event = field(default_factory=trio.Event)
    _reload: trio.Event = field(default_factory=trio.Event)

    @property
    def announce_url(self) -> str:
        """The URL torrents announce to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/announce"

    @property
    def stopping(self) -> bool:
        """True once a graceful shutdown has begun."""
        return self._stop.is_set()

    def shutdown(self) -> None:
        """Begin a graceful shutdown; `serve_tracker` returns once it is done."""
        self._stop.set()

    def reload(self) -> None:
        """Reload the library and the CRL now (what SIGHUP does), changed or not."""
        self._reload.set()


class _Sources:
    """The library and CRL as last loaded, reloaded into the service when they change."""

    def __init__(
        self, config: TrackerConfig, service: TrackerService, metrics: TrackerMetrics
    ) -> None:
        self._config = config
        self._service = service
        self._metrics = metrics
        self._ca = load_ca_certificate(config.ca_path)
        self._stamps: dict[str, Stamp] = {}
        self.crl_guard = CrlGuard(grace=timedelta(seconds=config.crl_grace_s))
        self._crl_freshness = CrlFreshness.MISSING

    def _changed(self, source: str, stamp: Stamp, force: bool) -> bool:
        changed = force or self._stamps.get(source) != stamp
        self._stamps[source] = stamp
        return changed

    def load_library(self, *, force: bool) -> None:
        """Reload the catalog if the library changed (blocking); `LibraryError` on failure."""
        library_dir = self._config.library_dir
        if self._changed("library", library_stamp(library_dir), force):
            catalog, problems = load_library(library_dir)
            for line in problems:
                log.warning("library: skipped %s", line)
            self._service.catalog = catalog
            log.info("library loaded: %d films, %d info-hashes", len(catalog.films()), len(catalog))

    def load_crl(self, *, force: bool) -> None:
        """Reload the revoked serials if the CRL changed (blocking); `CrlError` on failure."""
        crl_path = self._config.crl_path
        if crl_path is not None and self._changed("crl", crl_stamp(crl_path), force):
            # an older CRL than the one in use raises CrlRollback (a CrlError): the
            # revocations already known are kept
            revoked = self.crl_guard.accept(load_crl_snapshot(crl_path, self._ca))
            self._service.revoked_serials = revoked
            log.info("CRL loaded: %d revoked serials", len(revoked))
        self.check_crl_freshness(datetime.now(UTC))

    def check_crl_freshness(self, now: datetime) -> None:
        """Warn past the CRL's nextUpdate; past the grace, refuse every rental (fail closed)."""
        if self._config.crl_path is None:
            return
        freshness = self.crl_guard.freshness(now)
        service = self._service
        service.crl_seconds_past_next_update = self.crl_guard.seconds_past_next_update(now)
        service.crl_expired = freshness is CrlFreshness.EXPIRED
        if freshness is not self._crl_freshness:
            self._crl_freshness = freshness
            if freshness is CrlFreshness.STALE:
                log.warning("the CRL is past its nextUpdate: re-sign it (peernode ca crl);"
                            " rentals are refused after the grace of %.0f s",
                            self._config.crl_grace_s)
            elif freshness is CrlFreshness.EXPIRED:
                log.error("the CRL is past its nextUpdate and the grace: refusing every"
                          " rental until a fresh CRL arrives")

    async def watch(self, running: RunningTracker) -> None:
        """Poll for changes every ``reload_poll_s``; reload at once on `RunningTracker.reload`."""
        while True:
            with trio.move_on_after(self._config.reload_poll_s):
                await running._reload.wait()
            force = running._reload.is_set()
            running._reload = trio.Event()
            for source, load in (("library", self.load_library), ("crl", self.load_crl)):
                try:
                    await trio.to_thread.run_sync(functools.partial(load, force=force))
                except TrackerError as e:
                    # keep serving what was loaded before; the stamp is kept, so a
                    # broken file is reported once, and again when it changes
                    self._metrics.reload_failed(source)
                    log.error("reload failed, keeping the previous %s: %s", source, e)


class _FreedMemory:
    """Give the C heap's free pages back to the system once a burst of connections is over.

    Each TLS connection's OpenSSL state is C memory, freed the moment the connection ends
    (by reference counting: tests/tracker/test_tracker_tls_freed.py); glibc keeps freed
    memory in the process. ``malloc_trim`` returns it; it runs once the tracker is quiet
    again after many connections ended, never during a burst (bench/tracker_flood.py).
    """

    CHECK_EVERY_S = 5.0
    AFTER_ENDED = 500  # connections ended since the last trim
    QUIET_OPEN = 16  # connections open at most, for "quiet"

    def __init__(self, slots: ConnectionSlots) -> None:
        self._slots = slots
        self.ended = 0
        self._ended_at_trim = 0
        libc_name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(libc_name) if libc_name else None
        self._trim = getattr(libc, "malloc_trim", None)  # glibc only

    def due(self) -> bool:
        """Many connections ended since the last trim, and few are open now."""
        return (self.ended - self._ended_at_trim >= self.AFTER_ENDED
                and self._slots.open <= self.QUIET_OPEN)

    def trim(self) -> None:
        self._ended_at_trim = self.ended
        if self._trim is not None:
            self._trim(0)

    async def run(self) -> None:
        while True:
            await trio.sleep(self.CHECK_EVERY_S)
            if self.due():
                self.trim()


async def _expire_peers(config: TrackerConfig, service: TrackerService) -> None:
    while True:
        await trio.sleep(config.expire_every_s)
        dropped = service.swarms.expire(trio.current_time())
        if dropped:
            log.debug("expired %d peers", dropped)


class _MetricsGate:
    """``--metrics-allow``: which peers the metrics listener serves; the others are
    counted, and logged at most once per ``LOG_EVERY_S`` (a flood of refused connects
    must not flood the log)."""

    LOG_EVERY_S = 10.0

    def __init__(
        self, allowed: tuple[IPv4Network | IPv6Network, ...] | None, metrics: TrackerMetrics
    ) -> None:
        self._allowed = allowed
        self._metrics = metrics
        self._logged_at: float | None = None
        self._unlogged = 0

    def admits(self, stream: trio.SocketStream) -> bool:
        if self._allowed is None:
            return True
        try:
            host = str(stream.socket.getpeername()[0])
        except OSError:  # already gone
            host = "?"
        if metrics_peer_allowed(host, self._allowed):
            return True
        self._metrics.metrics_connection_refused()
        self._unlogged += 1
        now = trio.current_time()
        if self._logged_at is None or now - self._logged_at >= self.LOG_EVERY_S:
            log.warning("metrics listener: refused %d connection(s) from outside"
                        " --metrics-allow, the last from %s", self._unlogged, host)
            self._logged_at, self._unlogged = now, 0
        return False


async def _serve_metrics(
    listeners: list[trio.SocketListener], metrics: TrackerMetrics, gate: _MetricsGate
) -> None:
    async def render(request: Request) -> Response:
        return metrics_listener_response(request.path, metrics, trio.current_time())

    async def handle(stream: trio.SocketStream) -> None:
        try:
            # refused at accept: closed before a byte of the request is read
            if gate.admits(stream):
                await serve_http_connection(stream, render, _METRICS_LIMITS, log=log)
        finally:
            await trio.aclose_forcefully(stream)

    await trio.serve_listeners(handle, listeners)


async def _accept_loop(
    listener: trio.SocketListener, ctx: ConnectionContext, nursery: trio.Nursery,
    freed: _FreedMemory,
) -> None:
    async def run(stream: trio.SocketStream) -> None:
        try:
            await serve_connection(stream, ctx)
        finally:
            ctx.slots.release()
            freed.ended += 1

    while True:
        try:
            stream = await listener.accept()
        except OSError as e:
            if e.errno not in _ACCEPT_CAPACITY_ERRNOS:
                raise
            log.error("accept failed (%s); retrying", e.strerror)
            await trio.sleep(_ACCEPT_BACKOFF_S)
            continue
        # room is made only for a client that is really there: accepting first means
        # an idle connection is never evicted for nobody
        try:
            await ctx.slots.acquire()
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        nursery.start_soon(run, stream)


def _defer_accept(listener: trio.SocketListener, seconds: float) -> None:
    # Linux: accept() only once the client has sent something (its ClientHello), so a
    # connection that sends nothing never takes a slot, and the handshake starts
    # without a wait-and-wake of its own (one fewer scheduling round per announce).
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is not None:
        listener.socket.setsockopt(socket.IPPROTO_TCP, option, max(1, int(seconds)))


async def _service(config: TrackerConfig) -> TrackerService:
    """The service over the configured swarm store (in memory, or shared in Redis)."""
    reachability, networks = ReachabilityTable(config.probe), config.network_map()
    if config.redis_url is None:
        swarms = Swarms(config.swarm, reachability=reachability, networks=networks)
        return TrackerService(swarms, max_scrape_hashes=config.max_scrape_hashes)
    policy = config.swarm
    try:
        store = RedisStore.from_url(
            config.redis_url,
            peer_ttl_s=policy.peer_ttl_s,
            max_peers_per_swarm=policy.max_peers_per_swarm,
            # peers' expiry times are compared across trackers (maybe on other hosts),
            # so they are stored on the wall clock, not on this process's monotonic one
            clock_offset_s=time.time() - trio.current_time(),
            # an outage ends for clients within one min interval of Redis coming back
            retry_s=min(1.0, policy.min_announce_interval_s / 2),
            clock=trio.current_time,
        )
    except ValueError as e:
        raise ConfigError(f"bad redis URL {config.redis_url!r}: {e}") from None
    try:
        store.ping()  # not fatal: the store retries, and announces fail meanwhile
        log.info("swarm state in redis at %s", config.redis_url)
    except RedisUnavailable as e:
        log.error("starting without redis: %s", e)
    return OutageTolerantService(
        Swarms(policy, store, reachability=reachability, networks=networks),
        max_scrape_hashes=config.max_scrape_hashes,
    )


async def serve_tracker(
    config: TrackerConfig,
    *,
    task_status: trio.TaskStatus[RunningTracker] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the tracker described by ``config`` until shut down or cancelled.

    Raises `TrackerError` (before reporting started) if the CA, the server
    certificate and key, the library or the CRL cannot be loaded, and `OSError`
    if an address cannot be bound.
    """
    tls = server_tls(config)
    service = await _service(config)
    metrics = TrackerMetrics(service)
    sources = _Sources(config, service, metrics)
    await trio.to_thread.run_sync(functools.partial(sources.load_library, force=True))
    await trio.to_thread.run_sync(functools.partial(sources.load_crl, force=True))
    listeners = await open_listeners(config)
    for listener in listeners:
        _defer_accept(listener, config.handshake_timeout_s)
    metrics_listeners: list[trio.SocketListener] = []
    if config.metrics_host is not None:
        metrics_listeners = await trio.open_tcp_listeners(
            config.metrics_port, host=config.metrics_host
        )
    running = RunningTracker(
        host=config.listen_host,
        port=listeners[0].socket.getsockname()[1],
        metrics_port=metrics_listeners[0].socket.getsockname()[1] if metrics_listeners else None,
        service=service,
        metrics=metrics,
        listening=[lst.socket.getsockname()[:2] for lst in listeners],
    )
    slots = ConnectionSlots(config.max_connections)
    metrics.connections = slots
    ctx = ConnectionContext(config, tls, service, metrics, slots)
    freed = _FreedMemory(slots)

    async with trio.open_nursery() as chores:
        chores.start_soon(sources.watch, running)
        chores.start_soon(freed.run)
        chores.start_soon(_expire_peers, config, service)
        if config.probe.enabled:
            probes = ProbeRunner(service.swarms.reachability)
            service.probe_sink = probes.submit
            chores.start_soon(probes.run)
        if metrics_listeners:
            gate = _MetricsGate(config.metrics_networks(), metrics)
            chores.start_soon(_serve_metrics, metrics_listeners, metrics, gate)
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as acceptors:
                for listener in listeners:
                    acceptors.start_soon(_accept_loop, listener, ctx, connections, freed)
                log.info("listening on %s", running.announce_url)
                task_status.started(running)
                await running._stop.wait()
                acceptors.cancel_scope.cancel()
            for listener in listeners:
                await listener.aclose()
            slots.drain()
            connections.cancel_scope.deadline = trio.current_time() + config.shutdown_grace_s
        chores.cancel_scope.cancel()
