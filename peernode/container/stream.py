"""Encrypted film container: segmented AES-256-GCM in the STREAM construction.

The film is cut into fixed-size segments, each sealed with AES-256-GCM under a key
derived from the film's content key (as in Tink's streaming AEAD and age):

* nonce = 7-byte random prefix | 4-byte big-endian segment counter | last-segment flag,
  so reordering, dropping or duplicating segments, and truncation at a segment
  boundary, fail authentication;
* associated data = SHA-256 of the authenticated header (film id, length, segment
  size, nonce prefix, MIME type), so a segment only decrypts inside its own film;
* the header carries an HMAC under the content key, so a wrong key, a wrong film
  or a tampered header is refused when the container is opened.

Pure module: it reads and writes only the file objects and paths it is given.
Layout and header format: `peernode.container.header` and docs/container.md.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from peernode.container.header import (
    CONTAINER_SEGMENT_BYTES,
    HEADER_MAX_BYTES,
    NONCE_PREFIX_BYTES,
    SEGMENT_TAG_BYTES,
    ContainerHeader,
    decode_header,
    parse_header,
    parse_header_and_tag,
)
from peernode.errors import ContainerError

__all__ = [
    "CONTAINER_SEGMENT_BYTES",
    "ContainerHeader",
    "ContainerReader",
    "SegmentSealer",
    "decrypt_file",
    "decrypt_segment",
    "encrypt_file",
    "open_container",
    "parse_header",
]

KEY_BYTES = 32
# Segments are processed in batches of about this many bytes: large enough that
# per-call overhead vanishes, small enough to keep memory constant and cache-warm.
_BATCH_BYTES = 1 << 20
_KDF_INFO = b"peernode container v1: header mac key | segment key"
_COUNTER_AND_FLAG = struct.Struct(">IB")


class _ContainerKeys:
    """The two keys derived from a content key: header MAC and segment AEAD."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ContainerError(f"content key must be {KEY_BYTES} bytes")
        # Separate keys for the HMAC and for AES-GCM: one key, one purpose.
        okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_KDF_INFO).derive(key)
        self.mac_key = okm[:32]
        self.aead = AESGCM(okm[32:])

    def _header_mac(self, header: ContainerHeader) -> hmac.HMAC:
        mac = hmac.HMAC(self.mac_key, hashes.SHA256())
        mac.update(header.authenticated_bytes)
        return mac

    def header_tag(self, header: ContainerHeader) -> bytes:
        return self._header_mac(header).finalize()

    def verify_header_tag(self, header: ContainerHeader, tag: bytes) -> None:
        try:
            self._header_mac(header).verify(tag)
        except InvalidSignature:
            raise ContainerError(
                "container header does not authenticate: wrong content key or tampered header"
            ) from None


def _nonce(header: ContainerHeader, index: int) -> bytes:
    return header.nonce_prefix + _COUNTER_AND_FLAG.pack(index, header.is_last_segment(index))


def _header_segment(header: ContainerHeader, keys: _ContainerKeys) -> bytes:
    """The first segment of a container: header, its tag, zero padding (``segment_bytes``)."""
    data = header.authenticated_bytes + keys.header_tag(header)
    return data + bytes(header.segment_bytes - len(data))


class SegmentSealer:
    """Seals the segments of one container into buffers the caller owns (no I/O).

    `encrypt_file` streams a container with it; a caller that also hashes or writes
    the ciphertext in other threads drives it batch by batch. The container file is
    the header segment followed by the sealed segments, each ``segment_bytes`` long
    but the last: file segment 0 is the header, file segment ``i + 1`` ciphertext
    segment ``i``. Raises `ContainerError` for a key that is not 32 bytes.
    """

    def __init__(self, header: ContainerHeader, key: bytes) -> None:
        self.header = header
        self._keys = _ContainerKeys(key)

    def header_segment(self) -> bytes:
        """File segment 0: header, its tag and zero padding (``segment_bytes``)."""
        return _header_segment(self.header, self._keys)

    def seal(self, first: int, plaintext: memoryview, out: memoryview) -> int:
        """Seal ciphertext segments ``first, first + 1, ...`` holding ``plaintext`` into ``out``.

        ``plaintext`` is exactly the plaintext of those segments (whole segments but the
        film's last); ``out`` has room for them. Returns the ciphertext bytes written.
        """
        header = self.header
        seg_plain = header.plaintext_segment_bytes
        aead, aad = self._keys.aead, header.digest
        written = 0
        index = first
        for offset in range(0, max(1, plaintext.nbytes), seg_plain):
            plain = plaintext[offset : offset + seg_plain]
            sealed = out[written : written + plain.nbytes + SEGMENT_TAG_BYTES]
            aead.encrypt_into(_nonce(header, index), plain, aad, sealed)
            written += sealed.nbytes
            index += 1
        return written


