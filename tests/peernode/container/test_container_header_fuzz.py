"""parse_header on arbitrary or mutated bytes: a valid header or ContainerError, nothing else."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peernode.container.header import (
    MIN_SEGMENT_BYTES,
    ContainerHeader,
    decode_header,
    parse_header,
)
from peernode.errors import ContainerError

MAGIC = b"\x89PVC\r\n\x1a\n"
VALID = ContainerHeader(
    film_id="film-a",
    plaintext_bytes=123_456,
    segment_bytes=MIN_SEGMENT_BYTES,
    nonce_prefix=b"\x00" * 7,
    mime_type="video/mp4",
)


def _segment(authenticated: bytes, segment_bytes: int = MIN_SEGMENT_BYTES) -> bytes:
    head = authenticated + b"\x55" * 32  # the tag is not checked by parse_header
    return head + bytes(segment_bytes - len(head))


def _body(fields: object) -> bytes:
    body = msgpack.packb(fields, use_bin_type=True)
    return struct.pack(">8sBI", MAGIC, 1, len(body)) + body


def _parses_or_container_error(data: bytes) -> None:
    try:
        header: ContainerHeader | None = parse_header(data)
    except ContainerError as e:
        message = str(e)
        header = None
    if header is None:
        assert message
        assert "\n" not in message


def test_valid_header_parses() -> None:
    assert parse_header(_segment(VALID.authenticated_bytes)) == VALID


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    _parses_or_container_error(data)


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_after_magic(rest: bytes) -> None:
    _parses_or_container_error((MAGIC + b"\x01" + rest).ljust(MIN_SEGMENT_BYTES, b"\x00"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_header(data: st.DataObject) -> None:
    raw = bytearray(_segment(VALID.authenticated_bytes))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(VALID.authenticated_bytes) + 31))
        raw[i] = data.draw(st.integers(0, 255))
    _parses_or_container_error(bytes(raw))


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(
            ["film_id", "plaintext_bytes", "segment_bytes", "nonce_prefix", "mime_type", "x"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**63), 2**64 - 1),
            st.floats(),
            st.binary(max_size=10),
            st.text(max_size=10),
            st.lists(st.integers(0, 9), max_size=3),
        ),
    )
)
def test_arbitrary_msgpack_fields(fields: dict[str, object]) -> None:
    _parses_or_container_error(_segment(_body(fields)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"GIF89a" + bytes(2000), "bad magic"),
        (struct.pack(">8sBI", MAGIC, 2, 0) + bytes(2000), "version 2"),
        (struct.pack(">8sBI", MAGIC, 1, 5000) + bytes(6000), "too long"),
        (_segment(_body(["film-a"])), "fields"),
        (_segment(_body({**dict.fromkeys(["a"]), "film_id": "x"})), "fields"),
    ],
)
def test_specific_garbage_messages(data: bytes, message: str) -> None:
    with pytest.raises(ContainerError, match=message):
        parse_header(data)


def test_non_canonical_encoding_is_refused() -> None:
    fields = {
        "film_id": "film-a",
        "plaintext_bytes": 123_456,
        "segment_bytes": MIN_SEGMENT_BYTES,
        "nonce_prefix": b"\x00" * 7,
        "mime_type": "video/mp4",
    }
    reordered = dict(reversed(list(fields.items())))
    with pytest.raises(ContainerError, match="canonical"):
        parse_header(_segment(_body(reordered)))


def test_nonzero_padding_is_refused() -> None:
    raw = bytearray(_segment(VALID.authenticated_bytes))
    raw[-1] = 1
    with pytest.raises(ContainerError, match="padding"):
        parse_header(bytes(raw))


def test_decode_header_needs_only_the_header_bytes() -> None:
    head = _segment(VALID.authenticated_bytes)[: len(VALID.authenticated_bytes) + 32]
    header, tag = decode_header(head)
    assert header == VALID
    assert tag == b"\x55" * 32
    with pytest.raises(ContainerError, match="truncated"):
        decode_header(head[:-1])
