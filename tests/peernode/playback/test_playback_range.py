"""RFC 9110 Range parsing and the plaintext -> segment -> piece arithmetic (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peernode.container.header import SEGMENT_TAG_BYTES, ContainerHeader
from peernode.errors import PeernodeError
from peernode.playback.ranges import (
    UNSATISFIABLE,
    ByteRange,
    FilmLayout,
    parse_range,
    pieces_for_span,
)

LENGTH = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=0-499", ByteRange(0, 499)),
        ("bytes=999-999", ByteRange(999, 999)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=-1", ByteRange(999, 999)),
        ("bytes=-300", ByteRange(700, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # suffix longer than the film: all of it
        ("bytes=900-5000", ByteRange(900, 999)),  # last-pos past the end is clamped
        ("BYTES=1-2", ByteRange(1, 2)),  # the unit is case-insensitive
        ("bytes= 1-2 ", ByteRange(1, 2)),  # OWS around list elements
        ("bytes=1-2,", ByteRange(1, 2)),  # empty list elements are allowed
        ("bytes=1000-", UNSATISFIABLE),
        ("bytes=1000-2000", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=5-2", UNSATISFIABLE),  # invalid range-spec satisfies nothing
        ("bytes=1000-,2000-", UNSATISFIABLE),
        ("bytes=0-1,5-6", None),  # several ranges: whole film (RFC 9110 allows ignoring)
        ("bytes=0-1,2000-", ByteRange(0, 1)),  # only one satisfiable
        ("items=0-1", None),  # unknown unit: ignored
        ("bytes=", None),
        ("bytes=,", None),
        ("bytes=abc", None),
        ("bytes=+1-2", None),  # int() would accept these; the grammar does not
        ("bytes=1_0-20", None),
        ("bytes=1 -2", None),
        ("bytes 0-1", None),
        ("bytes=--1", None),
    ],
)
def test_parse_range_follows_rfc_9110(
    header: str | None, expected: ByteRange | object | None
) -> None:
    assert parse_range(header, LENGTH) == expected


def test_an_empty_film_satisfies_no_range() -> None:
    assert parse_range("bytes=0-", 0) is UNSATISFIABLE
    assert parse_range("bytes=-5", 0) is UNSATISFIABLE
    assert parse_range(None, 0) is None


def test_content_range_values() -> None:
    assert ByteRange(0, 99).content_range(1000) == "bytes 0-99/1000"
    assert ByteRange(0, 99).length == 100
    assert UNSATISFIABLE.content_range(1000) == "bytes */1000"


def test_byte_range_rejects_end_before_start() -> None:
    with pytest.raises(PeernodeError):
        ByteRange(5, 4)


@given(length=st.integers(1, 5000), first=st.integers(0, 6000), last=st.integers(0, 6000))
def test_int_range_is_the_slice_it_names(length: int, first: int, last: int) -> None:
    data = bytes(range(256)) * 24
    answer = parse_range(f"bytes={first}-{last}", length)
    if first >= length or last < first:
        assert answer is UNSATISFIABLE
    else:
        assert isinstance(answer, ByteRange)
        assert data[:length][answer.start : answer.stop] == data[:length][first : last + 1]


@given(length=st.integers(1, 5000), count=st.integers(1, 6000), first=st.integers(0, 6000))
def test_suffix_and_open_ranges_are_the_slices_they_name(
    length: int, count: int, first: int
) -> None:
    data = bytes(range(256)) * 24
    film = data[:length]
    suffix = parse_range(f"bytes=-{count}", length)
    assert isinstance(suffix, ByteRange)
    assert film[suffix.start : suffix.stop] == film[-count:]
    opened = parse_range(f"bytes={first}-", length)
    if first >= length:
        assert opened is UNSATISFIABLE
    else:
        assert isinstance(opened, ByteRange)
        assert film[opened.start : opened.stop] == film[first:]


@given(st.text(max_size=60))
def test_any_header_text_is_answered_without_raising(header: str) -> None:
    answer = parse_range(header, LENGTH)
    assert answer is None or answer is UNSATISFIABLE or isinstance(answer, ByteRange)


def test_pieces_for_span() -> None:
    assert pieces_for_span(0, 0, 16) == range(0)
    assert pieces_for_span(0, 1, 16) == range(0, 1)
    assert pieces_for_span(15, 2, 16) == range(0, 2)
    assert pieces_for_span(16, 16, 16) == range(1, 2)
    with pytest.raises(PeernodeError):
        pieces_for_span(-1, 5, 16)


def _layout(plaintext_bytes: int, segment_bytes: int, piece_bytes: int) -> FilmLayout:
    header = ContainerHeader(
        film_id="film", plaintext_bytes=plaintext_bytes, segment_bytes=segment_bytes,
        nonce_prefix=bytes(7), mime_type="video/mp4",
    )
    return FilmLayout(header, piece_bytes)


@given(
    plaintext_bytes=st.integers(1, 40_000),
    segment_log2=st.integers(10, 12),
    piece_log2=st.integers(9, 14),
    data=st.data(),
)
def test_pieces_for_a_plaintext_range_match_a_byte_by_byte_walk(
    plaintext_bytes: int, segment_log2: int, piece_log2: int, data: st.DataObject
) -> None:
    layout = _layout(plaintext_bytes, 1 << segment_log2, 1 << piece_log2)
    start = data.draw(st.integers(0, plaintext_bytes - 1))
    stop = data.draw(st.integers(start + 1, plaintext_bytes))
    seg_plain = (1 << segment_log2) - SEGMENT_TAG_BYTES
    expected: set[int] = set()
    for segment in {offset // seg_plain for offset in range(start, stop)}:
        file_start = (segment + 1) * (1 << segment_log2)  # the header segment comes first
        size = min(seg_plain, plaintext_bytes - segment * seg_plain) + SEGMENT_TAG_BYTES
        expected |= {b >> piece_log2 for b in range(file_start, file_start + size)}
    pieces = layout.pieces_for(start, stop)
    assert set(pieces) == expected
    segments = range(start // seg_plain, (stop - 1) // seg_plain + 1)
    assert layout.segments_for(start, stop) == segments


def test_header_pieces_and_segment_spans() -> None:
    layout = _layout(10_000, 1024, 512)
    assert layout.header_pieces() == range(0, 2)
    assert layout.segment_span(0) == (0, 1008)
    assert layout.segment_span(9) == (9072, 10_000)  # the last segment is short
    assert layout.segment_of(1008) == 1
    assert layout.pieces_for(0, 0) == range(0)
