"""Host mode: a node that carries and serves films' ciphertext placed before their release.

    config = NodeConfig(hosting=HostingPolicy(enabled=True, disk_quota_bytes=20 * 2**30,
                                              upload_rate_bps=2_000_000, hours="1-7"))
    async with open_node(config) as node:
        hosted = await node.hosting.host("film.torrent", credential_pem, node_key,
                                         save_dir="hosted")

A host joins the film's SSL swarm with a hosting credential (`certs.hosting`: SAN = film
id, the hosting policy, **no content key**), downloads the whole container at its capped
rate during its allowed hours, and then seeds it to renters. It can never decrypt a byte:
there is no key to hold, `HostedFilm.open_reader` refuses, and nothing it writes (resume
data, counters) contains key material. The owner's consent and limits are a
`HostingPolicy`; off by default, so a node that never opted in refuses every placement.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import libtorrent as lt
import trio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certs import Rental, private_key_pem
from certs.hosting import HostingCredential, open_hosting_credential
from peernode.errors import PeernodeError
from peernode.runtime.download import Download, film_bytes
from peernode.runtime.hosting_policy import HostingPolicy, HostingRefused
from peernode.runtime.session_settings import add_ssl_torrent

if TYPE_CHECKING:
    from peernode.container.stream import ContainerReader
    from peernode.runtime.node import Node

__all__ = ["HOURS_RECHECK_S", "HostedFilm", "Hosting", "HostingHasNoKey", "HostingRefused"]

log = logging.getLogger(__name__)

HOURS_RECHECK_S = 30.0


class HostingHasNoKey(PeernodeError):
    """A hosted film is ciphertext only: this node holds no key to decrypt it."""


def _keyless(credential: HostingCredential) -> Rental:
    # `Download` keeps its window in a `Rental`; a host's has no content key at all
    # (empty bytes), and `HostedFilm.open_reader` refuses before it could be used.
    return Rental(
        certificate=credential.certificate, film_id=credential.film_id,
        serial=credential.serial, not_before=credential.not_before,
        not_after=credential.not_after, content_key=b"",
    )


class HostedFilm(Download):
    """A film this node hosts: downloaded whole, then seeded; never decrypted."""

    def __init__(self, *, credential: HostingCredential, **kwargs: Any) -> None:
        super().__init__(rental=_keyless(credential), **kwargs)
        self.credential = credential
        self.renewal_stopped: str | None = None  # why keeping the credential renewed ended
        self.renewing = False
        """Whether `keep_hosting_renewed` runs for this film (set by it)."""
        self._renewal_scope: trio.CancelScope | None = None

    async def keep_credential_renewed(
        self, node_key: ec.EllipticCurvePrivateKey, service_url: str,
        ca_cert: x509.Certificate, **options: Any,
    ) -> None:
        """Renew the credential at the rental service until refused or stopped
        (`peernode.runtime.hosting_renewal.keep_hosting_renewed`, given ``options``)."""
        from peernode.runtime.hosting_renewal import keep_hosting_renewed

        with trio.CancelScope() as scope:
            self._renewal_scope = scope
            self.renewal_stopped = await keep_hosting_renewed(self, node_key, service_url,
                                                              ca_cert, **options)
            log.warning("%s: hosting credential no longer renewed (%s)", self.film_id,
                        self.renewal_stopped)

    def renewal_pending(self) -> bool:
        """A hosted film's credential renews while its `keep_credential_renewed` runs
        (a late renewal included: sharing resumes and the new end is watched)."""
        return self.renewing

    def stop_renewing(self) -> None:
        """End `keep_credential_renewed` (the film is no longer hosted)."""
        if self._renewal_scope is not None:
            self._renewal_scope.cancel()

    def open_reader(self) -> ContainerReader:
        """Always refused: a host holds the ciphertext, never the key."""
        raise HostingHasNoKey(
            f"{self.film_id} is hosted (ciphertext only): this node holds no key for it"
        )

    def renew_credential(self, credential: HostingCredential, key_pem: bytes) -> None:
        """Set a renewed credential of the same hosting (`peernode.runtime.hosting_renewal`)
        on the handle: connections go on, new ones present it."""
        self.renew_certificate(_keyless(credential), key_pem)
        self.credential = credential

    def progress_report(self) -> dict[str, Any]:
        """What a host reports to placement: film, bytes held, complete, uploaded, and
        until when its credential lets it share."""
        stats = self.stats()
        return {
            "film_id": self.film_id,
            "total_bytes": stats.total_bytes,
            "have_bytes": stats.done_bytes,
            "complete": stats.complete,
            "uploaded_bytes": stats.bytes_uploaded,
            "paused": self.handle.is_valid() and bool(self.handle.status().paused),
            "credential_not_after": self.credential.not_after.isoformat(),
        }


class Hosting:
    """The node's hosted films under the owner's `HostingPolicy` (``node.hosting``)."""

    def __init__(self, node: Node, policy: HostingPolicy) -> None:
        self._node = node
        self._policy = policy
        self._films: dict[str, HostedFilm] = {}

    @property
    def policy(self) -> HostingPolicy:
        return self._policy

    @property
    def films(self) -> dict[str, HostedFilm]:
        return dict(self._films)

    @property
    def hosted_bytes(self) -> int:
        """Disk the hosted films take (their full size: each is downloaded whole)."""
        return sum(film_bytes(f.ti) for f in self._films.values())

    def _now(self) -> datetime:
        return self._node.config.wall_clock()

    async def host(
        self,
        torrent: str | os.PathLike[str] | bytes | lt.torrent_info,
        credential: bytes | HostingCredential,
        node_key: ec.EllipticCurvePrivateKey,
        *,
        save_dir: str | os.PathLike[str],
        peers: Sequence[tuple[str, int]] = (),
        service_url: str | None = None,
        placed_before: bool = False,
    ) -> HostedFilm:
        """Start (or resume) hosting a film into ``save_dir``.

        Raises `HostingRefused` if the owner has not opted in or the quota has no room
        (nothing is added to the session then: no byte moves), the `certs.BundleError`
        family for a credential that is not a hosting credential of this CA for this node
        and time, `PeernodeError` for one of another film or a film already on the node.
        ``service_url``: the rental service that issued the credential; the host then
        keeps it renewed there (mutual TLS) for as long as it hosts the film.
        ``placed_before``: the film was admitted here before (a restart of the daemon that
        hosts it): like `set_policy`, a consent withdrawn or a quota lowered since then
        keeps it paused or over quota rather than dropping it; a new placement is always
        checked.
        """
        # at call time: node.py imports this module to give every node its `Hosting`
        from peernode.runtime.node import (
            check_operator_ca,
            load_torrent,
            resume_data_to_trust,
            torrent_ca_certificate,
        )

        node = self._node
        ti = load_torrent(torrent)
        film_id = ti.name()
        if not placed_before:
            self._policy.check_admission(film_id, film_bytes(ti), self.hosted_bytes)
        operator_ca = node.operator_ca
        if operator_ca is not None:
            check_operator_ca(ti, operator_ca)
        if isinstance(credential, bytes):
            credential = open_hosting_credential(
                credential, node_key, operator_ca or torrent_ca_certificate(ti), now=self._now()
            )
        if credential.film_id != film_id:
            raise PeernodeError(
                f"the hosting credential is for {credential.film_id!r}, the torrent is {film_id!r}"
            )
        if film_id in node.downloads:
            raise PeernodeError(f"film {film_id!r} is already on this node")
        save = Path(save_dir)
        state_dir = save / ".peernode"
        state_dir.mkdir(parents=True, exist_ok=True)
        resume = resume_data_to_trust(state_dir / f"{film_id}.resume")
        handle = add_ssl_torrent(
            node.session, ti, save, cert_pem=credential.cert_pem,
            key_pem=private_key_pem(node_key), resume_data=resume,
            flags=lt.torrent_flags.paused,
        )
        handle.set_upload_limit(self._policy.upload_rate_bps or -1)
        handle.set_download_limit(self._policy.download_rate_bps or -1)
        hosted = HostedFilm(
            credential=credential, handle=handle, ti=ti, save_dir=save, state_dir=state_dir,
            wall_clock=node.config.wall_clock,
        )
        self._films[film_id] = hosted
        node.adopt(hosted)
        for address in peers:
            handle.connect_peer(address)
        if service_url is not None:
            node.start_soon(hosted.keep_credential_renewed, node_key, service_url,
                            operator_ca or torrent_ca_certificate(ti))
        self.apply()
        log.info("%s: hosting (%s, ciphertext only)", film_id, "resuming" if resume else "new")
        return hosted

    def replace_credential(
        self,
        film_id: str,
        credential: HostingCredential,
        node_key: ec.EllipticCurvePrivateKey,
        *,
        service_url: str | None = None,
    ) -> HostedFilm:
        """Give a hosted film a credential placed again (a new hosting of the same film for
        this node, or one renewed elsewhere): set on its handle, and its renewal, if
        ``service_url``, kept at that service from now on (`PeernodeError` for another
        film or one not hosted)."""
        from peernode.runtime.node import torrent_ca_certificate

        hosted = self._films.get(film_id)
        if hosted is None:
            raise PeernodeError(f"film {film_id!r} is not hosted on this node")
        if credential.film_id != film_id:
            raise PeernodeError(
                f"the hosting credential is for {credential.film_id!r}, not {film_id!r}"
            )
        hosted.stop_renewing()
        hosted.renew_credential(credential, private_key_pem(node_key))
        hosted.renewal_stopped = None
        if service_url is not None:
            self._node.start_soon(hosted.keep_credential_renewed, node_key, service_url,
                                  self._node.operator_ca or torrent_ca_certificate(hosted.ti))
        self.apply()
        return hosted

    def set_policy(self, policy: HostingPolicy) -> None:
        """Change the owner's consent or limits now (a withdrawn consent pauses every
        hosted film at once; the bytes stay on disk until `stop`)."""
        self._policy = policy
        for hosted in self._films.values():
            if hosted.handle.is_valid():
                hosted.handle.set_upload_limit(policy.upload_rate_bps or -1)
                hosted.handle.set_download_limit(policy.download_rate_bps or -1)
        self.apply()

    def apply(self, moment: datetime | None = None) -> None:
        """Pause hosted films outside the owner's hours (or with consent off), resume
        them inside; a film whose hosting window ended stays paused."""
        is_open = self._policy.open_at(moment or self._now())
        for hosted in self._films.values():
            handle = hosted.handle
            if not handle.is_valid():
                continue
            if is_open and not hosted.state.expired:
                handle.resume()
            else:
                handle.pause()

    async def stop(self, film_id: str, *, delete_files: bool = True) -> None:
        """Stop hosting ``film_id`` (placement moved it elsewhere); frees its disk."""
        self._films.pop(film_id).stop_renewing()
        await self._node.remove(film_id, delete_files=delete_files)

    def report(self) -> list[dict[str, Any]]:
        """Every hosted film's `HostedFilm.progress_report`."""
        return [f.progress_report() for f in self._films.values()]

    async def keep_hours(self, interval_s: float = HOURS_RECHECK_S,
                         sleep: Callable[[float], Any] = trio.sleep) -> None:
        """Apply the hours every ``interval_s`` for as long as the node runs."""
        while True:
            await sleep(interval_s)
            self.apply()
