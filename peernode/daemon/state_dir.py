"""The daemon's state directory: token, settings and rentals, written atomically.

Layout::

    STATE_DIR/token                      bearer token of the control API (0600)
    STATE_DIR/settings.json              the customer's caps, seeding and port-mapping consent
    STATE_DIR/listen-port                the node's listen port, kept across restarts
    STATE_DIR/rentals/ID/record.json     how to add download ID again
    STATE_DIR/rentals/ID/film.torrent    its torrent
    STATE_DIR/rentals/ID/rental.pvr      its rental bundle (0600)
    STATE_DIR/downloads/ID/              its save dir (film + libtorrent resume data)
    STATE_DIR/hostings/ID/record.json    how to host film ID again (`hosting_api`)
    STATE_DIR/hostings/ID/film.torrent   its torrent
    STATE_DIR/hostings/ID/credential.pvh its current hosting credential (0600; each
                                         renewal replaces it)
    STATE_DIR/hosted/ID/                 the hosted film's ciphertext and resume data
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from certs import CertsError, read_private, validate_film_id
from peernode.daemon.api import DaemonSettings
from peernode.daemon.hosting_api import (
    HostingRecord,
    decode_hosting_record,
    encode_hosting_record,
)
from peernode.daemon.records import (
    RentalRecord,
    decode_record,
    decode_settings,
    encode_record,
    encode_settings,
)
from peernode.errors import PeernodeError
from support.atomic_write import write_atomic, write_private

__all__ = ["MIN_TOKEN_CHARS", "StateStore", "StoredHosting", "StoredRental",
           "check_download_id"]

log = logging.getLogger(__name__)

MIN_TOKEN_CHARS = 32
"""A shorter API token is refused (an empty token file would authorise everyone)."""


def check_download_id(download_id: str) -> str:
    """``download_id`` if it can name a folder of the state dir (a film id: lowercase
    letters, digits, inner hyphens; never ``..`` or a slash), else `PeernodeError`."""
    try:
        return validate_film_id(download_id)
    except CertsError:
        raise PeernodeError(f"invalid download id {download_id!r}") from None


@dataclass(frozen=True)
class StoredRental:
    """A rental read back from the state directory."""

    record: RentalRecord
    torrent: bytes
    bundle: bytes


@dataclass(frozen=True)
class StoredHosting:
    """A hosted film read back from the state directory."""

    record: HostingRecord
    torrent: bytes
    credential: bytes


def _read_hosting(folder: Path) -> StoredHosting:
    """The hosting of ``folder``, whose record must name that folder."""
    record = decode_hosting_record((folder / "record.json").read_bytes())
    if record.film_id != folder.name:
        raise PeernodeError(f"its record names film {record.film_id!r}, not its folder")
    return StoredHosting(
        record,
        (folder / "film.torrent").read_bytes(),
        read_private(folder / "credential.pvh", what="hosting credential"),
    )


def _read_rental(folder: Path) -> StoredRental:
    """The rental of ``folder``, whose record must name that folder (its id is used in
    paths and removals: a crafted record.json must not point anywhere else)."""
    record = decode_record((folder / "record.json").read_bytes())
    if record.download_id != folder.name:
        raise PeernodeError(f"its record names download {record.download_id!r}, not its folder")
    check_download_id(record.download_id)
    return StoredRental(
        record,
        (folder / "film.torrent").read_bytes(),
        read_private(folder / "rental.pvr", what="rental bundle"),
    )


class StateStore:
    """Reads and writes one daemon state directory (created if missing, mode 0700)."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise PeernodeError(f"state dir {state_dir} cannot be created: {e.strerror}") from None

    @property
    def token_path(self) -> Path:
        return self.root / "token"

    def token(self) -> str:
        """The API bearer token, created (0600) on first use; `CertsError` if too open."""
        if not self.token_path.exists():
            write_private(self.token_path, secrets.token_urlsafe(32).encode())
        raw = read_private(self.token_path, what="API token")
        try:
            token = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            token = ""
        if len(token) < MIN_TOKEN_CHARS or not token.isprintable():
            raise PeernodeError(
                f"API token {self.token_path} is under {MIN_TOKEN_CHARS} printable ASCII "
                "characters: delete it to have a new one made"
            )
        return token

    @property
    def listen_port_path(self) -> Path:
        """Where the node's listen port is kept (see `peernode.runtime.listen_port`)."""
        return self.root / "listen-port"

    def settings(self) -> DaemonSettings:
        """The saved settings (defaults if none); `PeernodeError` if the file is damaged."""
        path = self.root / "settings.json"
        if not path.exists():
            return DaemonSettings()
        return decode_settings(path.read_bytes())

    def save_settings(self, settings: DaemonSettings) -> None:
        write_atomic(self.root / "settings.json", encode_settings(settings))

    def download_dir(self, download_id: str) -> Path:
        """Where download ``download_id``'s film and resume data live (`PeernodeError`
        for an id that is not a film id)."""
        return self.root / "downloads" / check_download_id(download_id)

    def _rental_dir(self, download_id: str) -> Path:
        return self.root / "rentals" / check_download_id(download_id)

    def save_rental(self, record: RentalRecord, torrent: bytes, bundle: bytes) -> None:
        """Write a new rental; the record goes last so a crash leaves no half rental."""
        folder = self._rental_dir(record.download_id)
        write_atomic(folder / "film.torrent", torrent)
        write_private(folder / "rental.pvr", bundle)
        self.save_record(record)

    def save_record(self, record: RentalRecord) -> None:
        write_atomic(self._rental_dir(record.download_id) / "record.json", encode_record(record))

    def rentals(self) -> list[StoredRental]:
        """Every complete rental in the state dir; damaged ones are logged and skipped."""
        return _read_all(self.root / "rentals", _read_rental, "rental")

    def remove_rental(self, download_id: str, *, delete_files: bool) -> None:
        """Forget a rental (its record first), and its downloaded files if asked."""
        folder = self._rental_dir(download_id)
        (folder / "record.json").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        if delete_files:
            shutil.rmtree(self.download_dir(download_id), ignore_errors=True)

    # -- hosted films ----------------------------------------------------------
    def hosted_dir(self, film_id: str) -> Path:
        """Where hosted film ``film_id``'s ciphertext and resume data live."""
        return self.root / "hosted" / check_download_id(film_id)

    def _hosting_dir(self, film_id: str) -> Path:
        return self.root / "hostings" / check_download_id(film_id)

    def save_hosting(self, record: HostingRecord, torrent: bytes, credential: bytes) -> None:
        """Write a hosting; the record goes last so a crash leaves no half hosting."""
        folder = self._hosting_dir(record.film_id)
        write_atomic(folder / "film.torrent", torrent)
        write_private(folder / "credential.pvh", credential)
        write_atomic(folder / "record.json", encode_hosting_record(record))

    def save_hosting_credential(self, film_id: str, credential: bytes) -> None:
        """Replace a hosting's credential (a renewal): the next start uses the newest."""
        write_private(self._hosting_dir(film_id) / "credential.pvh", credential)

    def hostings(self) -> list[StoredHosting]:
        """Every complete hosting in the state dir; damaged ones are logged and skipped."""
        return _read_all(self.root / "hostings", _read_hosting, "hosting")

    def remove_hosting(self, film_id: str) -> None:
        """Forget a hosting (its record first) and free its disk."""
        folder = self._hosting_dir(film_id)
        (folder / "record.json").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.hosted_dir(film_id), ignore_errors=True)


_Stored = TypeVar("_Stored")


def _read_all(base: Path, read: Callable[[Path], _Stored], kind: str) -> list[_Stored]:
    """``read`` of every folder under ``base``, in name order: a folder whose record
    is missing (interrupted before it was written) is passed over, a damaged one is
    logged and skipped."""
    found: list[_Stored] = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        try:
            found.append(read(folder))
        except FileNotFoundError:
            continue
        except (OSError, PeernodeError, CertsError) as e:
            log.error("skipping damaged %s %s: %s", kind, folder.name, e)
    return found
