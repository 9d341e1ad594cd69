"""Package a film: encrypted container + v2-only private SSL torrent + content key.

``package_film`` turns a plaintext film into what operations seed:

* ``LIBRARY/<film_id>``: the encrypted container (`peernode.container.stream`). The torrent
  is a single-file torrent named by the film id, and libtorrent stores a
  single-file torrent's file at ``save_path/<name>``, so the library directory is
  the save path for seeding (checked against libtorrent's own file layout below);
* ``LIBRARY/<film_id>.torrent``: v2-only, private, the operator CA as SSL root
  certificate, the tracker's HTTPS announce URL;
* ``CA_DIR/keys/<film_id>.key``: the film's random 32-byte content key (0600).

Nothing is left half-written: the container and torrent are built in a temporary
directory inside the library, linked into place only when complete (never over an
existing file), and the content key is stored last; any failure removes what this
call created.

Hashing: libtorrent 2.1.1's Python binding does not expose ``create_torrent.set_hash2``,
so hashes computed while encrypting cannot be handed to ``lt.create_torrent``. The
container's BEP 52 hashes are computed while it is written, in other threads
(`peernode.operations.hashed_container`), and the torrent is written from them by
`peernode.operations.torrent_v2`, byte for byte what ``lt.set_piece_hashes`` would
produce (tested), then loaded back through ``lt.torrent_info``. See docs/container.md
for the measured cost.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import libtorrent as lt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs import CertsError, validate_film_id
from certs.authority import save_content_key
from certs.authority.keystore import content_key_path
from certs.keywrap import CONTENT_KEY_BYTES
from peernode.container.header import (
    CONTAINER_SEGMENT_BYTES,
    NONCE_PREFIX_BYTES,
    ContainerHeader,
    validate_mime_type,
)
from peernode.errors import ContainerError, PeernodeError
from peernode.operations.hashed_container import write_hashed_container
from peernode.operations.merkle import V2FileHashes
from peernode.operations.torrent_v2 import v2_single_file_torrent
from support.atomic_write import fsync_directory

__all__ = [
    "MAX_PIECE_BYTES",
    "MIN_PIECE_BYTES",
    "TARGET_MAX_PIECES",
    "PackagedFilm",
    "PackagingError",
    "ProgressCallback",
    "choose_piece_bytes",
    "container_path_for",
    "guess_mime_type",
    "package_film",
    "torrent_path_for",
    "validate_tracker_url",
]

MIN_PIECE_BYTES = 64 * 1024  # one container segment; v2 itself needs >= 16 KiB
MAX_PIECE_BYTES = 16 * 1024 * 1024
TARGET_MAX_PIECES = 2000  # keeps the piece layer and the bitfield small
DEFAULT_MIME_TYPE = "application/octet-stream"

# on_progress(phase, done_bytes, total_bytes): phase "encrypt" counts plaintext
# bytes encrypted, phase "hash" container bytes hashed and written; both phases
# advance together (a batch is hashed just after it is encrypted), "encrypt" first.
ProgressCallback = Callable[[str, int, int], None]


class PackagingError(PeernodeError):
    """A film cannot be packaged: bad input, or it is already packaged."""


@dataclass(frozen=True)
class PackagedFilm:
    """What `package_film` produced (paths are absolute)."""

    film_id: str
    torrent_path: Path
    container_path: Path
    key_path: Path
    info_hash_v2_truncated: bytes  # SHA-256 info-hash cut to 20 bytes, as trackers see it
    info_hash_v2: bytes  # the full 32-byte SHA-256 info-hash
    piece_bytes: int
    header: ContainerHeader


def choose_piece_bytes(container_bytes: int, segment_bytes: int = CONTAINER_SEGMENT_BYTES) -> int:
    """Torrent piece size in bytes for a container of ``container_bytes`` bytes.

    The smallest power of two that is at least `MIN_PIECE_BYTES` and one segment
    (so pieces hold whole segments) giving at most `TARGET_MAX_PIECES` pieces,
    capped at `MAX_PIECE_BYTES` (huge films then get more pieces).
    """
    piece = max(MIN_PIECE_BYTES, segment_bytes)
    while piece < MAX_PIECE_BYTES and -(-container_bytes // piece) > TARGET_MAX_PIECES:
        piece *= 2
    return piece


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_tracker_url(url: str) -> str:
    """Return ``url`` if it is an https:// announce URL libtorrent will use, else raise.

    libtorrent's SSRF mitigation drops announces to local hosts whose path does not
    start with ``/announce``, and SSL torrents announce over HTTPS with the rental
    certificate, so both are required. The host is an IP address or a name with a dot:
    a single-label name could equal a film id, and every renter of that film holds a
    serverAuth certificate for it (see `certs.authority.ca`). Raises `PackagingError`.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise PackagingError(f"tracker URL {url!r} is malformed") from None
    problem = None
    if parts.scheme != "https":
        problem = "must start with https://"
    elif not parts.hostname or port == 0:
        problem = "needs a host (and a valid port)"
    elif not _is_ip(parts.hostname) and "." not in parts.hostname.strip("."):
        problem = "needs an IP address or a host name with a dot (single labels can be film ids)"
    elif not parts.path.startswith("/announce"):
        problem = "path must start with /announce"
    elif parts.fragment or any(c.isspace() for c in url):
        problem = "must not contain a fragment or whitespace"
    if problem:
        raise PackagingError(f"tracker URL {url!r} {problem}")
    return url


