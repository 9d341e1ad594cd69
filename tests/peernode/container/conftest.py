"""Shared fixtures for the container tests: encrypt bytes in memory, read them back."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, Protocol

import pytest

from peernode.container.header import CONTAINER_SEGMENT_BYTES, ContainerHeader
from peernode.container.stream import ContainerReader, encrypt_file

KEY = bytes(range(32))
FILM = "film-a"


class Seal(Protocol):
    def __call__(
        self, plaintext: bytes, *, segment_bytes: int = ..., key: bytes = ..., film_id: str = ...
    ) -> tuple[ContainerHeader, bytes]: ...


def _seal(
    plaintext: bytes,
    *,
    segment_bytes: int = CONTAINER_SEGMENT_BYTES,
    key: bytes = KEY,
    film_id: str = FILM,
) -> tuple[ContainerHeader, bytes]:
    dst = io.BytesIO()
    header = encrypt_file(
        io.BytesIO(plaintext),
        dst,
        key=key,
        film_id=film_id,
        mime_type="video/mp4",
        plaintext_bytes=len(plaintext),
        segment_bytes=segment_bytes,
    )
    return header, dst.getvalue()


def _reader(data: bytes, *, key: bytes = KEY, film_id: str = FILM) -> ContainerReader:
    # read_at slices the bytes: short at the end, exactly like pread on a file.
    return ContainerReader(lambda off, n: data[off : off + n], key, film_id=film_id)


@pytest.fixture(scope="session")
def key() -> bytes:
    return KEY


@pytest.fixture(scope="session")
def seal() -> Seal:
    """seal(plaintext, segment_bytes=..., key=..., film_id=...) -> (header, container bytes)."""
    return _seal


@pytest.fixture(scope="session")
def reader() -> Callable[..., ContainerReader]:
    """reader(container bytes, key=..., film_id=...) -> ContainerReader over those bytes."""
    return _reader


@pytest.fixture(scope="session")
def decrypt_all() -> Callable[..., bytes]:
    """decrypt_all(container bytes, **reader kwargs) -> plaintext, every segment checked."""

    def run(data: bytes, **kw: Any) -> bytes:
        return b"".join(_reader(data, **kw).iter_all())

    return run
