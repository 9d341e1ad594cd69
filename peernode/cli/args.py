"""argparse ``type=`` converters shared by the node's subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from support.errors import InputError
from support.hostport import parse_hostport
from support.units import parse_rate

__all__ = ["add_customer_node_options", "argument_type", "hostport_arg", "rate_arg"]

_T = TypeVar("_T")


def argument_type(parse: Callable[[str], _T], name: str) -> Callable[[str], _T]:
    """An argparse ``type=`` from one of our parsers: its error becomes a usage error."""

    def convert(text: str) -> _T:
        try:
            return parse(text)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


rate_arg = argument_type(parse_rate, "rate")
hostport_arg = argument_type(parse_hostport, "address")


def add_customer_node_options(p: argparse.ArgumentParser) -> None:
    """The options of a customer node shared by `fetch` and `play`: address, peers, caps."""
    p.add_argument("--listen", type=hostport_arg, default=("127.0.0.1", 0), metavar="HOST:PORT",
                   help="SSL listen address peers connect to (default 127.0.0.1:0)")
    p.add_argument("--peer", type=hostport_arg, action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer directly (bypassing the tracker); repeatable")
    p.add_argument("--upload-limit", type=rate_arg, default=0, metavar="RATE",
                   help="upload cap (the customer's consent), bytes/s or 500K/4M")
    p.add_argument("--download-limit", type=rate_arg, default=0, metavar="RATE",
                   help="download cap, bytes/s or 500K/4M")
    p.add_argument("--limit-local-peers", action="store_true",
                   help="apply rate limits to loopback/LAN peers too (simulations)")
