"""The embeddable node: one libtorrent session, its alert pump, and its downloads.

    async with open_node(NodeConfig(listen_host="127.0.0.1", port_mapping=False)) as node:
        download = await node.fetch("film.torrent", rental_bundle, node_key, save_dir="out")
        async for stats in download.progress():
            ...

Closing the node (leaving the ``async with``, or cancellation) saves resume
data of every download before the session goes away.

By default a node listens on every interface, IPv4 and IPv6, and asks the
home router (UPnP IGD, NAT-PMP) to forward its port; ``port_mapping=False``
is the customer's refusal. ``listen_port_file`` keeps the port across
restarts. ``operator_ca_pem`` pins the operator's CA: torrents and rentals
of any other CA are refused. ``hosting`` is the owner's consent to host films'
ciphertext before their release (off by default; `peernode.runtime.hosting`).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libtorrent as lt
import trio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from certs import Rental, private_key_pem
from peernode.errors import PeernodeError
from peernode.runtime.alert_pump import drain_alerts, pump_alerts
from peernode.runtime.connection_ages import (
    DEFAULT_MAX_CONNECTION_AGE_S,
    connection_age_limit,
    customer_age_bound,
)
from peernode.runtime.connection_cycling import FastReconnect, keep_connections_young
from peernode.runtime.download import Download
from peernode.runtime.events import Event, ExternalAddressLearned, PortMapFailed, PortMapped
from peernode.runtime.hosting import Hosting
from peernode.runtime.hosting_policy import HostingPolicy
from peernode.runtime.listen_port import choose_listen_port, remember_listen_port
from peernode.runtime.port_mapping import DEFAULT_PORT_MAPPING_TIMEOUT_S, PortMappingState
from peernode.runtime.renewal import keep_renewing, open_current_rental
from peernode.runtime.session_settings import (
    ALL_INTERFACES,
    NETWORK_RECHECK_S,
    Transport,
    add_ssl_torrent,
    is_wildcard,
    make_session,
    ssl_listen_port,
)
from peernode.runtime.session_teardown import close_session

__all__ = [
    "Node",
    "NodeConfig",
    "check_operator_ca",
    "load_torrent",
    "open_node",
    "resume_data_to_trust",
    "torrent_ca_certificate",
]

log = logging.getLogger(__name__)

LISTEN_CHECK_S = 1.0
"""How often a node on every interface checks it still has a listen socket."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NodeConfig:
    """How a node runs. Rates in bytes/s (0 = unlimited), times in seconds.

    ``listen_host`` `ALL_INTERFACES` ("::", the default): every interface, IPv4
    and IPv6. ``listen_port`` 0: the port saved in ``listen_port_file`` if it is
    still free, else a free one (saved there for the next start).
    ``port_mapping``: UPnP IGD and NAT-PMP on the home router (customer's consent;
    never for an origin); "no router answered" after ``port_mapping_timeout_s``.
    ``operator_ca_pem``: the only CA whose torrents and rentals are accepted.
    ``max_connection_age_s``: every peer connection older than this is ended (a customer
    at a random 0.5-0.8 of it, or of a quarter of its certificate's span from the start of
    the download if shorter),
    so a revoked rental keeps none (`peernode.runtime.connection_cycling`); None: never
    (not for production).
    ``hosting``: the owner's hosting consent and limits (default: no hosting).
    """

    listen_host: str = ALL_INTERFACES
    listen_port: int = 0
    listen_port_file: Path | None = None
    port_mapping: bool = True
    port_mapping_timeout_s: float = DEFAULT_PORT_MAPPING_TIMEOUT_S
    operator_ca_pem: bytes | None = None
    upload_rate_bps: int = 0
    download_rate_bps: int = 0
    transport: Transport = "tcp"
    origin: bool = False
    limit_local_peers: bool = False
    resume_save_interval_s: float = 10.0
    extra_settings: dict[str, object] = field(default_factory=dict)
    wall_clock: Callable[[], datetime] = _utc_now
    max_connection_age_s: float | None = DEFAULT_MAX_CONNECTION_AGE_S
    hosting: HostingPolicy = field(default_factory=HostingPolicy)


