"""The `NodeConfig` of a customer node from its command-line options, one helper for
`fetch`, `play` and `host`."""

from __future__ import annotations

import argparse
from pathlib import Path

from peernode.cli.args import listen_choice, operator_ca_pem
from peernode.runtime.node import NodeConfig

__all__ = ["customer_node_config"]


def customer_node_config(args: argparse.Namespace, save_dir: Path) -> NodeConfig:
    """What every customer node's options say: where it listens (``--listen``, else every
    interface on the port kept in ``save_dir/.peernode``), the owner's port-mapping
    consent, the pinned operator CA and whether loopback/LAN peers are rate limited.
    Each command adds its own with `dataclasses.replace` (caps, timeouts, hosting)."""
    listen = listen_choice(args.listen, save_dir / ".peernode")
    return NodeConfig(
        listen_host=listen.host,
        listen_port=listen.port,
        listen_port_file=listen.port_file,
        port_mapping=args.port_mapping,
        operator_ca_pem=operator_ca_pem(args.operator_ca),
        limit_local_peers=args.limit_local_peers,
    )
