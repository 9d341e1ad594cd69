"""Node subcommands of `peernode`, one module per concern."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the node's subcommands to the `peernode` parser."""
    from . import cli_daemon, cli_demo, cli_node, cli_package, cli_play

    cli_package.register(sub)
    cli_node.register(sub)
    cli_play.register(sub)
    cli_demo.register(sub)
    cli_daemon.register(sub)
