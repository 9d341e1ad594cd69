"""Subcommands of `peernode` provided by `certs`: ``ca ...`` and ``keygen``.

A thin shell: parse flags, call the PKI functions, write files atomically. Every
refusal is a `CertsError`, which `peernode.cli.main.main` prints as one line, exit 1.
Flags whose values need checking (dates, hours, serials) are parsed here rather
than by argparse ``type=`` so their errors are `CertsError`s too.
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from certs.authority.ca import CA, CRL_FILE
from certs.authority.crl_signing import refresh_crl, revoke
from certs.authority.renting import issue_rental_bundle
from certs.clock import as_utc
from certs.crl import revoked_serials
from certs.errors import CertsError
from certs.nodekey import generate_node_key, load_public_key, save_node_key
from certs.rental import (
    read_rental_certificate,
    read_rental_file,
    verify_rental_certificate,
)
from support.atomic_write import write_private

__all__ = ["register"]

_SERIAL = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+")


def _parse_serial(text: str) -> int:
    """A serial in decimal or 0x-hex (as `openssl x509 -serial` prints it)."""
    if not _SERIAL.fullmatch(text.strip()):
        raise CertsError(f"invalid serial {text!r}: give it in decimal or as 0x-hex")
    return int(text.strip(), 0) if text.strip()[:2].lower() == "0x" else int(text.strip(), 10)


def _parse_hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        raise CertsError(f"invalid --hours {text!r}: give a number of hours, e.g. 1.5") from None
    if not math.isfinite(hours) or hours <= 0:
        raise CertsError(f"invalid --hours {text!r}: must be a positive number of hours")
    return hours


def _parse_time(text: str) -> datetime:
    """An ISO 8601 instant with a timezone (``Z`` or ``+01:00``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CertsError(
            f"invalid --not-before {text!r}: use ISO 8601 with a timezone,"
            " e.g. 2026-05-01T20:00:00Z"
        ) from None
    return as_utc(moment, what="--not-before")


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise CertsError(f"{path} already exists; remove it first to replace it")


def _cmd_init(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    ca = CA.create(args.name, valid_days=args.valid_days)  # save() refuses an existing CA
    ca.save(directory)
    print(f"created CA {ca.name!r} in {directory} (ca.pem, ca.key, crl.pem)")
    return 0


def _cmd_issue_server(args: argparse.Namespace) -> int:
    ca = CA.load(args.ca_dir)
    issued = ca.issue_server(args.host, valid_days=args.valid_days)
    cert_path, key_path = issued.save(args.out, "server")
    print(f"wrote {cert_path} and {key_path} (serial {issued.cert.serial_number})")
    return 0


def _cmd_issue_seeder(args: argparse.Namespace) -> int:
    ca = CA.load(args.ca_dir)
    issued = ca.issue_seeder(valid_days=args.valid_days)
    cert_path, key_path = issued.save(args.out, "seeder")
    print(f"wrote {cert_path} and {key_path} (serial {issued.cert.serial_number})")
    return 0


def _cmd_rent(args: argparse.Namespace) -> int:
    hours = _parse_hours(args.hours)
    not_before = datetime.now(UTC) if args.not_before is None else _parse_time(args.not_before)
    out = Path(args.out)
    _refuse_existing(out)
    ca = CA.load(args.ca_dir)
    node_public_key = load_public_key(args.node_pub)
    bundle, certificate = issue_rental_bundle(
        ca,
        args.ca_dir,
        args.film_id,
        node_public_key,
        not_before=not_before,
        not_after=not_before + timedelta(hours=hours),
    )
    # 0600: a bundle names the film a customer rented.
    write_private(out, bundle)
    print(certificate.serial_number)
    return 0


def _cmd_host(args: argparse.Namespace) -> int:
    hours = _parse_hours(args.hours)
    not_before = datetime.now(UTC) if args.not_before is None else _parse_time(args.not_before)
    out = Path(args.out)
    _refuse_existing(out)
    ca = CA.load(args.ca_dir)
    certificate = ca.issue_hosting(
        args.film_id, load_public_key(args.node_pub),
        not_before=not_before, not_after=not_before + timedelta(hours=hours),
    )
    # 0600 like a rental: it names a film the customer hosts
    write_private(out, certificate.public_bytes(serialization.Encoding.PEM))
    print(certificate.serial_number)
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    ca = CA.load(args.ca_dir)
    if args.rental is not None:
        certificate = read_rental_certificate(read_rental_file(args.rental))
        _, serial = verify_rental_certificate(certificate, ca.cert)
    else:
        serial = _parse_serial(args.serial)
    crl = revoke(args.ca_dir, serial, next_update_hours=args.next_update_hours)
    print(f"revoked serial {serial} ({len(revoked_serials(crl))} revoked in total)")
    return 0


def _cmd_crl(args: argparse.Namespace) -> int:
    crl = refresh_crl(args.ca_dir, next_update_hours=args.next_update_hours)
    next_update = crl.next_update_utc.isoformat() if crl.next_update_utc else "none"
    print(
        f"re-signed {Path(args.ca_dir) / CRL_FILE}: {len(revoked_serials(crl))} revoked,"
        f" next update {next_update}"
    )
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    key_path, pub_path = save_node_key(args.out, generate_node_key())
    print(f"wrote {key_path} (keep it private) and {pub_path} (send it to the shop)")
    return 0


def _ca_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-dir", required=True, metavar="CA_DIR", help="directory made by `peernode ca init`"
    )


def _next_update_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--next-update-hours",
        type=float,
        default=24.0,
        metavar="H",
        help="the CRL's next-update time, in hours from now (default: 24)",
    )


