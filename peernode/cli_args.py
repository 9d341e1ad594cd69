"""argparse ``type=`` converters shared by the node's subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from .errors import PeernodeError
from .netaddr import parse_hostport, parse_rate

__all__ = ["argument_type", "hostport_arg", "rate_arg"]

_T = TypeVar("_T")


def argument_type(parse: Callable[[str], _T], name: str) -> Callable[[str], _T]:
    """An argparse ``type=`` from one of our parsers: its error becomes a usage error."""

    def convert(text: str) -> _T:
        try:
            return parse(text)
        except PeernodeError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


rate_arg = argument_type(parse_rate, "rate")
hostport_arg = argument_type(parse_hostport, "address")
