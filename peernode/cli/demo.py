"""`peernode demo`: the whole system on loopback in one command (the simulator's built-in
``demo`` scenario, `sim.demo`), each client's film checked to decrypt to the original."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from certs import load_node_key, open_rental
from peernode.container.stream import decrypt_file
from peernode.errors import PeernodeError
from support.processes import file_sha256
from support.units import format_bytes

if TYPE_CHECKING:
    from sim.backends.provision import ClientFiles, OperatorFiles
    from sim.demo import DemoReport

__all__ = ["decrypts_to_original", "register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `demo`."""
    p = sub.add_parser(
        "demo",
        help="run tracker, origin and N clients on loopback with a throwaway CA",
        description="Run the whole system on loopback: a throwaway CA, a tracker, a rate-capped "
        "origin seeder and N clients (own processes on 127.0.0.x, started a second apart); "
        "report where each client's bytes came from and the swarm's CDN offload.",
    )
    p.add_argument("--clients", type=int, default=4, help="number of clients (default 4)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--film", type=Path, help="a film file to distribute")
    src.add_argument("--size", type=float, default=32.0, metavar="MB",
                     help="size of a synthetic film in MB (default 32)")
    p.add_argument("--workdir", type=Path, help="keep all files here instead of a temp dir")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=_cmd_demo)


def decrypts_to_original(operator: OperatorFiles, client: ClientFiles, film_id: str) -> bool:
    """Whether ``client``'s downloaded container, decrypted with its own rental and node
    key, equals the operator's original film. Raises `CertsError`/`ContainerError` for a
    rental or container that cannot be opened, `OSError` for I/O."""
    rental = open_rental(client.rental.read_bytes(), load_node_key(client.node_key),
                         operator.ca.cert)
    plain = client.directory / "film.decrypted"
    try:
        with plain.open("wb") as dst:
            decrypt_file(client.download_dir / film_id, rental.content_key, film_id, dst)
        return file_sha256(plain) == operator.film_sha256
    finally:
        plain.unlink(missing_ok=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.size <= 0:
        raise PeernodeError("--size must be positive")
    # Imported here: the simulator is only needed when the demo runs, not for every
    # `peernode` command (whose parser imports this module).
    from sim.demo import DemoConfig, run_demo

    cfg = DemoConfig(clients=args.clients, film=args.film, size_mb=args.size,
                     workdir=args.workdir)
    report = trio.run(run_demo, cfg, decrypts_to_original)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        _print_table(report)
    if not report.ok:
        raise PeernodeError("a client's film did not decrypt to the original")
    return 0


def _print_table(report: DemoReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"peernode demo: {format_bytes(report.film_bytes)} film, "
                        f"{len(report.clients)} clients")
    for col in ("client", "address", "time", "from origin", "from peers", "uploaded", "film"):
        table.add_column(col, justify="right" if col not in ("client", "film") else "left")
    for c in report.clients:
        table.add_row(c.name, c.address, f"{c.seconds:.1f} s", format_bytes(c.bytes_from_origin),
                      format_bytes(c.bytes_from_peers), format_bytes(c.bytes_uploaded),
                      "decrypts OK" if c.decrypted_ok else "MISMATCH")
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 110)
    console.print(table)
    console.print(_origin_summary(report))


def _origin_summary(report: DemoReport) -> str:
    """The CDN's bill as the origin measured it, beside what the clients attribute."""
    attributed = report.origin_bytes / report.film_bytes
    limit = f"(limit 1 - 1/N = {report.offload_limit * 100:.1f}%)"
    if report.origin_bytes_measured is None:
        return (f"origin sent {attributed:.2f} copies as the clients attribute them (the "
                f"origin's own count was not read); CDN offload {report.offload * 100:.1f}% "
                f"{limit}")
    return (f"origin sent {report.origin_copies:.2f} copies (its own count; the clients "
            f"attribute {attributed:.2f}); CDN offload {report.offload * 100:.1f}% {limit}")
