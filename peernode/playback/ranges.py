"""Byte ranges of a film's plaintext (HTTP ``Range``) and where they live in the torrent.

Pure: no I/O. Two steps, both arithmetic:

* `parse_range` reads an RFC 9110 ``Range`` header against the film's plaintext
  length: a `ByteRange` to answer with 206, `UNSATISFIABLE` for 416, or ``None``
  to answer with the whole film (200);
* `FilmLayout` maps plaintext bytes to container segments (the container's fixed
  segment size makes this arithmetic) and segments to torrent pieces (the
  container is the torrent's only file, so file offset = torrent offset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from peernode.container.header import ContainerHeader
from peernode.errors import PeernodeError

__all__ = [
    "UNSATISFIABLE",
    "ByteRange",
    "FilmLayout",
    "Unsatisfiable",
    "parse_range",
    "pieces_for_span",
]

# RFC 9110 14.1.2: first-pos "-" [last-pos], or "-" suffix-length; digits only
# (Python's int() would also take "+5", "5_0" and surrounding spaces). At most 19 digits
# (any 63-bit length): more is no real film, and int() of 4,301 digits raises ValueError.
MAX_POSITION_DIGITS = 19
_RANGE_SPEC = re.compile(
    rf"([0-9]{{1,{MAX_POSITION_DIGITS}}})-([0-9]{{0,{MAX_POSITION_DIGITS}}})"
    rf"|-([0-9]{{1,{MAX_POSITION_DIGITS}}})"
)


@dataclass(frozen=True)
class ByteRange:
    """Plaintext bytes ``start`` to ``end`` *inclusive*, as HTTP counts them."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise PeernodeError(f"invalid byte range {self.start}-{self.end}")

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1

    @property
    def stop(self) -> int:
        """One past the last byte (Python slice end)."""
        return self.end + 1

    def content_range(self, total: int) -> str:
        """The ``Content-Range`` value of a 206 answering with this range."""
        return f"bytes {self.start}-{self.end}/{total}"


@dataclass(frozen=True)
class Unsatisfiable:
    """No requested range overlaps the film: answer 416."""

    @staticmethod
    def content_range(total: int) -> str:
        """The ``Content-Range`` value of a 416 (RFC 9110 14.4)."""
        return f"bytes */{total}"


UNSATISFIABLE: Final = Unsatisfiable()


def parse_range(value: str | None, length: int) -> ByteRange | Unsatisfiable | None:
    """Resolve a ``Range`` header value against a representation of ``length`` bytes.

    Returns the single `ByteRange` to send (206), `UNSATISFIABLE` when no range
    overlaps the representation (416), or ``None`` to send the whole
    representation (200). ``None`` is also the answer, as RFC 9110 14.2 allows,
    for a header that is absent, malformed, in another unit, or that asks for
    several ranges at once (players ask for one; multipart answers are not worth
    their complexity here). A zero-length representation satisfies no range.
    Never raises for any header text.
    """
    if value is None:
        return None
    unit, eq, range_set = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    resolved: list[ByteRange] = []
    specs = [spec.strip(" \t") for spec in range_set.split(",")]
    # RFC 9110 list syntax (5.6.1): empty elements are allowed, but not only empty ones.
    specs = [spec for spec in specs if spec]
    if not specs:
        return None
    for spec in specs:
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last, suffix = match.groups()
        one = _resolve(first, last, suffix, length)
        if one is not None:
            resolved.append(one)
    if not resolved:
        return UNSATISFIABLE
    if len(resolved) > 1:
        return None
    return resolved[0]


def _resolve(
    first: str | None, last: str | None, suffix: str | None, length: int
) -> ByteRange | None:
    """One range-spec clamped to the representation, or None if it is unsatisfiable."""
    if length <= 0:
        return None
    if suffix is not None:
        count = int(suffix)
        if count == 0:
            return None
        return ByteRange(max(0, length - count), length - 1)
    assert first is not None  # the regex matched the int-range alternative
    start = int(first)
    if start >= length:
        return None
    end = length - 1 if not last else int(last)
    if end < start:  # an invalid range-spec (14.1.1) satisfies nothing
        return None
    return ByteRange(start, min(end, length - 1))


def pieces_for_span(offset: int, length: int, piece_bytes: int) -> range:
    """Torrent pieces holding file bytes ``[offset, offset + length)`` (empty if length is 0).

    Raises `PeernodeError` for a negative offset or length or a non-positive piece size.
    """
    if offset < 0 or length < 0 or piece_bytes <= 0:
        raise PeernodeError(f"invalid span {offset}+{length} with pieces of {piece_bytes} bytes")
    if length == 0:
        return range(0)
    return range(offset // piece_bytes, (offset + length - 1) // piece_bytes + 1)


@dataclass(frozen=True)
class FilmLayout:
    """A container's segments laid over a torrent's pieces of ``piece_bytes`` bytes."""

    header: ContainerHeader
    piece_bytes: int

    def __post_init__(self) -> None:
        if self.piece_bytes <= 0:
            raise PeernodeError(f"piece size must be positive, got {self.piece_bytes}")

    @property
    def plaintext_bytes(self) -> int:
        """Length of the film's plaintext in bytes (what HTTP serves)."""
        return self.header.plaintext_bytes

    def header_pieces(self) -> range:
        """The pieces holding the container's header segment."""
        return pieces_for_span(0, self.header.segment_bytes, self.piece_bytes)

    def segment_of(self, plaintext_offset: int) -> int:
        """Index of the segment holding plaintext byte ``plaintext_offset``."""
        return plaintext_offset // self.header.plaintext_segment_bytes

    def segment_span(self, index: int) -> tuple[int, int]:
        """Plaintext bytes ``[start, stop)`` carried by segment ``index``."""
        start = index * self.header.plaintext_segment_bytes
        return start, start + self.header.segment_plaintext_bytes(index)

    def segments_for(self, start: int, stop: int) -> range:
        """Segments covering plaintext bytes ``[start, stop)``, clamped to the film."""
        return self.header.segments_for_range(start, stop)

    def pieces_for_segments(self, segments: range) -> range:
        """Pieces holding the ciphertext of the consecutive ``segments`` (empty if none)."""
        if not segments:
            return range(0)
        first, last = segments[0], segments[-1]
        offset = self.header.segment_offset(first)
        stop = self.header.segment_offset(last) + self.header.segment_ciphertext_bytes(last)
        return pieces_for_span(offset, stop - offset, self.piece_bytes)

    def pieces_for(self, start: int, stop: int) -> range:
        """Pieces a reader of plaintext bytes ``[start, stop)`` needs."""
        return self.pieces_for_segments(self.segments_for(start, stop))