def guess_mime_type(film: Path) -> str:
    """The film's MIME type from its file name suffix, `application/octet-stream` if unknown."""
    guessed, _encoding = mimetypes.guess_type(film.name, strict=False)
    return guessed or DEFAULT_MIME_TYPE


def container_path_for(library: Path, film_id: str) -> Path:
    """Where a film's container lives: libtorrent's path of the torrent's single file."""
    return library / film_id


def torrent_path_for(library: Path, film_id: str) -> Path:
    """Where a film's torrent lives in the library."""
    return library / f"{film_id}.torrent"


def package_film(
    film: Path,
    *,
    film_id: str,
    ca_dir: Path,
    tracker_url: str,
    library: Path,
    mime_type: str | None = None,
    on_progress: ProgressCallback | None = None,
    rng_bytes: Callable[[int], bytes] = os.urandom,
    direct_io: bool = True,
) -> PackagedFilm:
    """Encrypt ``film`` into ``library``, make its torrent, store its content key in ``ca_dir``.

    ``rng_bytes(n)`` supplies the content key and the container's nonce prefix;
    ``on_progress`` see `ProgressCallback`; ``direct_io=False`` writes the container
    through the page cache even where ``O_DIRECT`` works (see `write_hashed_container`).
    The hashing uses one thread per CPU this process may run on. Raises
    `PackagingError` for a missing film, a bad film id, tracker URL or MIME type, a CA
    directory without ca.pem, or a film id already packaged; `OSError` for I/O
    failures. On any failure nothing this call created is left behind.
    """
    film = Path(film)
    library = Path(library).absolute()
    _check_film_id(film_id)
    validate_tracker_url(tracker_url)
    ca_pem = _load_ca_pem(Path(ca_dir))
    plaintext_bytes = _film_size(film)
    mime = _check_mime_type(mime_type or guess_mime_type(film))
    targets = _Targets(library, film_id, Path(ca_dir))
    targets.ensure_free()
    library.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix=f".package-{film_id}-", dir=library))
    try:
        key = rng_bytes(CONTENT_KEY_BYTES)
        header = ContainerHeader(
            film_id=film_id,
            plaintext_bytes=plaintext_bytes,
            segment_bytes=CONTAINER_SEGMENT_BYTES,
            nonce_prefix=rng_bytes(NONCE_PREFIX_BYTES),
            mime_type=mime,
        )
        piece_bytes = choose_piece_bytes(header.container_bytes())
        staged = work / film_id
        hashes = _encrypt_and_hash(film, staged, header, key, piece_bytes, direct_io, on_progress)
        torrent = v2_single_file_torrent(
            name=film_id,
            hashes=hashes,
            tracker_url=tracker_url,
            ssl_root_cert_pem=ca_pem,
            creator="peernode",
            creation_date=int(time.time()),
        )
        ti = lt.torrent_info(torrent)
        _check_layout(ti, library, targets.container)
        staged_torrent = work / targets.torrent.name
        _write_synced(staged_torrent, torrent)
        targets.place(staged, staged_torrent, key)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info_hash = ti.info_hashes().v2.to_bytes()
    return PackagedFilm(
        film_id=film_id,
        torrent_path=targets.torrent,
        container_path=targets.container,
        key_path=targets.key,
        info_hash_v2_truncated=info_hash[:20],
        info_hash_v2=info_hash,
        piece_bytes=piece_bytes,
        header=header,
    )


def _check_film_id(film_id: str) -> None:
    try:
        validate_film_id(film_id)
    except CertsError as e:
        raise PackagingError(str(e)) from None


def _check_mime_type(mime_type: str) -> str:
    try:
        return validate_mime_type(mime_type)
    except ContainerError as e:
        raise PackagingError(str(e)) from None


