"""`serve_daemon`: one node, its stored rentals, the control API, until cancelled.

    async with trio.open_nursery() as nursery:
        api = await nursery.start(serve_daemon, DaemonConfig(state_dir=Path("state")))
        # api.url, api.token_path

On start the daemon adds every rental of the state directory again (downloads
resume from the resume data in their save dirs) and writes
``STATE_DIR/api.json`` (URL and pid) for client apps to find it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import trio

from peernode.daemon.controller import Daemon
from peernode.daemon.openapi import openapi_document
from peernode.daemon.routes import serve_daemon_api
from peernode.daemon.state_dir import StateStore
from peernode.runtime.node import NodeConfig, open_node
from support.atomic_write import write_atomic
from support.hostport import format_hostport

__all__ = ["DaemonAddress", "DaemonConfig", "serve_daemon"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DaemonConfig:
    """How the daemon runs; ``api_port`` 0 picks a free port (written to api.json)."""

    state_dir: Path
    api_port: int = 0
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    limit_local_peers: bool = False
    poll_interval_s: float = 1.0
    idle_poll_interval_s: float = 5.0
    resume_save_interval_s: float = 10.0
    wall_clock: Callable[[], datetime] = _utc_now


@dataclass(frozen=True)
class DaemonAddress:
    """Where a started daemon listens."""

    url: str
    token_path: Path
    ssl_port: int


async def serve_daemon(
    config: DaemonConfig, *, task_status: trio.TaskStatus[DaemonAddress] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the daemon until cancelled; ``task_status.started(DaemonAddress)`` once serving.

    Raises `PeernodeError`/`CertsError` for an unusable state dir or token
    file, `OSError` if the API port cannot be bound.
    """
    store = StateStore(config.state_dir)
    token = store.token()
    node_config = NodeConfig(
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        limit_local_peers=config.limit_local_peers,
        resume_save_interval_s=config.resume_save_interval_s,
        wall_clock=config.wall_clock,
    )
    async with open_node(node_config) as node, trio.open_nursery() as nursery:
        daemon = Daemon(node, store, nursery, wall_clock=config.wall_clock)
        await daemon.restore()
        port = await nursery.start(partial(serve_daemon_api, daemon, token, openapi_document,
                                           host="127.0.0.1", port=config.api_port))
        url = f"http://{format_hostport('127.0.0.1', port)}"
        write_atomic(store.root / "api.json",
                     json.dumps({"url": url, "pid": os.getpid()}).encode())
        nursery.start_soon(daemon.watch, config.poll_interval_s, config.idle_poll_interval_s)
        task_status.started(DaemonAddress(url, store.token_path, node.ssl_port))
