"""The daemon's hosted films: placements received over the API, kept across restarts.

`DaemonHostings` performs the hosting operations of `peernode.daemon.controller.Daemon`
(``PUT``/``GET``/``DELETE /v1/hostings/{film_id}``, ``GET /v1/hostings``) over the
node's `peernode.runtime.hosting.Hosting`: a placement is checked (torrent, a hosting
credential of the torrent's CA for this film and this node's key, in its window, the
owner's consent and quota), hosted, and saved in the state directory; each tick polls
the hosted films, publishes their events and saves every renewed credential, so a
restart hosts them again with the newest (one that expired while the daemon was off is
renewed first at its service).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from certs import BundleError, CertsError, RentalExpired, load_node_key
from certs.hosting import load_hosting_certificate
from peernode.daemon.api import ApiError, Route
from peernode.daemon.hosting_api import (
    HostingRecord,
    failed_hosting_view,
    hosting_events_between,
    hosting_view,
    parse_hosting_request,
)
from peernode.daemon.startup_renewal import retry_start_renewal
from peernode.daemon.state_dir import StateStore
from peernode.errors import PeernodeError
from peernode.runtime.hosting import HostedFilm
from peernode.runtime.hosting_policy import HostingRefused
from peernode.runtime.hosting_renewal import open_current_hosting
from peernode.runtime.node import Node, load_torrent, torrent_ca_certificate
from peernode.runtime.renewal_client import RenewalRefused, RenewalUnavailable
from peernode.runtime.renewal_schedule import retry_delay_s

if TYPE_CHECKING:
    from peernode.daemon.controller import EventHub

__all__ = ["DaemonHostings"]

log = logging.getLogger(__name__)

Json = dict[str, Any]


class _CredentialExpired(ApiError):
    """The hosting credential's window is over (and no service renewed it)."""


@dataclass
class _Entry:
    record: HostingRecord
    hosted: HostedFilm | None = None
    failure: tuple[str, str] | None = None  # (state, message) when it could not be hosted
    last_view: Json | None = None
    saved_not_after: datetime | None = None  # of the credential in the state dir


