"""argparse ``type=`` converters shared by the node's subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from certs.file_reading import read_file
from support.errors import InputError
from support.hostport import parse_hostport
from support.units import parse_rate

__all__ = [
    "ALL_INTERFACES",
    "ListenChoice",
    "add_customer_node_options",
    "add_listen_options",
    "argument_type",
    "hostport_arg",
    "listen_choice",
    "operator_ca_pem",
    "rate_arg",
]

# Every interface, IPv4 and IPv6 (peernode.runtime.session_settings.ALL_INTERFACES;
# repeated so that parsing the command line does not import libtorrent).
ALL_INTERFACES = "::"
LISTEN_PORT_FILE = "listen-port"

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


def add_listen_options(p: argparse.ArgumentParser) -> None:
    """--listen and --no-port-mapping, the network options of every customer node."""
    p.add_argument("--listen", type=hostport_arg, default=None, metavar="HOST:PORT",
                   help="SSL listen address peers connect to (default: every interface, "
                   "IPv4 and IPv6, on a port kept across restarts; [::]:PORT is every "
                   "interface too; port 0 picks a free one)")
    p.add_argument("--no-port-mapping", dest="port_mapping", action="store_false",
                   help="do not ask the home router (UPnP IGD, NAT-PMP) to forward the port")


@dataclass(frozen=True)
class ListenChoice:
    """Where a customer node listens: host, port (0: choose) and where the port is kept."""

    host: str
    port: int
    port_file: Path | None


def listen_choice(listen: tuple[str, int] | None, state_dir: Path) -> ListenChoice:
    """The listen address from ``--listen`` (explicit: as given, not remembered),
    else every interface on the port kept in ``state_dir``."""
    if listen is not None:
        return ListenChoice(listen[0], listen[1], None)
    return ListenChoice(ALL_INTERFACES, 0, state_dir / LISTEN_PORT_FILE)


def operator_ca_pem(path: Path | None) -> bytes | None:
    """The pinned operator CA's PEM from ``--operator-ca`` (None if not given)."""
    return None if path is None else read_file(path, what="operator CA")


def add_customer_node_options(p: argparse.ArgumentParser) -> None:
    """The options of a customer node shared by `fetch` and `play`: address, peers, caps."""
    add_listen_options(p)
    p.add_argument("--operator-ca", type=Path, metavar="CA.pem",
                   help="pin the operator's CA: torrents and rentals of another CA are refused")
    p.add_argument("--peer", type=hostport_arg, action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer directly (bypassing the tracker); repeatable")
    p.add_argument("--upload-limit", type=rate_arg, default=0, metavar="RATE",
                   help="upload cap (the customer's consent), bytes/s or 500K/4M")
    p.add_argument("--download-limit", type=rate_arg, default=0, metavar="RATE",
                   help="download cap, bytes/s or 500K/4M")
    p.add_argument("--limit-local-peers", action="store_true",
                   help="apply rate limits to loopback/LAN peers too (simulations)")
