"""Round trips: every size class, random ranges, a Hypothesis property, the file helpers."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peernode.container.header import CONTAINER_SEGMENT_BYTES
from peernode.container.stream import (
    ContainerReader,
    decrypt_file,
    decrypt_segment,
    encrypt_file,
    open_container,
    parse_header,
)
from peernode.errors import ContainerError

SEG = CONTAINER_SEGMENT_BYTES
PLAIN_SEG = SEG - 16


@pytest.mark.parametrize(
    "size", [0, 1, PLAIN_SEG - 1, PLAIN_SEG, PLAIN_SEG + 1, 3 * 1024 * 1024 + 12345]
)
def test_round_trip_sizes(size: int, seal, decrypt_all) -> None:
    plaintext = os.urandom(size)
    header, data = seal(plaintext)
    assert len(data) == header.container_bytes()
    assert header.segment_count() == max(1, -(-size // PLAIN_SEG))
    # Header padded to one segment: segment i starts at (i + 1) * segment size.
    assert header.segment_offset(0) == SEG
    assert parse_header(data[:SEG]) == header
    assert decrypt_all(data) == plaintext


def test_ciphertext_is_not_plaintext_and_fresh_per_encryption(seal) -> None:
    plaintext = b"A" * 100_000
    _h1, c1 = seal(plaintext)
    _h2, c2 = seal(plaintext)
    assert plaintext[:1000] not in c1
    assert c1[SEG:] != c2[SEG:]  # random nonce prefix per container


def test_random_ranges_decrypt_exactly(seal, reader) -> None:
    plaintext = os.urandom(5 * PLAIN_SEG + 777)
    _header, data = seal(plaintext)
    r = reader(data)
    rng = random.Random(7)
    edges = [0, 1, PLAIN_SEG - 1, PLAIN_SEG, PLAIN_SEG + 1, len(plaintext) - 1, len(plaintext)]
    cases = [(a, b) for a in edges for b in edges if a <= b]
    n = len(plaintext)
    cases += sorted((rng.randrange(n), rng.randrange(n)) for _ in range(50))
    for a, b in cases:
        a, b = min(a, b), max(a, b)
        assert r.read(a, b - a) == plaintext[a:b]
        assert b"".join(r.iter_range(a, b)) == plaintext[a:b]


def test_ranges_are_clamped_like_slices(seal, reader) -> None:
    plaintext = os.urandom(1000)
    _header, data = seal(plaintext)
    r = reader(data)
    assert r.read(900, 10_000) == plaintext[900:]
    assert r.read(5000, 10) == b""
    with pytest.raises(ContainerError):
        r.read(-1, 10)
    with pytest.raises(ContainerError):
        r.read(10, -1)


def test_iter_range_yields_segment_by_segment(seal, reader) -> None:
    plaintext = os.urandom(4 * PLAIN_SEG)
    _header, data = seal(plaintext)
    chunks = list(reader(data).iter_range(10, 3 * PLAIN_SEG + 5))
    assert [len(c) for c in chunks] == [PLAIN_SEG - 10, PLAIN_SEG, PLAIN_SEG, 5]


def test_segments_for_range_arithmetic(seal) -> None:
    header, _data = seal(os.urandom(3 * PLAIN_SEG + 1))
    assert header.segment_count() == 4
    assert header.segments_for_range(0, 1) == range(0, 1)
    assert header.segments_for_range(PLAIN_SEG - 1, PLAIN_SEG + 1) == range(0, 2)
    assert header.segments_for_range(PLAIN_SEG, 2 * PLAIN_SEG) == range(1, 2)
    assert header.segments_for_range(0, 10**12) == range(0, 4)
    assert header.segments_for_range(7, 7) == range(0)
    assert [header.segment_offset(i) for i in range(4)] == [SEG, 2 * SEG, 3 * SEG, 4 * SEG]
    with pytest.raises(ContainerError):
        header.segment_offset(4)


def test_decrypt_segment_single(seal, key) -> None:
    plaintext = os.urandom(2 * PLAIN_SEG + 5)
    header, data = seal(plaintext)
    seg1 = data[header.segment_offset(1) : header.segment_offset(2)]
    assert decrypt_segment(header, key, 1, seg1) == plaintext[PLAIN_SEG : 2 * PLAIN_SEG]
    last = data[header.segment_offset(2) :]
    assert decrypt_segment(header, key, 2, last) == plaintext[2 * PLAIN_SEG :]


@settings(max_examples=60, deadline=None)
@given(
    plaintext=st.binary(max_size=6000),
    segment_bytes=st.sampled_from([1024, 2048]),
    bounds=st.tuples(st.integers(0, 6500), st.integers(0, 6500)),
)
def test_property_any_range_decrypts_to_same_bytes(
    plaintext: bytes, segment_bytes: int, bounds: tuple[int, int], seal, reader
) -> None:
    a, b = sorted(bounds)
    _header, data = seal(plaintext, segment_bytes=segment_bytes)
    r = reader(data)
    assert r.read(a, b - a) == plaintext[a:b]
    assert b"".join(r.iter_all()) == plaintext


def test_file_helpers_round_trip(tmp_path: Path, key: bytes) -> None:
    plaintext = os.urandom(2 * 1024 * 1024 + 3)
    path = tmp_path / "film-a"
    progress: list[int] = []
    with path.open("wb") as dst:
        header = encrypt_file(
            io.BytesIO(plaintext),
            dst,
            key=key,
            film_id="film-a",
            mime_type="video/webm",
            plaintext_bytes=len(plaintext),
            on_progress=progress.append,
        )
    assert path.stat().st_size == header.container_bytes()
    assert progress[-1] == len(plaintext)
    assert progress == sorted(progress)
    r = open_container(path, key, film_id="film-a")
    assert r.header.mime_type == "video/webm"
    assert r.read(1_000_000, 5) == plaintext[1_000_000:1_000_005]
    out = io.BytesIO()
    decrypt_file(path, key, "film-a", out)
    assert out.getvalue() == plaintext


def test_rng_is_a_parameter(key: bytes) -> None:
    def fixed(n: int) -> bytes:
        return b"\x01" * n

    def once() -> bytes:
        dst = io.BytesIO()
        encrypt_file(
            io.BytesIO(b"x" * 5000),
            dst,
            key=key,
            film_id="f",
            mime_type="video/mp4",
            plaintext_bytes=5000,
            rng_bytes=fixed,
        )
        return dst.getvalue()

    assert once() == once()


def test_source_length_must_match_declared(key: bytes) -> None:
    with pytest.raises(ContainerError, match="ended after 10 of 11"):
        encrypt_file(
            io.BytesIO(b"x" * 10),
            io.BytesIO(),
            key=key,
            film_id="f",
            mime_type="video/mp4",
            plaintext_bytes=11,
        )
    with pytest.raises(ContainerError, match="more than"):
        encrypt_file(
            io.BytesIO(b"x" * 10),
            io.BytesIO(),
            key=key,
            film_id="f",
            mime_type="video/mp4",
            plaintext_bytes=9,
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segment_bytes": 1000}, "power of two"),
        ({"segment_bytes": 512}, "power of two"),
        ({"segment_bytes": 32 * 1024 * 1024}, "power of two"),
        ({"mime_type": "video"}, "MIME"),
        ({"mime_type": "video/mp4 x"}, "MIME"),
        ({"film_id": ""}, "film id"),
        ({"key": b"short"}, "32 bytes"),
    ],
)
def test_invalid_parameters_raise(kwargs: dict[str, object], message: str, key: bytes) -> None:
    args: dict[str, object] = {
        "key": key,
        "film_id": "f",
        "mime_type": "video/mp4",
        "plaintext_bytes": 0,
    }
    args.update(kwargs)
    with pytest.raises(ContainerError, match=message):
        encrypt_file(io.BytesIO(), io.BytesIO(), **args)  # type: ignore[arg-type]


def test_reader_accepts_any_read_at(seal, key: bytes) -> None:
    plaintext = os.urandom(200_000)
    _header, data = seal(plaintext)
    calls: list[tuple[int, int]] = []

    def read_at(offset: int, length: int) -> bytes:
        calls.append((offset, length))
        return data[offset : offset + length]

    r = ContainerReader(read_at, key, film_id="film-a")
    calls.clear()
    assert r.read(PLAIN_SEG + 1, 10) == plaintext[PLAIN_SEG + 1 : PLAIN_SEG + 11]
    # Only the one segment covering the range is fetched.
    assert calls == [(2 * SEG, SEG)]


def test_decrypt_throughput_helpers_are_constant_memory(seal, reader) -> None:
    # iter_range is a generator: nothing is read until it is consumed.
    plaintext = os.urandom(3 * PLAIN_SEG)
    _header, data = seal(plaintext)
    gen = reader(data).iter_range(0, len(plaintext))
    assert next(gen) == plaintext[:PLAIN_SEG]
