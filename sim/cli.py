"""Subcommands of `peernode` (placeholder until implemented)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add these subcommands to the `peernode` parser."""
