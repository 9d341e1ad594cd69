"""`peernode rental-service`: the HTTPS rental service for the shop, and its shop keys."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peernode.errors import PeernodeError

__all__ = ["register"]

log = logging.getLogger("rentals")


def _as_peernode_error(run: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Errors of `rentals` as the one-line errors the command line prints."""

    def wrapped(args: argparse.Namespace) -> int:
        from rentals.errors import RentalsError

        try:
            return run(args)
        except RentalsError as e:
            raise PeernodeError(str(e)) from None
        except BaseExceptionGroup as group:
            found = group.subgroup(lambda x: isinstance(x, RentalsError))
            if found is not None:
                first = found.exceptions[0]
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                raise PeernodeError(str(first)) from None
            raise

    return wrapped


def _config(args: argparse.Namespace) -> Any:
    from rentals.config import RentalServiceConfig

    if args.config is None:
        raise PeernodeError("rental-service needs --config FILE")
    return RentalServiceConfig.load(Path(args.config))


@_as_peernode_error
def _cmd_serve(args: argparse.Namespace) -> int:
    import trio

    from rentals.server import RunningRentalService, serve_rental_service

    config = _config(args)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            running: RunningRentalService = await nursery.start(serve_rental_service, config)
            sys.stderr.write(f"peernode rental-service: listening on {running.url}\n")
            sys.stderr.flush()
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.warning("signal %d: shutting down", signum)
                    running.shutdown()
                    break

    trio.run(run)
    return 0


@_as_peernode_error
def _cmd_add_key(args: argparse.Namespace) -> int:
    from rentals.database import open_store
    from rentals.shop_keys import new_shop_key

    config = _config(args)
    new = new_shop_key(args.name, now=datetime.now(UTC).replace(microsecond=0))
    with closing(open_store(config.database, base_dir=config.base_dir)) as store:
        store.add_shop_key(new.record)
    print(new.key)
    sys.stderr.write(f"shop key {args.name!r} added: it is shown once, store it now\n")
    return 0


@_as_peernode_error
def _cmd_revoke_key(args: argparse.Namespace) -> int:
    from rentals.database import open_store

    config = _config(args)
    with closing(open_store(config.database, base_dir=config.base_dir)) as store:
        record = store.revoke_shop_key(args.name, now=datetime.now(UTC).replace(microsecond=0))
    if record is None:
        raise PeernodeError(f"no shop key named {args.name!r}")
    assert record.revoked_at is not None
    print(f"shop key {args.name!r} revoked at {record.revoked_at.isoformat()}")
    return 0


@_as_peernode_error
def _cmd_list_keys(args: argparse.Namespace) -> int:
    from rentals.database import open_store

    config = _config(args)
    with closing(open_store(config.database, base_dir=config.base_dir)) as store:
        for key in store.shop_keys():
            state = "active" if key.revoked_at is None else f"revoked {key.revoked_at.isoformat()}"
            print(f"{key.name}\tpnk_{key.key_id}_...\t{key.created_at.isoformat()}\t{state}")
    return 0


def _config_flag(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--config", required=required, metavar="FILE",
                   help="the service's TOML configuration")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``peernode rental-service`` and its shop-key commands."""
    p = sub.add_parser(
        "rental-service",
        help="the HTTPS rental service a shop's backend calls",
        description="Run the rental service (with --config and no command): an HTTPS JSON API"
        " (OpenAPI at /openapi.json) where the shop, with an API key, creates rentals"
        " (POST /v1/rentals), reads, lists and revokes them, and nodes renew their short-lived"
        " certificates (POST /v1/rentals/ID/renew, mutual TLS with the rental certificate). It"
        " publishes the CRL where trackers read it, serves /health and /metrics, and stops"
        " gracefully on SIGTERM. The TOML file has: listen (HOST:PORT), ca_dir, library,"
        " tls_cert, tls_key (from `peernode ca issue-server`), and optionally database"
        " (sqlite:///PATH, the default sqlite:///rentals.sqlite3, or postgresql://...),"
        " cert_lifetime_s (7200), crl (CA_DIR/crl.pem), crl_next_update_s (86400),"
        " max_rental_hours (720), public_url, shutdown_grace_s, handshake_timeout_s."
        " Unknown keys are refused.",
    )
    _config_flag(p, required=False)
    p.set_defaults(func=_cmd_serve)
    keys = p.add_subparsers(dest="rental_command", required=False, metavar="COMMAND")

    k = keys.add_parser("add-shop-key", help="create a shop API key (printed once)",
                        description="Create a named API key for the shop's backend and print"
                        " it once on stdout; only its scrypt hash is stored.")
    _config_flag(k, required=True)
    k.add_argument("--name", required=True, help="the key's name (e.g. shop-backend-2026)")
    k.set_defaults(func=_cmd_add_key)

    k = keys.add_parser("revoke-shop-key", help="end a shop API key",
                        description="Revoke the shop key named NAME: its next request gets 401"
                        " (the running service reads revocations from the database).")
    _config_flag(k, required=True)
    k.add_argument("--name", required=True, help="the key's name")
    k.set_defaults(func=_cmd_revoke_key)

    k = keys.add_parser("list-shop-keys", help="list the shop API keys (never the secrets)",
                        description="Print each key's name, id, creation time and state.")
    _config_flag(k, required=True)
    k.set_defaults(func=_cmd_list_keys)
