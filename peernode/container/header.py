"""The encrypted film container's header and its layout arithmetic (pure, no I/O).

A container is a run of equal-sized ciphertext segments preceded by one segment
holding the header, so that ciphertext segment ``i`` starts at file offset
``(i + 1) * segment_bytes`` and any plaintext byte range maps to segments by
arithmetic. The header segment is::

    MAGIC (8) | version (1) | body length (4, big-endian) | msgpack body | tag (32) | zeros

The body is a msgpack map of the `ContainerHeader` fields. The tag (an HMAC
under the content key, computed in `peernode.container.stream`) authenticates the
magic, version and body; the SHA-256 of those same bytes is the AEAD associated
data of every segment, so each segment is bound to the film id, the length, the
segment size, the nonce prefix and the MIME type. See docs/container.md.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgpack

from peernode.errors import ContainerError

__all__ = [
    "CONTAINER_SEGMENT_BYTES",
    "CONTAINER_VERSION",
    "HEADER_MAX_BYTES",
    "HEADER_TAG_BYTES",
    "MAX_SEGMENT_BYTES",
    "MIN_SEGMENT_BYTES",
    "NONCE_PREFIX_BYTES",
    "SEGMENT_TAG_BYTES",
    "ContainerHeader",
    "decode_header",
    "parse_header",
    "parse_header_and_tag",
    "validate_mime_type",
]

CONTAINER_VERSION = 1
CONTAINER_SEGMENT_BYTES = 65536
MIN_SEGMENT_BYTES = 1024
MAX_SEGMENT_BYTES = 16 * 1024 * 1024
SEGMENT_TAG_BYTES = 16  # AES-GCM tag appended to every segment
HEADER_TAG_BYTES = 32  # HMAC-SHA256 over the authenticated header bytes
NONCE_PREFIX_BYTES = 7  # nonce = prefix (7) | counter (4) | last-segment flag (1)
# Everything up to and including the tag fits in the smallest segment, so a
# reader can always find the segment size in the first HEADER_MAX_BYTES.
HEADER_MAX_BYTES = MIN_SEGMENT_BYTES

# PNG-style magic: a high byte and CR LF / ^Z / LF catch text-mode mangling early.
_MAGIC = b"\x89PVC\r\n\x1a\n"
_PREFIX = struct.Struct(">8sBI")
_MAX_SEGMENTS = 2**32  # the nonce's segment counter is 4 bytes
_MAX_FILM_ID_BYTES = 255
_MAX_MIME_BYTES = 127  # RFC 6838 caps type and subtype names at 127 characters
_FIELDS = ("film_id", "plaintext_bytes", "segment_bytes", "nonce_prefix", "mime_type")


@dataclass(frozen=True)
class ContainerHeader:
    """What a container declares about itself; every field is authenticated.

    ``plaintext_bytes`` and ``segment_bytes`` are byte counts; ``segment_bytes``
    is the size of one *ciphertext* segment (plaintext + 16-byte tag). Invalid
    field values raise `ContainerError`.
    """

    film_id: str
    plaintext_bytes: int
    segment_bytes: int
    nonce_prefix: bytes
    mime_type: str
    version: int = CONTAINER_VERSION

    def __post_init__(self) -> None:
        _check_header_fields(self)

    @property
    def plaintext_segment_bytes(self) -> int:
        """Plaintext bytes carried by every segment but (possibly) the last."""
        return self.segment_bytes - SEGMENT_TAG_BYTES

    def segment_count(self) -> int:
        """Number of ciphertext segments; an empty film still has one (empty, final) segment."""
        return max(1, -(-self.plaintext_bytes // self.plaintext_segment_bytes))

    def container_bytes(self) -> int:
        """Total size of the container file in bytes (header segment included)."""
        count = self.segment_count()
        last_plain = self.plaintext_bytes - (count - 1) * self.plaintext_segment_bytes
        return count * self.segment_bytes + last_plain + SEGMENT_TAG_BYTES

    def segment_offset(self, index: int) -> int:
        """File offset in bytes of ciphertext segment ``index`` (`ContainerError` if none)."""
        self._check_index(index)
        return (index + 1) * self.segment_bytes

    def segment_ciphertext_bytes(self, index: int) -> int:
        """Length in bytes of ciphertext segment ``index`` (the last one may be short)."""
        return self.segment_plaintext_bytes(index) + SEGMENT_TAG_BYTES

    def segment_plaintext_bytes(self, index: int) -> int:
        """Plaintext bytes carried by segment ``index``."""
        self._check_index(index)
        start = index * self.plaintext_segment_bytes
        return min(self.plaintext_segment_bytes, self.plaintext_bytes - start)

    def segments_for_range(self, start: int, end_exclusive: int) -> range:
        """Indices of the segments covering plaintext bytes ``[start, end_exclusive)``.

        The range is clamped to the plaintext like a slice; an empty range gives an
        empty `range`. A negative start or an end before the start raise `ContainerError`.
        """
        start, end = self.clamp_range(start, end_exclusive)
        if start == end:
            return range(0)
        seg = self.plaintext_segment_bytes
        return range(start // seg, (end - 1) // seg + 1)

    def clamp_range(self, start: int, end_exclusive: int) -> tuple[int, int]:
        """``[start, end_exclusive)`` clamped to the plaintext; `ContainerError` if malformed."""
        if start < 0 or end_exclusive < start:
            raise ContainerError(f"invalid plaintext range [{start}, {end_exclusive})")
        return min(start, self.plaintext_bytes), min(end_exclusive, self.plaintext_bytes)

    def is_last_segment(self, index: int) -> bool:
        """True for the final segment, whose nonce carries the last-segment flag."""
        return index == self.segment_count() - 1

    @cached_property
    def authenticated_bytes(self) -> bytes:
        """The canonical magic + version + length + msgpack body that the tag covers."""
        body: bytes = msgpack.packb(
            {name: getattr(self, name) for name in _FIELDS}, use_bin_type=True
        )
        return _PREFIX.pack(_MAGIC, self.version, len(body)) + body

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of `authenticated_bytes`: the associated data of every segment."""
        return hashlib.sha256(self.authenticated_bytes).digest()

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.segment_count():
            raise ContainerError(
                f"segment {index} out of range (container has {self.segment_count()})"
            )