def _register_ca(ca_sub: argparse._SubParsersAction[Any]) -> None:
    p = ca_sub.add_parser(
        "init",
        help="create a new operator CA",
        description="Create a P-256 CA: CA_DIR/ca.pem, CA_DIR/ca.key (0600) and an empty,"
        " signed CA_DIR/crl.pem. Refuses a directory that already holds a CA.",
    )
    p.add_argument("--dir", required=True, metavar="CA_DIR", help="where to create the CA")
    p.add_argument("--name", default="peernode operator CA", help="the CA's common name")
    p.add_argument(
        "--valid-days", type=int, default=3650, metavar="DAYS", help="CA lifetime (default: 3650)"
    )
    p.set_defaults(func=_cmd_init)

    p = ca_sub.add_parser(
        "issue-server",
        help="issue a tracker TLS server certificate",
        description="Issue DIR/server.pem and DIR/server.key (0600) for a tracker. Each --host"
        " becomes a subject alternative name: an IP address SAN for an IP, a DNS name otherwise.",
    )
    _ca_dir_flag(p)
    p.add_argument(
        "--host",
        action="append",
        required=True,
        metavar="HOST",
        help="DNS name or IP the tracker is reached at (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="where to write server.pem/.key")
    p.add_argument(
        "--valid-days", type=int, default=825, metavar="DAYS", help="lifetime (default: 825)"
    )
    p.set_defaults(func=_cmd_issue_server)

    p = ca_sub.add_parser(
        "issue-seeder",
        help="issue an origin seeder certificate (SAN *)",
        description="Issue DIR/seeder.pem and DIR/seeder.key (0600) for an origin seeder. Its SAN"
        " is '*', which peers accept for every film of this CA.",
    )
    _ca_dir_flag(p)
    p.add_argument("--out", required=True, metavar="DIR", help="where to write seeder.pem/.key")
    p.add_argument(
        "--valid-days", type=int, default=365, metavar="DAYS", help="lifetime (default: 365)"
    )
    p.set_defaults(func=_cmd_issue_seeder)

    p = ca_sub.add_parser(
        "rent",
        help="issue a rental bundle for a node",
        description="Issue a rental certificate for the node's public key (SAN = film id,"
        " validity = [not-before, not-before + hours)) and wrap the film's content key (from"
        " CA_DIR/keys, put there by `peernode package`) to that key. Writes RENTAL.pvr (0600)"
        " and prints the rental serial in decimal on stdout.",
    )
    _ca_dir_flag(p)
    p.add_argument("--film-id", required=True, metavar="ID", help="the film (torrent name)")
    p.add_argument(
        "--node-pub", required=True, metavar="NODE.pub", help="the node's public key (keygen)"
    )
    p.add_argument(
        "--hours", required=True, metavar="H", help="rental length in hours (fractions allowed)"
    )
    p.add_argument(
        "--not-before",
        metavar="ISO8601",
        help="window start with a timezone, e.g. 2026-05-01T20:00:00Z (default: now)",
    )
    p.add_argument("--out", required=True, metavar="RENTAL.pvr", help="bundle file to write")
    p.set_defaults(func=_cmd_rent)

    p = ca_sub.add_parser(
        "host",
        help="issue a hosting credential (ciphertext only, no content key) for a node",
        description="Issue a hosting certificate for an opted-in node's public key: SAN = film"
        " id (it joins that film's swarm only), the hosting policy (the tracker counts it as a"
        " host), validity = [not-before, not-before + hours), and no content key: the node can"
        " carry and serve the film's ciphertext but never decrypt it. Writes HOST.pvh (PEM,"
        " 0600) and prints the serial in decimal; `ca revoke --serial` revokes it.",
    )
    _ca_dir_flag(p)
    p.add_argument("--film-id", required=True, metavar="ID", help="the film (torrent name)")
    p.add_argument(
        "--node-pub", required=True, metavar="NODE.pub", help="the host node's public key"
    )
    p.add_argument(
        "--hours", required=True, metavar="H",
        help="hosting window in hours (from placement until some days after release)",
    )
    p.add_argument(
        "--not-before",
        metavar="ISO8601",
        help="window start with a timezone, e.g. 2026-05-01T20:00:00Z (default: now)",
    )
    p.add_argument("--out", required=True, metavar="HOST.pvh", help="credential file to write")
    p.set_defaults(func=_cmd_host)

    p = ca_sub.add_parser(
        "revoke",
        help="revoke a rental (or any certificate) by serial",
        description="Add a serial to CA_DIR/crl.pem and re-sign it (idempotent). Trackers"
        " reload the CRL and refuse the rental at once; peers do not read CRLs, so a revoked"
        " rental still works with peers it already knows until it expires.",
    )
    _ca_dir_flag(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--serial", metavar="SERIAL", help="serial in decimal or 0x-hex")
    which.add_argument("--rental", metavar="RENTAL.pvr", help="revoke the rental in this bundle")
    _next_update_flag(p)
    p.set_defaults(func=_cmd_revoke)

    p = ca_sub.add_parser(
        "crl",
        help="re-sign the CRL with a fresh next-update time",
        description="Re-sign CA_DIR/crl.pem with the same revoked serials and a new next-update"
        " time; run it before the current one passes (e.g. daily from cron).",
    )
    _ca_dir_flag(p)
    _next_update_flag(p)
    p.set_defaults(func=_cmd_crl)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``peernode ca ...`` and ``peernode keygen`` to the `peernode` parser."""
    ca = sub.add_parser(
        "ca",
        help="operator certificate authority: CA, certificates, rentals, revocation",
        description="The operator's PKI. Run `peernode ca COMMAND --help` for each command.",
    )
    ca_sub = ca.add_subparsers(dest="ca_command", required=True, metavar="COMMAND")
    _register_ca(ca_sub)

    p = sub.add_parser(
        "keygen",
        help="create this node's key pair",
        description="Create DIR/node.key (P-256, PKCS#8 PEM, 0600) and DIR/node.pub. Send"
        " node.pub to the shop to rent films; node.key never leaves the node. Refuses to"
        " overwrite an existing node.key.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="where to write node.key/.pub")
    p.set_defaults(func=_cmd_keygen)
