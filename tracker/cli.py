"""Subcommands of `peernode` provided by `tracker`."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this package's subcommands to the `peernode` parser."""