def _load_ca_pem(ca_dir: Path) -> str:
    ca_file = ca_dir / "ca.pem"
    if not ca_dir.is_dir():
        raise PackagingError(f"CA directory {ca_dir} does not exist (run: peernode ca init)")
    try:
        cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    except FileNotFoundError:
        raise PackagingError(f"CA directory {ca_dir} has no ca.pem") from None
    except (OSError, ValueError) as e:
        raise PackagingError(f"cannot load CA certificate {ca_file}: {e}") from None
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _film_size(film: Path) -> int:
    try:
        st = film.stat()
    except FileNotFoundError:
        raise PackagingError(f"film {film} does not exist") from None
    except OSError as e:
        raise PackagingError(f"film {film} cannot be read: {e.strerror}") from None
    if not film.is_file():
        raise PackagingError(f"film {film} is not a regular file")
    return st.st_size


class _Targets:
    """The three files a packaged film owns; placed together or not at all."""

    def __init__(self, library: Path, film_id: str, ca_dir: Path) -> None:
        self.film_id = film_id
        self.ca_dir = ca_dir
        self.container = container_path_for(library, film_id)
        self.torrent = torrent_path_for(library, film_id)
        self.key = content_key_path(ca_dir, film_id).absolute()

    def ensure_free(self) -> None:
        for path in (self.torrent, self.container, self.key):
            if os.path.lexists(path):
                raise PackagingError(f"film {self.film_id!r} is already packaged: {path} exists")
        keys_dir = self.key.parent
        writable = keys_dir if keys_dir.exists() else keys_dir.parent
        if not os.access(writable, os.W_OK | os.X_OK):
            raise PackagingError(f"cannot store the content key: {writable} is not writable")

    def place(self, staged_container: Path, staged_torrent: Path, key: bytes) -> None:
        """Store the key, then link the staged files into place (container before torrent:
        a seeder watching the library may pick the torrent up at once); undo on failure.

        Each step is durable (file and directory fsynced) before the next one starts, so
        after a power cut a published torrent always has its container and its key.
        """
        try:
            save_content_key(self.ca_dir, self.film_id, key)
        except CertsError as e:  # e.g. the same film packaged twice at once
            raise PackagingError(str(e)) from None
        placed: list[Path] = []
        try:
            pairs = ((staged_container, self.container), (staged_torrent, self.torrent))
            for staged, target in pairs:
                _link_no_clobber(staged, target, self.film_id)
                placed.append(target)
                fsync_directory(target.parent)
        except BaseException:
            for target in reversed(placed):
                target.unlink(missing_ok=True)
            self.key.unlink(missing_ok=True)  # ours: save_content_key never overwrites
            raise


def _link_no_clobber(staged: Path, target: Path, film_id: str) -> None:
    # A hard link is atomic and, unlike rename, fails if the target appeared
    # meanwhile (e.g. the same film packaged twice at once).
    try:
        os.link(staged, target)
    except FileExistsError:
        raise PackagingError(f"film {film_id!r} is already packaged: {target} exists") from None


def _encrypt_and_hash(
    film: Path,
    staged: Path,
    header: ContainerHeader,
    key: bytes,
    piece_bytes: int,
    direct_io: bool,
    on_progress: ProgressCallback | None,
) -> V2FileHashes:
    plaintext_bytes, container_bytes = header.plaintext_bytes, header.container_bytes()

    def encrypted(done: int) -> None:
        if on_progress is not None:
            on_progress("encrypt", done, plaintext_bytes)

    def hashed(done: int) -> None:
        if on_progress is not None:
            on_progress("hash", done, container_bytes)

    with film.open("rb", buffering=0) as src:
        if hasattr(os, "posix_fadvise"):  # read once, front to back: read ahead further
            os.posix_fadvise(src.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        return write_hashed_container(
            src,
            staged,
            header=header,
            key=key,
            piece_bytes=piece_bytes,
            direct_io=direct_io,
            on_encrypted=encrypted,
            on_hashed=hashed,
        )


def _check_layout(ti: lt.torrent_info, library: Path, container: Path) -> None:
    # The container must be exactly where libtorrent looks for the torrent's
    # file when seeding with save_path=library; otherwise it would re-download it.
    # (v2 adds a tail pad file up to the piece boundary; it is never on disk.)
    layout = ti.layout()
    real = [
        Path(layout.file_path(i, str(library)))
        for i in range(layout.num_files())
        if not layout.file_flags(i) & lt.file_storage.flag_pad_file
    ]
    if real != [container]:
        raise PackagingError(f"libtorrent expects the film's files at {real}, not {container}")


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
