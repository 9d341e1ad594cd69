"""Every way of damaging a container is detected: each case must raise ContainerError."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import pytest

from peernode.container.header import CONTAINER_SEGMENT_BYTES, parse_header
from peernode.container.stream import decrypt_file, decrypt_segment, open_container
from peernode.errors import ContainerError

SEG = CONTAINER_SEGMENT_BYTES
PLAIN_SEG = SEG - 16
PLAINTEXT = os.urandom(4 * PLAIN_SEG + 1234)  # five segments, the last one short


@pytest.fixture(scope="module")
def sealed(seal):
    return seal(PLAINTEXT)


def _flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 1 << bit
    return bytes(damaged)


def _one_line(err: pytest.ExceptionInfo[ContainerError]) -> str:
    message = str(err.value)
    assert message
    assert "\n" not in message
    return message


def test_intact_container_decrypts(sealed, decrypt_all) -> None:
    _header, data = sealed
    assert decrypt_all(data) == PLAINTEXT


@pytest.mark.parametrize(
    "offset",
    [
        0,  # magic
        8,  # version
        12,  # body length
        20,  # msgpack body
        -40,  # tag (counted back from the end of the authenticated header)
        SEG - 1,  # zero padding
        SEG,  # first byte of segment 0
        2 * SEG + 1000,  # inside segment 1
        3 * SEG - 1,  # tag of segment 1
        -1,  # last byte of the file: tag of the final segment
    ],
)
def test_flipped_bit_anywhere_is_detected(sealed, decrypt_all, offset: int) -> None:
    header, data = sealed
    if offset == -40:
        offset = len(header.authenticated_bytes) + 32 - 8
    with pytest.raises(ContainerError) as err:
        decrypt_all(_flip(data, offset % len(data), bit=offset % 8))
    _one_line(err)


def test_every_header_byte_is_covered(sealed, reader) -> None:
    header, data = sealed
    for offset in range(len(header.authenticated_bytes) + 32):
        with pytest.raises(ContainerError):
            reader(_flip(data, offset))


def test_truncated_last_segment(sealed, decrypt_all) -> None:
    header, data = sealed
    last = header.segment_offset(header.segment_count() - 1)
    with pytest.raises(ContainerError, match="truncated") as err:
        decrypt_all(data[:last])  # whole final segment missing
    _one_line(err)
    with pytest.raises(ContainerError):
        decrypt_all(data[:-1])  # one byte missing


def test_truncated_at_each_segment_boundary(sealed, decrypt_all) -> None:
    header, data = sealed
    for index in range(header.segment_count()):
        with pytest.raises(ContainerError):
            decrypt_all(data[: header.segment_offset(index)])


def test_final_flag_a_full_segment_cannot_pose_as_the_last(seal, key: bytes) -> None:
    # A film of exactly two full segments, cut after the first: even with a header
    # claiming one segment (which the tag would refuse anyway), segment 0 was sealed
    # as "not last" and does not decrypt as the final segment.
    header, data = seal(os.urandom(2 * PLAIN_SEG))
    short_header = replace(header, plaintext_bytes=PLAIN_SEG)
    assert short_header.is_last_segment(0)
    with pytest.raises(ContainerError):
        decrypt_segment(short_header, key, 0, data[SEG : 2 * SEG])


def test_header_of_a_shorter_film_does_not_verify(sealed, reader) -> None:
    header, data = sealed
    forged = replace(header, plaintext_bytes=PLAIN_SEG)
    tag = data[len(header.authenticated_bytes) : len(header.authenticated_bytes) + 32]
    head = forged.authenticated_bytes + tag
    with pytest.raises(ContainerError, match="authenticate"):
        reader(head + bytes(SEG - len(head)) + data[SEG : 2 * SEG])


def test_swapped_segments(sealed, decrypt_all) -> None:
    header, data = sealed
    s1, s2 = header.segment_offset(1), header.segment_offset(2)
    swapped = data[:s1] + data[s2 : s2 + SEG] + data[s1:s2] + data[s2 + SEG :]
    assert len(swapped) == len(data)
    with pytest.raises(ContainerError, match="segment 1") as err:
        decrypt_all(swapped)
    _one_line(err)


def test_duplicated_segment(sealed, decrypt_all) -> None:
    header, data = sealed
    s1 = header.segment_offset(1)
    duplicated = data[: s1 + SEG] + data[s1 : s1 + SEG] + data[s1 + 2 * SEG :]
    with pytest.raises(ContainerError):
        decrypt_all(duplicated)


def test_segment_from_another_container_same_key(seal, sealed, decrypt_all) -> None:
    header, data = sealed
    _other_header, other = seal(PLAINTEXT)  # same key and film, other nonce prefix
    s1 = header.segment_offset(1)
    spliced = data[:s1] + other[s1 : s1 + SEG] + data[s1 + SEG :]
    with pytest.raises(ContainerError):
        decrypt_all(spliced)


def test_wrong_key(sealed, reader) -> None:
    _header, data = sealed
    with pytest.raises(ContainerError, match="wrong content key") as err:
        reader(data, key=os.urandom(32))
    _one_line(err)


def test_wrong_film_id(sealed, reader) -> None:
    _header, data = sealed
    with pytest.raises(ContainerError, match="film-b") as err:
        reader(data, film_id="film-b")
    _one_line(err)


def test_segment_of_another_film_does_not_decrypt(seal, key: bytes) -> None:
    # Same key, same nonce prefix, other film id: the associated data differs.
    header_a, data_a = seal(PLAINTEXT[:5000], film_id="film-a")
    header_b = replace(header_a, film_id="film-b")
    with pytest.raises(ContainerError, match="does not authenticate"):
        decrypt_segment(header_b, key, 0, data_a[SEG:])


def test_decrypt_segment_wrong_index_or_length(sealed, key: bytes) -> None:
    header, data = sealed
    seg0 = data[SEG : 2 * SEG]
    with pytest.raises(ContainerError):
        decrypt_segment(header, key, 1, seg0)
    with pytest.raises(ContainerError, match="bytes, expected"):
        decrypt_segment(header, key, 0, seg0[:-1])
    with pytest.raises(ContainerError, match="out of range"):
        decrypt_segment(header, key, 99, seg0)


def test_empty_film_final_segment_is_checked(seal, decrypt_all, tmp_path: Path, key) -> None:
    _header, data = seal(b"")
    assert decrypt_all(data) == b""
    with pytest.raises(ContainerError):
        decrypt_all(_flip(data, len(data) - 1))
    path = tmp_path / "empty"
    path.write_bytes(_flip(data, len(data) - 1))
    with pytest.raises(ContainerError):
        decrypt_file(path, key, "film-a", io.BytesIO())


def test_decrypt_file_refuses_trailing_bytes(sealed, tmp_path: Path, key: bytes) -> None:
    _header, data = sealed
    path = tmp_path / "film-a"
    path.write_bytes(data + b"extra")
    with pytest.raises(ContainerError, match="header declares"):
        decrypt_file(path, key, "film-a", io.BytesIO())


def test_open_container_reads_partial_file_and_fails_on_missing_part(
    sealed, tmp_path: Path, key: bytes
) -> None:
    header, data = sealed
    path = tmp_path / "film-a"
    path.write_bytes(data[: header.segment_offset(2)])  # a download in progress
    r = open_container(path, key, film_id="film-a")
    assert r.read(0, 100) == PLAINTEXT[:100]
    with pytest.raises(ContainerError, match="segment 2"):
        r.read(2 * PLAIN_SEG, 10)


def test_parse_header_rejects_truncated_header_segment(sealed) -> None:
    _header, data = sealed
    with pytest.raises(ContainerError, match="truncated"):
        parse_header(data[: SEG - 1])