class DaemonHostings:
    """The hosted films of one daemon (its node, state directory and event hub)."""

    def __init__(self, node: Node, store: StateStore, hub: EventHub, *,
                 wall_clock: Callable[[], datetime]) -> None:
        self._node = node
        self._store = store
        self._hub = hub
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry] = {}

    # -- start-up ------------------------------------------------------------
    async def restore(self) -> None:
        """Host every stored hosting again; one that cannot be is listed with its reason."""
        for stored in self._store.hostings():
            entry = _Entry(stored.record)
            self._entries[stored.record.film_id] = entry
            try:
                entry.hosted, pem = await self._host(
                    stored.record, stored.torrent, stored.credential, placed_before=True)
            except ApiError as e:
                self._not_hosted(entry, e)
                if e.code == "unavailable":  # the service may come back
                    self._node.start_soon(self._retry_start_renewal, entry, stored.torrent,
                                          stored.credential, e.message)
                continue
            self._hosted_at_start(entry, stored.credential, pem)

    @staticmethod
    def _not_hosted(entry: _Entry, error: ApiError) -> None:
        """List a stored hosting that could not be hosted again, with the reason: expired
        when its credential ended (and the service did not, or could not, renew it)."""
        expired = isinstance(error, _CredentialExpired) or error.code == "unavailable"
        entry.failure = ("expired" if expired else "error", error.message)
        log.error("%s: hosting not resumed: %s", entry.record.film_id, error.message)

    def _hosted_at_start(self, entry: _Entry, stored_pem: bytes, pem: bytes) -> None:
        assert entry.hosted is not None
        if pem != stored_pem:  # renewed at start
            self._store.save_hosting_credential(entry.record.film_id, pem)
        entry.saved_not_after = entry.hosted.credential.not_after
        entry.failure = None
        entry.last_view = self._view(entry)

    async def _retry_start_renewal(self, entry: _Entry, torrent: bytes, credential: bytes,
                                   message: str) -> None:
        """Renew, again and again with the running renewal's backoff, a hosting whose
        expired credential could not be renewed at start (the service unreachable),
        until it is hosted again (``hosting-renewed``), the service refuses (listed with
        the reason), or the hosting is deleted."""
        film_id = entry.record.film_id
        certificate = load_hosting_certificate(credential)
        span_s = (certificate.not_valid_after_utc
                  - certificate.not_valid_before_utc).total_seconds()

        async def try_once(failures: int) -> str | None:
            try:
                entry.hosted, pem = await self._host(entry.record, torrent, credential,
                                                     placed_before=True)
            except ApiError as e:
                if e.code == "unavailable":
                    log.warning("%s: start-up renewal of the hosting failed (%d in a row): %s",
                                film_id, failures + 1, e.message)
                    return e.message
                self._not_hosted(entry, e)
                return None
            if self._entries.get(film_id) is not entry:
                if film_id not in self._entries:  # deleted while it was being renewed
                    await self._node.hosting.stop(film_id, delete_files=True)
                return None
            self._hosted_at_start(entry, credential, pem)
            self._hub.publish("hosting-renewed", entry.last_view or {})
            log.info("%s: hosting renewed after %d failed attempts; hosted again", film_id,
                     failures)
            return None

        def listed(text: str) -> None:
            entry.failure = ("expired", text)

        await retry_start_renewal(  # never runs out: until hosted, refused or deleted
            message, try_once,
            retry_at=lambda _message, failures, now, jitter: now + timedelta(
                seconds=retry_delay_s(failures, span_s, jitter=jitter)),
            listed=listed, wanted=lambda: self._entries.get(film_id) is entry,
            wall_clock=self._wall_clock)

    async def _host(self, record: HostingRecord, torrent: bytes, credential: bytes, *,
                    placed_before: bool) -> tuple[HostedFilm, bytes]:
        """Check and host a placement; `ApiError` naming the field at fault. The hosted
        film and the credential's PEM (renewed if the given one had expired)."""
        film_id = record.film_id
        try:
            ti = load_torrent(torrent)
            ca_cert = self._node.operator_ca or torrent_ca_certificate(ti)
        except (PeernodeError, CertsError) as e:
            raise ApiError("invalid_field", f"torrent: {e}", field="torrent") from None
        if ti.name() != film_id:
            raise ApiError("invalid_field", f"torrent: it is film {ti.name()!r}, not {film_id!r}",
                           field="torrent")
        try:
            key = load_node_key(record.node_key_path)
        except CertsError as e:
            raise ApiError("invalid_field", str(e), field="node_key_path") from None
        try:
            opened, pem = await open_current_hosting(credential, key, ca_cert,
                                                     service_url=record.service_url,
                                                     now=self._wall_clock())
        except RentalExpired as e:
            raise _CredentialExpired("credential_rejected", f"credential: {e}",
                                     field="credential") from None
        except BundleError as e:
            raise ApiError("credential_rejected", f"credential: {e}", field="credential") from None
        except RenewalRefused as e:
            raise ApiError("credential_rejected", f"credential: expired, and its renewal was "
                           f"refused ({e.reason}): {e}", field="credential") from None
        except RenewalUnavailable as e:
            raise ApiError("unavailable", f"credential: expired, and the rental service "
                           f"could not renew it: {e}") from None
        if opened.film_id != film_id:
            raise ApiError("credential_rejected", f"credential: it is for film "
                           f"{opened.film_id!r}, not {film_id!r}", field="credential")
        existing = self._entries.get(film_id)
        if existing is not None and existing.hosted is not None:
            if existing.hosted.ti.info_hashes() != ti.info_hashes():
                raise ApiError("conflict", f"film {film_id!r} is hosted with another torrent: "
                               "DELETE it first")
            hosted = self._node.hosting.replace_credential(film_id, opened, key,
                                                           service_url=record.service_url)
            return hosted, pem
        if film_id in self._node.downloads:
            raise ApiError("conflict", f"film {film_id!r} is already on this node (a rental)")
        try:
            hosted = await self._node.hosting.host(
                ti, opened, key, save_dir=self._store.hosted_dir(film_id), peers=record.peers,
                service_url=record.service_url, placed_before=placed_before)
        except HostingRefused as e:
            raise ApiError("hosting_refused", str(e)) from None
        except PeernodeError as e:  # another CA than the pinned one, libtorrent refused it
            raise ApiError("invalid_field", f"torrent: {e}", field="torrent") from None
        return hosted, pem

    # -- views and events ----------------------------------------------------
    def _view(self, entry: _Entry) -> Json:
        hosted = entry.hosted
        if hosted is None:
            state, message = entry.failure or ("error", "not hosted")
            return failed_hosting_view(entry.record.film_id, state, message,
                                       entry.record.added_at)
        handle = hosted.handle
        return hosting_view(
            hosted.stats(), paused=handle.is_valid() and bool(handle.status().paused),
            hosting_id=hosted.credential.serial,
            credential_not_after=hosted.credential.not_after,
            service_url=entry.record.service_url, renewal_stopped=hosted.renewal_stopped,
            added_at=entry.record.added_at,
        )

    def _entry(self, route: Route) -> _Entry:
        entry = self._entries.get(route.download_id or "")
        if entry is None:
            raise ApiError("not_found", f"no hosted film {route.download_id!r}")
        return entry

    def tick(self) -> bool:
        """Poll every hosted film, publish its events, save a renewed credential; True if
        any is still being placed."""
        busy = False
        for film_id, entry in list(self._entries.items()):
            hosted = entry.hosted
            if hosted is None:
                continue
            try:
                view = self._view(entry)
            except RuntimeError as e:  # libtorrent on a handle being removed: next tick
                log.warning("%s: not polled: %s", film_id, e)
                continue
            if hosted.credential.not_after != entry.saved_not_after:
                try:
                    self._store.save_hosting_credential(film_id, hosted.credential.cert_pem)
                    entry.saved_not_after = hosted.credential.not_after
                except OSError as e:  # tried again at the next tick
                    log.error("%s: renewed credential not saved: %s", film_id, e.strerror)
            for kind, data in hosting_events_between(entry.last_view, view):
                self._hub.publish(kind, data)
            entry.last_view = view
            busy |= view["state"] in ("checking", "placing")
        return busy

    # -- operations ----------------------------------------------------------
    async def put(self, route: Route, body: bytes) -> tuple[int, Json]:
        """``PUT /v1/hostings/{film_id}``: 201 with the view of a new placement, 200 when
        the film was hosted already (its credential replaced by the one given)."""
        request = parse_hosting_request(route.download_id or "", body)
        film_id = request.film_id
        existing = self._entries.get(film_id)
        record = HostingRecord(film_id, request.node_key_path, request.peers,
                               request.service_url, added_at=self._wall_clock())
        if existing is not None and existing.hosted is not None:
            record = replace(record, added_at=existing.record.added_at)
        hosted, pem = await self._host(record, request.torrent, request.credential,
                                       placed_before=False)
        created = existing is None or existing.hosted is None
        try:
            self._store.save_hosting(record, request.torrent, pem)
        except OSError as e:
            if created:
                await self._node.hosting.stop(film_id)
            raise ApiError("internal_error", f"state dir: {e.strerror}") from None
        entry = _Entry(record, hosted, saved_not_after=hosted.credential.not_after)
        if not created:
            assert existing is not None
            entry.last_view = existing.last_view
        self._entries[film_id] = entry
        view = self._view(entry)
        if created:
            entry.last_view = view
        log.info("%s: placement %s (hosting %d)", film_id, "received" if created else "renewed",
                 hosted.credential.serial)
        return (201 if created else 200), view

    def list(self) -> Json:
        return {"hostings": [self._view(e) for e in self._entries.values()]}

    def get(self, route: Route) -> Json:
        return self._view(self._entry(route))

    async def delete(self, route: Route) -> Json:
        """Stop hosting a film and free its disk (placement moved it elsewhere)."""
        entry = self._entry(route)
        film_id = entry.record.film_id
        if entry.hosted is not None and film_id in self._node.hosting.films:
            await self._node.hosting.stop(film_id, delete_files=True)
        del self._entries[film_id]
        self._store.remove_hosting(film_id)
        log.info("%s: no longer hosted", film_id)
        return {"id": film_id, "deleted": True, "files_deleted": True}
