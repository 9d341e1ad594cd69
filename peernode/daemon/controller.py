"""The daemon itself: one node holding many rentals, driven by API operations.

`Daemon.call(route, body)` performs one API operation, looked up in a table of
operation -> handler (`OPERATIONS` names them), and returns ``(status, json)``
or raises `ApiError`; `Daemon.watch` polls the downloads, publishes events to
subscribers and applies the seeding policy; `Daemon.restore` adds the rentals
(and hosted films, `peernode.daemon.hosting_controller`) of the state directory again
after a restart. Time comes from an injected
clock (trio's by default), so tests drive it with trio's MockClock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import trio

from certs import (
    BundleError,
    CertsError,
    RentalExpired,
    load_node_key,
    validate_film_id,
)
from peernode.daemon.api import (
    ApiError,
    Route,
    parse_json_object,
    parse_rental_request,
    parse_settings_update,
)
from peernode.daemon.events import (
    download_view,
    events_between,
    failed_view,
    format_sse,
    seeding_action,
)
from peernode.daemon.hosting_controller import DaemonHostings
from peernode.daemon.openapi import PORT_MAPPING_EVENT
from peernode.daemon.records import RentalRecord
from peernode.daemon.startup_renewal import retry_start_renewal
from peernode.daemon.state_dir import StateStore, StoredRental
from peernode.errors import PeernodeError
from peernode.runtime.download import Download
from peernode.runtime.node import Node, load_torrent, torrent_ca_certificate
from peernode.runtime.renewal import RenewalUnavailableError, open_current_rental

__all__ = ["OPERATIONS", "Daemon", "EventHub"]

log = logging.getLogger(__name__)

Json = dict[str, Any]


class EventHub:
    """Fan-out of server-sent events; a subscriber that falls behind is dropped."""

    def __init__(self, buffer: int = 256) -> None:
        self._buffer = buffer
        self._subscribers: set[trio.MemorySendChannel[bytes]] = set()
        self._next_id = 1

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: Json) -> None:
        """Queue one event for every subscriber (never blocks)."""
        message = format_sse(kind, data, self._next_id)
        self._next_id += 1
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(message)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                # A client that does not read must not hold the daemon's memory.
                self._subscribers.discard(channel)
                channel.close()

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[bytes]]:
        """Receive formatted events until the ``with`` block ends."""
        send, receive = trio.open_memory_channel[bytes](self._buffer)
        self._subscribers.add(send)
        try:
            yield receive
        finally:
            self._subscribers.discard(send)
            send.close()
            receive.close()


@dataclass
class _Entry:
    record: RentalRecord
    download: Download | None = None
    failure: tuple[str, str] | None = None  # (state, message) when it could not be added
    last_view: Json | None = None
    playback_url: str | None = None
    playback_scope: trio.CancelScope | None = None
    playback_error: str | None = None


class Daemon:
    """The API's operations over one running `Node` and its `StateStore`.

    ``wall_clock`` reads aware UTC datetimes (rental windows, ``added_at``);
    ``clock`` reads seconds for the uptime (trio's clock by default).
    """

    def __init__(
        self,
        node: Node,
        store: StateStore,
        nursery: trio.Nursery,
        *,
        wall_clock: Callable[[], datetime],
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.node = node
        self.store = store
        self.hub = EventHub()
        self._nursery = nursery
        self._wall_clock = wall_clock
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._started = clock()
        self.settings = store.settings()
        self._port_mapping: Json = {}
        self.hostings = DaemonHostings(node, store, self.hub, wall_clock=wall_clock)
        """The films this daemon hosts (placements received over the API)."""
        self._apply_rates()

    # -- start-up ------------------------------------------------------------
    async def restore(self) -> None:
        """Add every stored rental again; one that fails is listed with its reason."""
        for stored in self.store.rentals():
            entry = _Entry(stored.record)
            self._entries[stored.record.download_id] = entry
            try:
                entry.download = await self._add(stored)
            except (PeernodeError, CertsError) as e:
                self._not_resumed(entry, e)
                if isinstance(e, RenewalUnavailableError):  # the service may come back
                    self._nursery.start_soon(self._retry_start_renewal, entry, stored, e)
                continue
            if stored.record.user_paused:
                entry.download.handle.pause()
            entry.last_view = self._view(entry)
        await self.hostings.restore()

    async def _retry_start_renewal(self, entry: _Entry, stored: StoredRental,
                                   error: RenewalUnavailableError) -> None:
        """Renew a rental whose start-up renewal could not reach the service, again and
        again with the running renewal's backoff, until it succeeds (the download starts,
        ``rental-renewed``), the service refuses (listed expired with the reason), the
        rental's window ends, or the download is deleted."""
        download_id = stored.record.download_id

        async def try_once(failures: int) -> RenewalUnavailableError | None:
            try:
                download = await self._add(stored)
            except RenewalUnavailableError as e:
                log.warning("%s: start-up renewal failed (%d in a row): %s", download_id,
                            failures + 1, e)
                return e
            except (PeernodeError, CertsError) as e:  # refused, or nothing left to renew
                self._not_resumed(entry, e)
                return None
            if self._entries.get(download_id) is not entry:
                await self.node.remove(download_id)
                return None
            entry.download, entry.failure = download, None
            if stored.record.user_paused:
                download.handle.pause()
            entry.last_view = self._view(entry)
            self.hub.publish("rental-renewed", entry.last_view)
            log.info("%s: renewed after %d failed attempts; resumed", download_id, failures)
            return None

        def listed(message: str) -> None:
            entry.failure = ("expired", message)

        ended = await retry_start_renewal(
            error, try_once,
            retry_at=lambda e, failures, now, jitter: e.retry_at(failures, now=now,
                                                                 jitter=jitter),
            listed=listed, wanted=lambda: self._entries.get(download_id) is entry,
            wall_clock=self._wall_clock)
        if ended is not None:
            entry.failure = ("expired", f"{ended}; the rental's window has ended")

    @staticmethod
    def _not_resumed(entry: _Entry, error: PeernodeError | CertsError) -> None:
        """List a stored rental that could not be added again, with the reason: expired
        when its certificate ended (and the service did not, or could not, renew it)."""
        state = "expired" if isinstance(error, RentalExpired) else "error"
        entry.failure = (state, str(error))
        log.error("%s: not resumed: %s", entry.record.download_id, error)

    async def _add(self, stored: StoredRental) -> Download:
        record = stored.record
        ti = load_torrent(stored.torrent)
        if ti.name() != record.download_id:  # the save dir is named by the record
            raise PeernodeError(f"stored torrent is {ti.name()!r}, not {record.download_id!r}")
        key = load_node_key(record.node_key_path)
        save_dir = self.store.download_dir(record.download_id)
        rental = await open_current_rental(stored.bundle, key, torrent_ca_certificate(ti),
                                           save_dir=save_dir, now=self._wall_clock())
        return await self.node.fetch(ti, rental, key, save_dir=save_dir, peers=record.peers)

    # -- views and events ----------------------------------------------------
    def _view(self, entry: _Entry) -> Json:
        download_id = entry.record.download_id
        if entry.download is None:
            state, message = entry.failure or ("error", "not added")
            return failed_view(download_id, state, message)
        handle = entry.download.handle
        sharing = handle.is_valid() and not handle.status().paused
        view = download_view(download_id, entry.download.stats(), sharing=sharing,
                             user_paused=entry.record.user_paused)
        view["added_at"] = entry.record.added_at.isoformat() if entry.record.added_at else None
        return view

    def _entry(self, route: Route) -> _Entry:
        entry = self._entries.get(route.download_id or "")
        if entry is None:
            raise ApiError("not_found", f"no download {route.download_id!r}")
        return entry

    async def watch(self, interval_s: float = 1.0, idle_interval_s: float = 5.0) -> None:
        """Poll downloads, publish events and apply the seeding policy, until cancelled.

        Polls every ``interval_s`` while something is active or watched, else
        every ``idle_interval_s`` (seconds), so an idle daemon costs next to nothing.
        """
        while True:
            busy = self.tick()
            await trio.sleep(interval_s if busy or self.hub.subscribers else idle_interval_s)

    def tick(self) -> bool:
        """One poll of every download; True if any is still downloading."""
        busy = False
        for entry in list(self._entries.values()):
            if entry.download is None:
                continue
            try:
                view = self._view(entry)
                self._apply_policy(entry, view)
            except RuntimeError as e:  # libtorrent on a handle being removed: next tick
                log.warning("%s: not polled: %s", entry.record.download_id, e)
                continue
            for kind, data in events_between(entry.last_view, view):
                self.hub.publish(kind, data)
            entry.last_view = view
            busy |= view["state"] in ("checking", "downloading")
        busy |= self.hostings.tick()
        if self.node.port_mapping != self._port_mapping:
            self._port_mapping = self.node.port_mapping
            self.hub.publish(PORT_MAPPING_EVENT, self._port_mapping)
        return busy

    def _apply_policy(self, entry: _Entry, view: Json) -> None:
        assert entry.download is not None
        handle = entry.download.handle
        action = seeding_action(view, seed_when_complete=self.settings.seed_when_complete,
                                user_paused=entry.record.user_paused)
        if action is None or not handle.is_valid():
            return
        if action == "pause":
            handle.pause()
        else:
            handle.resume()

    # -- operations ----------------------------------------------------------
    async def call(self, route: Route, body: bytes) -> tuple[int, Json]:
        """Perform one API operation; `ApiError` for anything the client got wrong.

        An operation the daemon does not perform (``openapi`` and ``events``
        are the HTTP layer's own) is ``not_found``.
        """
        handler = _HANDLERS.get(route.operation)
        if handler is None:
            raise ApiError("not_found", f"no operation {route.operation!r}")
        return await handler(self, route, body)

    # One handler per operation: (route, body) -> (HTTP status, JSON body).
    async def _health(self, _route: Route, _body: bytes) -> tuple[int, Json]:
        ssl_port = self.node.ssl_port
        # Without its SSL socket the node still downloads, but no peer can
        # connect to it: worth telling the client app.
        return 200, {"status": "ok" if ssl_port else "degraded",
                     "downloads": len(self._entries), "ssl_port": ssl_port,
                     "uptime_s": round(self._clock() - self._started, 3),
                     "port_mapping": self.node.port_mapping}

    async def _add_rental_op(self, _route: Route, body: bytes) -> tuple[int, Json]:
        return 201, await self._add_rental(body)

    async def _list_downloads(self, _route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, {"downloads": [self._view(e) for e in self._entries.values()]}

    async def _get_settings(self, _route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, self.settings.to_json()

    async def _put_settings_op(self, _route: Route, body: bytes) -> tuple[int, Json]:
        return 200, self._put_settings(body)

    async def _get_download(self, route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, self._view(self._entry(route))

    async def _pause(self, route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, self._pause_resume(self._entry(route), paused=True)

    async def _resume(self, route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, self._pause_resume(self._entry(route), paused=False)

    async def _delete_download(self, route: Route, _body: bytes) -> tuple[int, Json]:
        entry = self._entry(route)
        delete_files = route.flag("delete_files")
        await self._delete(entry, delete_files=delete_files)
        return 200, {"id": entry.record.download_id, "deleted": True,
                     "files_deleted": delete_files}

    async def _playback_op(self, route: Route, _body: bytes) -> tuple[int, Json]:
        entry = self._entry(route)
        return 200, {"id": entry.record.download_id, "url": await self._playback(entry)}

    async def _list_hostings(self, _route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, self.hostings.list()

    async def _get_hosting(self, route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, self.hostings.get(route)

    async def _put_hosting(self, route: Route, body: bytes) -> tuple[int, Json]:
        return await self.hostings.put(route, body)

    async def _delete_hosting(self, route: Route, _body: bytes) -> tuple[int, Json]:
        return 200, await self.hostings.delete(route)

    async def _add_rental(self, body: bytes) -> Json:
        request = parse_rental_request(body)
        try:
            ti = load_torrent(request.torrent)
            download_id = validate_film_id(ti.name())
            ca_cert = torrent_ca_certificate(ti)
        except (PeernodeError, CertsError) as e:
            raise ApiError("invalid_field", f"torrent: {e}", field="torrent") from None
        if download_id in self._entries or download_id in self.node.downloads:
            raise ApiError("conflict", f"film {download_id!r} is already held by this daemon")
        try:
            key = load_node_key(request.node_key_path)
        except CertsError as e:
            raise ApiError("invalid_field", str(e), field="node_key_path") from None
        try:
            rental = await open_current_rental(request.rental, key, ca_cert,
                                               save_dir=self.store.download_dir(download_id),
                                               now=self._wall_clock())
        except RenewalUnavailableError as e:  # transient: the caller may try again
            raise ApiError("unavailable", f"rental: {e}; try again later") from None
        except BundleError as e:
            raise ApiError("rental_rejected", f"rental: {e}", field="rental") from None
        if rental.film_id != download_id:
            raise ApiError("rental_rejected", f"rental: it is for film {rental.film_id!r}, "
                           f"the torrent is {download_id!r}", field="rental")
        record = RentalRecord(download_id, request.node_key_path, request.peers,
                              added_at=self._wall_clock())
        try:
            download = await self.node.fetch(ti, rental, key,
                                             save_dir=self.store.download_dir(download_id),
                                             peers=request.peers)
        except PeernodeError as e:  # libtorrent refused the torrent
            raise ApiError("invalid_field", f"torrent: {e}", field="torrent") from None
        entry = _Entry(record, download)
        self._entries[download_id] = entry
        try:
            self.store.save_rental(record, request.torrent, request.rental)
        except OSError as e:
            del self._entries[download_id]
            await self.node.remove(download_id)
            raise ApiError("internal_error", f"state dir: {e.strerror}") from None
        entry.last_view = self._view(entry)
        log.info("%s: rental added", download_id)
        return entry.last_view

    def _pause_resume(self, entry: _Entry, *, paused: bool) -> Json:
        download = entry.download
        if download is None or not download.handle.is_valid():
            raise ApiError("conflict", f"download {entry.record.download_id!r} is not running")
        view = self._view(entry)
        if not paused and view["state"] == "expired":
            raise ApiError("conflict", "the rental has expired; it cannot be resumed")
        entry.record = replace(entry.record, user_paused=paused)
        self.store.save_record(entry.record)
        if paused:
            download.handle.pause()
        else:
            download.handle.resume()
        entry.last_view = self._view(entry)
        return entry.last_view

    async def _delete(self, entry: _Entry, *, delete_files: bool) -> None:
        download_id = entry.record.download_id
        if entry.playback_scope is not None:
            entry.playback_scope.cancel()
        if entry.download is not None and download_id in self.node.downloads:
            await self.node.remove(download_id, delete_files=delete_files)
        del self._entries[download_id]
        self.store.remove_rental(download_id, delete_files=delete_files)
        log.info("%s: deleted%s", download_id, " with its files" if delete_files else "")

    def _put_settings(self, body: bytes) -> Json:
        self.settings = parse_settings_update(parse_json_object(body), self.settings)
        self.store.save_settings(self.settings)
        self._apply_rates()
        for entry in self._entries.values():
            if entry.download is not None:
                self._apply_policy(entry, self._view(entry))
        return self.settings.to_json()

    def _apply_rates(self) -> None:
        pack: dict[str, Any] = {"upload_rate_limit": self.settings.upload_rate_bps,
                                "download_rate_limit": self.settings.download_rate_bps}
        # The binding converts a dict to a settings_pack; its stubs only name the latter.
        self.node.session.apply_settings(pack)  # type: ignore[arg-type]
        self.node.set_port_mapping(self.settings.port_mapping)
        # a withdrawn consent pauses every hosted film at once
        self.node.hosting.set_policy(self.settings.hosting)

    # -- playback ------------------------------------------------------------
    async def _playback(self, entry: _Entry) -> str:
        if entry.playback_url is not None:
            return entry.playback_url
        download = entry.download
        if download is None or not download.handle.is_valid():
            raise ApiError("conflict", f"download {entry.record.download_id!r} is not running")
        try:
            from peernode.playback.server import serve_playback
        except ImportError:
            raise ApiError("unavailable", "playback is not available in this build") from None
        if self._view(entry)["state"] == "expired":
            raise ApiError("conflict", "the rental has expired; playback is refused")

        async def run(*, task_status: trio.TaskStatus[str]) -> None:
            try:
                with trio.CancelScope() as scope:
                    entry.playback_scope = scope
                    await serve_playback(download, wall_clock=self._wall_clock,
                                         task_status=task_status)
            except Exception as e:  # a player's trouble must never stop the daemon
                entry.playback_error = str(e)
                log.error("%s: playback server stopped: %s", entry.record.download_id, e)
            finally:
                entry.playback_url = None
                entry.playback_scope = None

        try:
            url: str = await self._nursery.start(run)
        except RuntimeError:
            reason, entry.playback_error = entry.playback_error or "it did not start", None
            raise ApiError("unavailable", f"playback: {reason}") from None
        entry.playback_url = url
        return url


_Handler = Callable[[Daemon, Route, bytes], Awaitable[tuple[int, Json]]]

# Operation (as `peernode.daemon.api.route_request` names it) -> its handler.
_HANDLERS: dict[str, _Handler] = {
    "health": Daemon._health,
    "add_rental": Daemon._add_rental_op,
    "list_downloads": Daemon._list_downloads,
    "get_settings": Daemon._get_settings,
    "put_settings": Daemon._put_settings_op,
    "get_download": Daemon._get_download,
    "pause": Daemon._pause,
    "resume": Daemon._resume,
    "delete_download": Daemon._delete_download,
    "playback": Daemon._playback_op,
    "list_hostings": Daemon._list_hostings,
    "get_hosting": Daemon._get_hosting,
    "put_hosting": Daemon._put_hosting,
    "delete_hosting": Daemon._delete_hosting,
}

# The operations `Daemon.call` performs.
OPERATIONS: frozenset[str] = frozenset(_HANDLERS)
