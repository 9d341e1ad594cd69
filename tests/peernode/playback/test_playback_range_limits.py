"""Numbers in a Range header are bounded: a huge one is an invalid header, never an error."""

from __future__ import annotations

import pytest

from peernode.playback.ranges import MAX_POSITION_DIGITS, ByteRange, parse_range

HUGE = "9" * 5000  # int() of more than 4,300 digits raises ValueError in Python 3.11


@pytest.mark.parametrize(
    "header", [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}", f"bytes=0-1,{HUGE}-"]
)
def test_a_range_with_thousands_of_digits_is_ignored(header: str) -> None:
    assert parse_range(header, 1000) is None  # an invalid Range header: serve the whole film


def test_the_longest_allowed_position_still_parses() -> None:
    last = "9" * MAX_POSITION_DIGITS
    assert parse_range(f"bytes=10-{last}", 1000) == ByteRange(10, 999)
    assert parse_range("bytes=" + "0" * (MAX_POSITION_DIGITS + 1) + "-", 1000) is None
