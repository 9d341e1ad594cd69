"""The origin seeder run by operations: seeds every film of a library directory.

New ``*.torrent`` files dropped into the library are picked up while running.
Its peer id carries the origin fingerprint so clients can count its bytes
apart (they are the ones the CDN bills).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import trio

from .errors import PeernodeError
from .lt_session import Transport
from .node import Node, NodeConfig, load_torrent, open_node

__all__ = ["OriginConfig", "OriginStats", "serve_origin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OriginConfig:
    """An origin seeder. Rates in bytes/s (0 = unlimited)."""

    library: Path
    cert_pem: bytes
    key_pem: bytes
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    upload_rate_bps: int = 0
    super_seeding: bool = False
    rescan_interval_s: float = 2.0
    transport: Transport = "tcp"
    limit_local_peers: bool = False


@dataclass(frozen=True)
class OriginStats:
    """Bytes the origin uploaded per film since it started."""

    uploaded_bytes: dict[str, int]
    peers: dict[str, int]


class _Library:
    """The films being seeded, keyed by film id."""

    def __init__(self, node: Node, config: OriginConfig) -> None:
        self._node = node
        self._config = config
        self.handles: dict[str, lt.torrent_handle] = {}
        self._bad: set[Path] = set()

    def scan(self) -> None:
        for path in sorted(self._config.library.glob("*.torrent")):
            film_id = path.stem
            if film_id in self.handles or path in self._bad:
                continue
            try:
                ti = load_torrent(path)
                flags = lt.torrent_flags.super_seeding if self._config.super_seeding else 0
                self.handles[ti.name()] = self._node.add_seed(
                    ti, save_path=self._config.library, cert_pem=self._config.cert_pem,
                    key_pem=self._config.key_pem, flags=flags,
                )
            except PeernodeError as e:
                self._bad.add(path)
                log.error("skipping %s: %s", path.name, e)
                continue
            log.info("seeding %s (%d bytes)", ti.name(), ti.total_size())

    def stats(self) -> OriginStats:
        uploaded: dict[str, int] = {}
        peers: dict[str, int] = {}
        for film_id, handle in self.handles.items():
            st = handle.status()
            uploaded[film_id] = int(st.total_payload_upload)
            peers[film_id] = int(st.num_peers)
        return OriginStats(uploaded, peers)


async def serve_origin(
    config: OriginConfig,
    *,
    on_stats: Callable[[OriginStats], None] | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Seed the library until cancelled; ``task_status.started((host, ssl_port))``.

    ``on_stats`` is called once a second with the per-film upload counters.
    Raises `PeernodeError` if the library does not exist or the port is taken.
    """
    if not config.library.is_dir():
        raise PeernodeError(f"library {config.library} is not a directory")
    node_config = NodeConfig(
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        upload_rate_bps=config.upload_rate_bps,
        transport=config.transport,
        origin=True,
        limit_local_peers=config.limit_local_peers,
    )
    async with open_node(node_config) as node:
        library = _Library(node, config)
        library.scan()
        task_status.started((config.listen_host, node.ssl_port))
        next_scan = trio.current_time() + config.rescan_interval_s
        while True:
            await trio.sleep(1.0)
            if trio.current_time() >= next_scan:
                library.scan()
                next_scan = trio.current_time() + config.rescan_interval_s
            if on_stats is not None:
                on_stats(library.stats())