def load_torrent(torrent: str | os.PathLike[str] | bytes | lt.torrent_info) -> lt.torrent_info:
    """A torrent from a path, bencoded bytes or an existing info; `PeernodeError` if invalid."""
    if isinstance(torrent, lt.torrent_info):
        return torrent
    try:
        if isinstance(torrent, bytes):
            return lt.torrent_info(torrent)
        path = Path(torrent)
        if not path.is_file():
            raise PeernodeError(f"torrent {path} does not exist")
        return lt.torrent_info(str(path))
    except RuntimeError as e:
        raise PeernodeError(f"not a valid torrent: {e}") from None


def torrent_ca_certificate(ti: lt.torrent_info) -> x509.Certificate:
    """The operator CA an SSL torrent trusts (its info dict's root certificate)."""
    pem = ti.ssl_cert()
    if not pem:
        raise PeernodeError(f"torrent {ti.name()!r} is not an SSL torrent (no root certificate)")
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        raise PeernodeError(f"torrent {ti.name()!r} has an unreadable root certificate") from None


def _load_operator_ca(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise PeernodeError("the operator CA is not a PEM certificate") from None


def check_operator_ca(ti: lt.torrent_info, operator_ca: x509.Certificate) -> None:
    """Refuse a torrent whose embedded root CA is not the pinned operator CA."""
    if torrent_ca_certificate(ti) != operator_ca:
        raise PeernodeError(
            f"torrent {ti.name()!r} trusts another CA than the pinned operator CA "
            f"({operator_ca.subject.rfc4514_string()}): refused"
        )


def _check_rental_issuer(rental: Rental, operator_ca: x509.Certificate) -> None:
    try:
        x509.load_pem_x509_certificate(rental.cert_pem).verify_directly_issued_by(operator_ca)
    except (ValueError, TypeError, InvalidSignature):
        raise PeernodeError(
            f"the rental for {rental.film_id!r} is not issued by the pinned operator CA: refused"
        ) from None


def resume_data_to_trust(path: Path) -> bytes | None:
    """Resume data of a complete download; None for an incomplete one.

    libtorrent's resume data lists only pieces already flushed from its write
    cache, and it trusts the list: measured, a restart kept 3.2-4.8 of 6.8 MB
    verified and a SIGKILL re-fetched up to 11 %. Without resume data it checks
    the partial file instead (about 1 GB/s) and keeps every piece on disk.
    """
    try:
        data = path.read_bytes()
        have = lt.read_resume_data(data).have_pieces
    except (OSError, RuntimeError):
        return None
    return data if len(have) and all(have) else None


class Node:
    """A running node; create with `open_node`."""

    def __init__(self, config: NodeConfig, session: lt.session, nursery: trio.Nursery) -> None:
        self.config = config
        self.session = session
        self._nursery = nursery
        self._downloads: dict[str, Download] = {}
        self._listeners: dict[str, Callable[[Event], None]] = {}
        self._operator_ca = (
            _load_operator_ca(config.operator_ca_pem) if config.operator_ca_pem else None
        )
        self._mapping_wanted = config.port_mapping and not config.origin
        self._mapping_decided = False
        self._mapping = PortMappingState.started(enabled=self._mapping_wanted,
                                                 now_s=time.monotonic())
        self._mapping_reported: dict[str, Any] | None = None
        self._fast_reconnect = FastReconnect(session)
        self.hosting = Hosting(self, config.hosting)
        """Films this node hosts (ciphertext placed before release, no key)."""

    @property
    def operator_ca(self) -> x509.Certificate | None:
        """The pinned operator CA, if any."""
        return self._operator_ca

    def adopt(self, download: Download) -> None:
        """Run a download built outside `fetch` (a hosted film): route its events, save
        its resume data, count its peers, stop it when its window ends."""
        if download.film_id in self._downloads:
            raise PeernodeError(f"film {download.film_id!r} is already on this node")
        self._downloads[download.film_id] = download
        self._nursery.start_soon(download.watch_rental_expiry)
        self._nursery.start_soon(download.keep_saving_resume_data,
                                 self.config.resume_save_interval_s)
        self._nursery.start_soon(download.keep_counting_peers)

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the node's nursery, for as long as the node runs (a hosted
        film's credential renewal)."""
        self._nursery.start_soon(fn, *args)

    @property
    def ssl_port(self) -> int:
        """The SSL listen port: what peers connect to and the tracker is told."""
        return ssl_listen_port(self.session)

    @property
    def downloads(self) -> dict[str, Download]:
        return dict(self._downloads)

    # -- port mapping --------------------------------------------------------
    @property
    def port_mapping(self) -> dict[str, Any]:
        """The router port mapping outcome (see `PortMappingState.view`)."""
        return self._mapping.view(time.monotonic(), timeout_s=self.config.port_mapping_timeout_s)

    def set_port_mapping(self, enabled: bool) -> None:
        """Turn UPnP/NAT-PMP on or off now (the customer's consent; never on an origin)."""
        enabled = enabled and not self.config.origin
        changed = enabled != self._mapping_wanted or not self._mapping_decided
        self._mapping_decided = True
        self._mapping_wanted = enabled
        if changed:
            self._mapping = PortMappingState.started(enabled=enabled, now_s=time.monotonic())
            self._apply_mapping()

    def _apply_mapping(self) -> None:
        pack: dict[str, Any] = {"enable_upnp": self._mapping_wanted,
                                "enable_natpmp": self._mapping_wanted}
        # The binding converts a dict to a settings_pack; its stubs only name the latter.
        self.session.apply_settings(pack)  # type: ignore[arg-type]

    async def _start_port_mapping(self) -> None:
        """Turn mapping on once the node runs, unless the embedder decided first.

        The session starts with mapping off so that a layer above (the daemon's
        saved consent) can refuse it before a single packet goes to the router.
        """
        if not self._mapping_decided:
            self._mapping = PortMappingState.started(enabled=self._mapping_wanted,
                                                     now_s=time.monotonic())
            if self._mapping_wanted:
                self._apply_mapping()
        while True:
            view = self.port_mapping
            if view != self._mapping_reported:
                self._mapping_reported = view
                _log_port_mapping(view, self.ssl_port)
            await trio.sleep(1.0)

    async def _recheck_interfaces(self) -> None:
        """Open sockets on addresses that appeared, close those on vanished ones.

        What libtorrent's address watcher would do (off: it crashes libtorrent 2.1.1 on
        shutdown), by polling; only a node on every interface has per-address sockets.
        libtorrent closes the sockets of every address a re-reading did not find, so a
        reading that finds none (every interface down a moment) leaves the node
        unreachable until the next one; the node checks every `LISTEN_CHECK_S` that it
        still has its SSL socket and reads the interfaces again at once when it has
        not. (A re-reading that closed every socket for good, seen on an origin in a
        72-home docker run, was the session's empty ``listen_interfaces``, fixed in
        `make_session`; this check is what would have said so at once.)
        """
        next_recheck = trio.current_time() + NETWORK_RECHECK_S
        lost_since: float | None = None
        while True:
            await trio.sleep(LISTEN_CHECK_S)
            now = trio.current_time()
            listening = self.session.ssl_listen_port() != 0
            if listening and lost_since is not None:
                log.warning("listen sockets open again after %.1f s", now - lost_since)
                lost_since = None
            elif not listening and lost_since is None:
                log.warning("no listen socket left (libtorrent closed them when it re-read "
                            "the network interfaces): reading them again")
                lost_since = now
            if not listening or now >= next_recheck:
                self.session.reopen_network_sockets(0)  # 0: keep the router's port mappings
                next_recheck = now + NETWORK_RECHECK_S

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, PortMapped | PortMapFailed | ExternalAddressLearned):
            self._mapping = self._mapping.apply(event, ssl_port=self.ssl_port)
            return
        target = self._downloads.get(event.film_id)
        if target is not None:
            target.on_event(event)
        listener = self._listeners.get(event.film_id)
        if listener is not None:
            listener(event)

    def listen(self, film_id: str, callback: Callable[[Event], None]) -> None:
        """Receive the events of a torrent that is not a `Download` (e.g. the origin's)."""
        self._listeners[film_id] = callback

    def add_seed(
        self,
        torrent: str | os.PathLike[str] | bytes | lt.torrent_info,
        *,
        save_path: str | os.PathLike[str],
        cert_pem: bytes,
        key_pem: bytes,
        flags: int = 0,
    ) -> lt.torrent_handle:
        """Seed a complete film (origin): seed mode, pieces verified lazily as they are sent."""
        ti = load_torrent(torrent)
        handle = add_ssl_torrent(
            self.session, ti, save_path, cert_pem=cert_pem, key_pem=key_pem,
            seed_mode=True, flags=flags,
        )
        if self.config.max_connection_age_s is not None:
            # no customer keeps a connection to the origin past its rental's revocation
            self._nursery.start_soon(functools.partial(
                keep_connections_young, handle, self.config.max_connection_age_s,
                fast_reconnect=self._fast_reconnect))
        return handle

    async def fetch(
        self,
        torrent: str | os.PathLike[str] | bytes | lt.torrent_info,
        rental: bytes | Rental,
        node_key: ec.EllipticCurvePrivateKey,
        *,
        save_dir: str | os.PathLike[str],
        peers: Sequence[tuple[str, int]] = (),
    ) -> Download:
        """Start (or resume) downloading a rented film into ``save_dir``.

        To watch while it downloads, `peernode.playback.start_playback(node, download)`
        starts a local playback server for the node's lifetime.

        Raises the typed `certs.BundleError` subclasses for a rental that is
        expired, not yet valid, for another node, another CA or tampered, and
        `PeernodeError` for a rental of another film or a bad torrent.
        """
        ti = load_torrent(torrent)
        film_id = ti.name()
        if self._operator_ca is not None:
            check_operator_ca(ti, self._operator_ca)
        ca_cert = self._operator_ca or torrent_ca_certificate(ti)
        if isinstance(rental, bytes):
            # the newest certificate of the rental kept in save_dir, renewed first if it
            # expired while the node was offline
            rental = await open_current_rental(rental, node_key, ca_cert, save_dir=Path(save_dir),
                                               now=self.config.wall_clock())
        elif self._operator_ca is not None:
            _check_rental_issuer(rental, self._operator_ca)
        if rental.film_id != film_id:
            raise PeernodeError(
                f"the rental is for film {rental.film_id!r}, the torrent is {film_id!r}"
            )
        if film_id in self._downloads:
            raise PeernodeError(f"film {film_id!r} is already being downloaded by this node")
        save = Path(save_dir)
        state_dir = save / ".peernode"
        state_dir.mkdir(parents=True, exist_ok=True)
        resume_path = state_dir / f"{film_id}.resume"
        resume = resume_data_to_trust(resume_path)
        handle = add_ssl_torrent(
            self.session, ti, save, cert_pem=rental.cert_pem,
            key_pem=private_key_pem(node_key), resume_data=resume,
        )
        download = Download(
            handle=handle, ti=ti, rental=rental, save_dir=save, state_dir=state_dir,
            wall_clock=self.config.wall_clock,
        )
        self._downloads[film_id] = download
        for host, port in peers:
            handle.connect_peer((host, port))
        self._nursery.start_soon(functools.partial(
            keep_renewing, download, node_key, ca_cert, wall_clock=self.config.wall_clock))
        self._nursery.start_soon(download.watch_rental_expiry)
        # the certificate's span from now, as the renewal counts it: notBefore may be
        # backdated (clock skew, the window's start), which would lengthen the bound
        held_since = max(rental.not_before, self.config.wall_clock())
        max_age = connection_age_limit(self.config.max_connection_age_s,
                                       (rental.not_after - held_since).total_seconds())
        if max_age is not None:
            self._nursery.start_soon(functools.partial(
                keep_connections_young, handle,
                customer_age_bound(max_age, random.random()),  # noqa: S311 (a spread, no secret)
                fast_reconnect=self._fast_reconnect))
        self._nursery.start_soon(download.keep_saving_resume_data,
                                 self.config.resume_save_interval_s)
        self._nursery.start_soon(download.keep_counting_peers)
        log.info("%s: %s (SSL port %d)", film_id,
                 "resuming" if resume else "starting", self.ssl_port)
        return download

    async def start_service(self, serve: Callable[..., Awaitable[object]], *args: object) -> Any:
        """Run ``serve(*args, task_status=...)`` for as long as the node runs.

        Returns what it passes to ``task_status.started`` (e.g. a server's URL). This is
        how layers above the runtime (playback) tie a server to the node's lifetime.
        """
        return await self._nursery.start(serve, *args)

    async def remove(self, film_id: str, *, delete_files: bool = False) -> None:
        """Stop a download (saving resume data unless its files are deleted)."""
        download = self._downloads.pop(film_id)
        if not delete_files:
            await download.save_resume_data()
        flags = lt.session.delete_files if delete_files else 0
        self.session.remove_torrent(download.handle, flags)

    async def _save_all_on_close(self, *, timeout_s: float) -> None:
        pending = [d for d in self._downloads.values() if d.request_resume_data()]
        with trio.move_on_after(timeout_s):
            while any(not d.resume_saved for d in pending):
                drain_alerts(self.session, self._dispatch)
                await trio.sleep(0.02)
        for d in pending:
            if not d.resume_saved:
                log.warning("%s: resume data not saved before shutdown", d.film_id)


