"""The `peernode` command line: one parser, subcommands registered by each package.

Every command exits 0 on success; bad input or a refused credential gives one
line ``error: ...`` on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from certs.errors import CertsError
from peernode.errors import PeernodeError
from sim.errors import SimError
from support.errors import SupportError
from tracker.errors import TrackerError

__all__ = ["main"]

EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line ``error: ...`` instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(EXIT_USAGE)


# The module registering each command, in the order of `peernode --help`. A run of one
# command imports only its module: a `peernode fetch` starts without the daemon, the
# simulator, the CA or rich's tables (0.7 -> 0.5 s of CPU here; a flash crowd starts
# twenty at once).
COMMAND_MODULES: dict[str, str] = {
    "ca": "certs.authority.cli",
    "keygen": "certs.authority.cli",
    "tracker": "tracker.cli",
    "package": "peernode.cli.package",
    "seed": "peernode.cli.node",
    "fetch": "peernode.cli.node",
    "host": "peernode.cli.host",
    "place": "peernode.cli.place",
    "play": "peernode.cli.play",
    "demo": "peernode.cli.demo",
    "daemon": "peernode.cli.daemon",
    "rental-service": "peernode.cli.rental_service",
    "sim": "sim.cli",
    "plan": "sim.planner.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full command tree; each package adds its own subcommands. With ``command``
    (a key of `COMMAND_MODULES`), only the module that registers it is imported."""
    parser = _Parser(
        prog="peernode",
        description="Peer-assisted distribution of encrypted, rental-gated films.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    wanted = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else COMMAND_MODULES.values()
    for module in dict.fromkeys(wanted):
        importlib.import_module(module).register(sub)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first word not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        status = args.func(args)
    except BaseException as e:
        return _report(_unwrap(e))
    return int(status or 0)


_PACKAGE_ERRORS = (CertsError, PeernodeError, TrackerError, SimError, SupportError)
_EXPECTED = (*_PACKAGE_ERRORS, OSError, KeyboardInterrupt)


def _unwrap(e: BaseException) -> BaseException:
    """The error to report: trio nurseries wrap a task's error in exception groups."""
    while isinstance(e, BaseExceptionGroup):
        expected = [x for x in e.exceptions if isinstance(_unwrap(x), _EXPECTED)]
        if not expected:
            return e
        e = expected[0]
    return e


def _report(e: BaseException) -> int:
    """One line on stderr for an expected failure; anything else is a bug: re-raise it."""
    if isinstance(e, _PACKAGE_ERRORS):
        sys.stderr.write(f"error: {e}\n")
        return EXIT_ERROR
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        sys.stderr.write(f"error: {where}{e.strerror or e}\n")
        return EXIT_ERROR
    if isinstance(e, KeyboardInterrupt):
        sys.stderr.write("error: interrupted\n")
        return 130
    raise e


if __name__ == "__main__":
    raise SystemExit(main())
