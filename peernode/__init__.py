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
from .download import Download, DownloadStats, RentalExpiredError
from .errors import ContainerError, PeernodeError
from .node import Node, NodeConfig, open_node
from .origin import OriginConfig, OriginStats, serve_origin
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
__all__ += [  # the embeddable node and the origin seeder
    "Download",
    "DownloadStats",
    "Node",
    "NodeConfig",
    "OriginConfig",
    "OriginStats",
    "RentalExpiredError",
    "open_node",
    "serve_origin",
]