def _check_header_fields(h: ContainerHeader) -> None:
    if h.version != CONTAINER_VERSION:
        raise ContainerError(f"unsupported container version {h.version}")
    if not isinstance(h.film_id, str) or not 0 < len(h.film_id.encode()) <= _MAX_FILM_ID_BYTES:
        raise ContainerError(f"film id must be 1-{_MAX_FILM_ID_BYTES} bytes of text")
    validate_mime_type(h.mime_type)
    if not isinstance(h.nonce_prefix, bytes) or len(h.nonce_prefix) != NONCE_PREFIX_BYTES:
        raise ContainerError(f"nonce prefix must be {NONCE_PREFIX_BYTES} bytes")
    seg = h.segment_bytes
    if not _is_int(seg) or not MIN_SEGMENT_BYTES <= seg <= MAX_SEGMENT_BYTES or seg & (seg - 1):
        raise ContainerError(
            f"segment size must be a power of two from {MIN_SEGMENT_BYTES}"
            f" to {MAX_SEGMENT_BYTES} bytes, got {seg!r}"
        )
    max_plain = _MAX_SEGMENTS * (seg - SEGMENT_TAG_BYTES)
    if not _is_int(h.plaintext_bytes) or not 0 <= h.plaintext_bytes <= max_plain:
        raise ContainerError(f"plaintext length {h.plaintext_bytes!r} out of range")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_mime_type(value: str) -> str:
    """Return ``value`` if a container can record it as MIME type, else raise `ContainerError`.

    Accepted: printable ASCII ``type/subtype`` (parameters allowed, no spaces), at most
    127 characters.
    """
    if not isinstance(value, str) or not _is_mime_type(value):
        raise ContainerError(f"invalid MIME type {value!r} (expected type/subtype)")
    return value


def _is_mime_type(value: str) -> bool:
    kind, slash, sub = value.partition("/")
    return (
        bool(slash and kind and sub)
        and len(value) <= _MAX_MIME_BYTES
        and value.isascii()
        and value.isprintable()
        and " " not in value
        and "/" not in sub
    )


def decode_header(data: bytes) -> tuple[ContainerHeader, bytes]:
    """Decode the header at the start of ``data`` without checking the padding.

    Returns the header and its tag. ``data`` needs only the first
    `HEADER_MAX_BYTES` bytes (or fewer if the header is shorter). The tag is *not*
    verified here (that needs the key). Raises `ContainerError` on anything but a
    well-formed, canonical header of a known version.
    """
    if len(data) < _PREFIX.size:
        raise ContainerError("not a peernode container (too short for a header)")
    magic, version, body_len = _PREFIX.unpack_from(data)
    if magic != _MAGIC:
        raise ContainerError("not a peernode container (bad magic)")
    if version != CONTAINER_VERSION:
        raise ContainerError(f"unsupported container version {version}")
    end = _PREFIX.size + body_len
    if end + HEADER_TAG_BYTES > HEADER_MAX_BYTES:
        raise ContainerError(f"container header body of {body_len} bytes is too long")
    if len(data) < end + HEADER_TAG_BYTES:
        raise ContainerError("container header is truncated")
    fields = _unpack_body(bytes(data[_PREFIX.size : end]))
    header = ContainerHeader(**fields)
    # Only the canonical encoding is accepted, so the associated data recomputed
    # from the fields (`digest`) is exactly what the writer authenticated.
    if header.authenticated_bytes != data[:end]:
        raise ContainerError("container header is not canonically encoded")
    return header, bytes(data[end : end + HEADER_TAG_BYTES])


def parse_header(data: bytes) -> ContainerHeader:
    """Parse a container header from at least its first ``segment_bytes`` bytes.

    Checks the magic, version, fields and that the padding up to the first segment
    is all zeros; the tag is verified by `ContainerReader` (it needs the key).
    Raises `ContainerError` on garbage, truncation or an unknown version.
    """
    return parse_header_and_tag(data)[0]


def parse_header_and_tag(data: bytes) -> tuple[ContainerHeader, bytes]:
    """`parse_header`, also returning the header's (unverified) 32-byte tag."""
    header, tag = decode_header(data)
    if len(data) < header.segment_bytes:
        raise ContainerError(
            f"container header segment is truncated ({len(data)} of {header.segment_bytes} bytes)"
        )
    tag_end = len(header.authenticated_bytes) + HEADER_TAG_BYTES
    padding = bytes(data[tag_end : header.segment_bytes])
    if padding.count(0) != len(padding):
        raise ContainerError("container header padding is not zero (tampered)")
    return header, tag


def _unpack_body(body: bytes) -> dict[str, Any]:
    try:
        fields = msgpack.unpackb(
            body, raw=False, strict_map_key=True, max_bin_len=64, max_str_len=1024
        )
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise ContainerError(f"container header is malformed: {type(e).__name__}") from None
    if not isinstance(fields, dict) or set(fields) != set(_FIELDS):
        raise ContainerError("container header has missing or unknown fields")
    return fields