def _log_port_mapping(view: dict[str, Any], ssl_port: int) -> None:
    state = view["state"]
    if state == "mapped":
        log.info("port %d mapped by %s: reachable at %s:%d", ssl_port, view["protocol"],
                 view["external_address"] or "?", view["external_port"])
    elif state == "failed":
        log.warning("port %d not mapped: %s", ssl_port, view["error"])


@asynccontextmanager
async def open_node(config: NodeConfig | None = None) -> AsyncIterator[Node]:
    """Run a node for the duration of the ``async with`` block."""
    config = config or NodeConfig()
    port = config.listen_port
    if port == 0 and config.listen_port_file is not None:
        try:
            port = choose_listen_port(config.listen_port_file)
        except OSError as e:
            raise PeernodeError(f"cannot find a free listen port: {e.strerror}") from None
    settings: dict[str, object] = {
        "upload_rate_limit": config.upload_rate_bps,
        "download_rate_limit": config.download_rate_bps,
        **config.extra_settings,
    }

    def session_on(port: int) -> lt.session:
        return make_session(config.listen_host, port=port, origin=config.origin,
                            transport=config.transport,
                            limit_local_peers=config.limit_local_peers, settings=settings)

    try:
        session = session_on(port)
    except PeernodeError:
        if port == config.listen_port:
            raise
        # The remembered port was taken between the check and the bind: any free one.
        session = session_on(0)
    if config.listen_port_file is not None and config.listen_port == 0:
        remember_listen_port(config.listen_port_file, ssl_listen_port(session))
    try:
        async with trio.open_nursery() as nursery:
            node = Node(config, session, nursery)
            await nursery.start(pump_alerts, session, node._dispatch)
            nursery.start_soon(node._start_port_mapping)
            nursery.start_soon(node.hosting.keep_hours)
            if is_wildcard(config.listen_host):
                nursery.start_soon(node._recheck_interfaces)
            try:
                yield node
            finally:
                nursery.cancel_scope.cancel()
        # The pump is gone (cancellation may be why we are here), so the final
        # resume data is collected by draining alerts directly, shielded.
        with trio.CancelScope(shield=True):
            await node._save_all_on_close(timeout_s=10.0)
    finally:
        session.pause()
        # Destroying a session with an incoming SSL handshake pending crashes libtorrent
        # 2.1.1 (see session_teardown); whoever drops the last reference, it is safe now.
        with trio.CancelScope(shield=True):
            if not await close_session(session):
                log.warning("incoming connections still open while the node closes")