def encrypt_file(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    key: bytes,
    film_id: str,
    mime_type: str,
    plaintext_bytes: int,
    segment_bytes: int = CONTAINER_SEGMENT_BYTES,
    rng_bytes: Callable[[int], bytes] = os.urandom,
    on_progress: Callable[[int], None] | None = None,
) -> ContainerHeader:
    """Encrypt exactly ``plaintext_bytes`` bytes from ``src`` into a container on ``dst``.

    Streams in batches of about 1 MiB (constant memory); ``dst`` is a buffered binary
    file (or `io.BytesIO`), whose ``write`` takes all bytes. ``key`` is the 32-byte
    content key; ``rng_bytes(n)`` supplies the random nonce prefix;
    ``on_progress(done)`` is called with the plaintext bytes encrypted so far.
    Returns the header written. Raises `ContainerError` on invalid parameters or if
    ``src`` holds fewer or more than ``plaintext_bytes`` bytes; I/O errors propagate.
    """
    header = ContainerHeader(
        film_id=film_id,
        plaintext_bytes=plaintext_bytes,
        segment_bytes=segment_bytes,
        nonce_prefix=rng_bytes(NONCE_PREFIX_BYTES),
        mime_type=mime_type,
    )
    sealer = SegmentSealer(header, key)
    dst.write(sealer.header_segment())
    seg_plain = header.plaintext_segment_bytes
    batch = max(1, _BATCH_BYTES // segment_bytes)
    out = memoryview(bytearray(batch * segment_bytes))
    count = header.segment_count()
    for first in range(0, count, batch):
        stop = min(count, first + batch)
        start_byte = first * seg_plain
        want = min(plaintext_bytes, stop * seg_plain) - start_byte
        chunk = memoryview(_read_exactly(src, want, start_byte, plaintext_bytes))
        written = sealer.seal(first, chunk, out)
        dst.write(out[:written])
        if on_progress is not None:
            on_progress(start_byte + want)
    if src.read(1):
        raise ContainerError(f"source holds more than the declared {plaintext_bytes} bytes")
    return header


def _read_exactly(src: BinaryIO, n: int, done: int, total: int) -> bytes:
    data = src.read(n)
    while len(data) < n:  # short reads happen on pipes; files return all at once
        more = src.read(n - len(data))
        if not more:
            raise ContainerError(f"source ended after {done + len(data)} of {total} bytes")
        data += more
    return data


def decrypt_segment(header: ContainerHeader, key: bytes, index: int, ciphertext: bytes) -> bytes:
    """Decrypt and authenticate ciphertext segment ``index``; returns its plaintext.

    Raises `ContainerError` if the segment is missing, short, out of place (its
    index or final flag differ), from another film, or fails authentication.
    For many segments, `ContainerReader` avoids re-deriving the key each time.
    """
    return _decrypt(header, _ContainerKeys(key).aead, index, ciphertext)


def _decrypt(
    header: ContainerHeader, aead: AESGCM, index: int, ciphertext: bytes | memoryview
) -> bytes:
    expected = header.segment_ciphertext_bytes(index)
    if len(ciphertext) != expected:  # memoryview of bytes: len is the byte count
        raise ContainerError(
            f"segment {index} has {len(ciphertext)} bytes, expected {expected}"
            " (truncated container)"
        )
    try:
        return aead.decrypt(_nonce(header, index), ciphertext, header.digest)
    except InvalidTag:
        raise ContainerError(
            f"segment {index} does not authenticate (tampered, reordered or truncated)"
        ) from None


class ContainerReader:
    """Random access to the plaintext of a container through ``read_at(offset, length)``.

    ``read_at`` returns up to ``length`` bytes at file ``offset`` (fewer only at the
    end of the data). The header is parsed and authenticated on construction:
    `ContainerError` for garbage, a wrong key, a tampered header, or a container of
    a film other than ``film_id``.
    """

    def __init__(self, read_at: Callable[[int, int], bytes], key: bytes, *, film_id: str) -> None:
        self._read_at = read_at
        keys = _ContainerKeys(key)
        # The first bytes say how long the header segment is; then parse all of it.
        peeked, _tag = decode_header(read_at(0, HEADER_MAX_BYTES))
        header, tag = parse_header_and_tag(read_at(0, peeked.segment_bytes))
        keys.verify_header_tag(header, tag)
        if header.film_id != film_id:
            raise ContainerError(f"container holds film {header.film_id!r}, not {film_id!r}")
        self.header = header
        self._aead = keys.aead

    def read(self, start: int, length: int) -> bytes:
        """Plaintext bytes ``[start, start + length)``, clamped to the film's end like a slice.

        Decrypts exactly the segments covering the range; `ContainerError` if any of
        them is missing or does not authenticate, or the range is malformed.
        """
        return b"".join(self.iter_range(start, start + length))

    def iter_range(self, start: int, end_exclusive: int) -> Iterator[bytes]:
        """Yield the plaintext of ``[start, end_exclusive)`` segment by segment (constant memory).

        Clamped to the film's end like a slice; raises `ContainerError` as `read` does.
        """
        start, end = self.header.clamp_range(start, end_exclusive)
        return self._iter_segments(self.header.segments_for_range(start, end), start, end)

    def iter_all(self) -> Iterator[bytes]:
        """Yield the whole plaintext, authenticating every segment.

        Unlike ``iter_range(0, size)`` this also checks the lone empty final segment
        of an empty film. Raises `ContainerError` as `read` does.
        """
        header = self.header
        return self._iter_segments(range(header.segment_count()), 0, header.plaintext_bytes)

    def _iter_segments(self, segments: range, start: int, end: int) -> Iterator[bytes]:
        header = self.header
        seg_plain = header.plaintext_segment_bytes
        batch = max(1, _BATCH_BYTES // header.segment_bytes)
        for first in range(segments.start, segments.stop, batch):
            stop = min(segments.stop, first + batch)
            offset = header.segment_offset(first)
            length = header.segment_offset(stop - 1) + header.segment_ciphertext_bytes(stop - 1)
            data = memoryview(self._read_at(offset, length - offset))
            for index in range(first, stop):
                rel = header.segment_offset(index) - offset
                sealed = data[rel : rel + header.segment_ciphertext_bytes(index)]
                plain = _decrypt(header, self._aead, index, sealed)
                base = index * seg_plain
                if start > base or end < base + len(plain):
                    plain = plain[max(0, start - base) : end - base]
                yield plain


def open_container(path: str | os.PathLike[str], key: bytes, *, film_id: str) -> ContainerReader:
    """A `ContainerReader` over the container file at ``path``.

    The file is opened per read, so the reader holds no file descriptor and sees
    bytes that arrive later (a download in progress). Raises `ContainerError` as
    `ContainerReader` does; `OSError` if the file cannot be opened.
    """
    file_path = Path(path)
    fd = os.open(file_path, os.O_RDONLY)  # fail early, with the path, if it cannot be read
    os.close(fd)

    def read_at(offset: int, length: int) -> bytes:
        fd = os.open(file_path, os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    return ContainerReader(read_at, key, film_id=film_id)


def decrypt_file(path: str | os.PathLike[str], key: bytes, film_id: str, dst: BinaryIO) -> None:
    """Decrypt the whole container at ``path`` into ``dst``, checking every segment.

    Raises `ContainerError` on a wrong key or film, truncation, reordering or tampering
    (``dst`` may then hold a prefix of the plaintext: write to a temporary file).
    """
    reader = open_container(path, key, film_id=film_id)
    for plain in reader.iter_all():
        dst.write(plain)
    _ensure_no_trailing_data(path, reader.header)


def _ensure_no_trailing_data(path: str | os.PathLike[str], header: ContainerHeader) -> None:
    size = os.stat(path).st_size
    if size != header.container_bytes():
        raise ContainerError(
            f"container is {size} bytes, header declares {header.container_bytes()}"
        )
