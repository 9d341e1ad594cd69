"""The peernode node: packaging, encrypted container, libtorrent swarms, playback, CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

# Every public name loads on first use (PEP 562): importing one module of this
# package, or the package itself, loads nothing else.
_LAZY = {
    "CONTAINER_SEGMENT_BYTES": "peernode.container.stream",
    "ContainerError": "peernode.errors",
    "ContainerHeader": "peernode.container.stream",
    "ContainerReader": "peernode.container.stream",
    "decrypt_file": "peernode.container.stream",
    "decrypt_segment": "peernode.container.stream",
    "Download": "peernode.runtime.download",
    "DownloadStats": "peernode.runtime.download",
    "encrypt_file": "peernode.container.stream",
    "Node": "peernode.runtime.node",
    "NodeConfig": "peernode.runtime.node",
    "open_container": "peernode.container.stream",
    "open_node": "peernode.runtime.node",
    "OriginConfig": "peernode.operations.origin",
    "OriginStats": "peernode.operations.origin",
    "package_film": "peernode.operations.packaging",
    "PackagedFilm": "peernode.operations.packaging",
    "PackagingError": "peernode.operations.packaging",
    "parse_header": "peernode.container.stream",
    "PeernodeError": "peernode.errors",
    "RentalExpiredError": "peernode.runtime.download",
    "serve_origin": "peernode.operations.origin",
}

if TYPE_CHECKING:
    from peernode.container.stream import (
        CONTAINER_SEGMENT_BYTES,
        ContainerHeader,
        ContainerReader,
        decrypt_file,
        decrypt_segment,
        encrypt_file,
        open_container,
        parse_header,
    )
    from peernode.errors import ContainerError, PeernodeError
    from peernode.operations.origin import OriginConfig, OriginStats, serve_origin
    from peernode.operations.packaging import PackagedFilm, PackagingError, package_film
    from peernode.runtime.download import Download, DownloadStats, RentalExpiredError
    from peernode.runtime.node import Node, NodeConfig, open_node

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "CONTAINER_SEGMENT_BYTES",
    "ContainerError",
    "ContainerHeader",
    "ContainerReader",
    "Download",
    "DownloadStats",
    "Node",
    "NodeConfig",
    "OriginConfig",
    "OriginStats",
    "PackagedFilm",
    "PackagingError",
    "PeernodeError",
    "RentalExpiredError",
    "decrypt_file",
    "decrypt_segment",
    "encrypt_file",
    "open_container",
    "open_node",
    "package_film",
    "parse_header",
    "serve_origin",
]
