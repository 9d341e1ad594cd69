"""The peernode node: packaging, encrypted container, libtorrent swarms, playback, CLI."""

from __future__ import annotations

from .container import (
    CONTAINER_SEGMENT_BYTES,
    ContainerHeader,
    ContainerReader,
    decrypt_file,
    decrypt_segment,
    encrypt_file,
    open_container,
    parse_header,
)
from .errors import ContainerError, PeernodeError
from .packaging import PackagedFilm, PackagingError, package_film

__all__ = ["ContainerError", "PeernodeError"]
__all__ += [  # the encrypted container and packaging
    "CONTAINER_SEGMENT_BYTES",
    "ContainerHeader",
    "ContainerReader",
    "PackagedFilm",
    "PackagingError",
    "decrypt_file",
    "decrypt_segment",
    "encrypt_file",
    "open_container",
    "package_film",
    "parse_header",
]
