"""`peernode place`: assign a film to N opted-in hosts before its release (operator).

Files (JSON, written atomically):

- HOSTS.json, the opted-in hosts the operator (or the rental service) knows::

      {"hosts": [{"name": "h1", "address": "198.51.100.7", "node_pub": "keys/h1.pub",
                  "quota_bytes": 20000000000, "online": true}, ...]}

  ``node_pub`` is relative to the file's directory; ``online: false`` marks a host that
  left (its copies are replaced).
- STATE.json, what is placed where: ``{"films": {FILM: {"bytes": N,
  "hosts": {NAME: SERIAL}}}}`` (created if missing).

For each host added, a hosting credential ``OUT/NAME/FILM.pvh`` is issued (SAN = film
id, no content key); each host dropped has its credential revoked on the CA's CRL, so
the tracker refuses it at once. ``--progress URL`` reads the tracker's ``/hosts.json``
(metrics listener) and reports each placed host's progress.

With ``--service URL`` (and ``--service-key-file``, ``--service-ca``) the credentials are
issued and revoked by the rental service (`peernode.cli.place_service`) instead of the
CA on disk: they are in its store, renew over mutual TLS, and their revocations go on
the CRL it publishes. STATE.json then also keeps each host's dropped hosting ids
(``dropped``), which make the Idempotency-Key of a host placed again a new one. The plan
then names the service (``service_url``): the placement handed to each host carries it
with the ``.pvh`` (the daemon's ``PUT /v1/hostings/{film}`` field ``service_url``,
``peernode host --service``), so that the host renews its short-lived credential there.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import libtorrent as lt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certs import load_public_key
from certs.authority import CA, revoke
from peernode.cli.place_service import ServiceIssuer
from peernode.errors import PeernodeError
from support.atomic_write import write_atomic, write_private
from tracker.errors import ConfigError
from tracker.placement import HostEntry, plan_placement

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `place`."""
    p = sub.add_parser(
        "place",
        help="assign a film to N opted-in hosts before its release (pre-positioning)",
        description="Plan where the copies of a film's ciphertext go: COPIES hosts spread "
        "over the locality networks, keeping hosts that still have it, replacing hosts that "
        "left or ran out of quota, never over a host's quota. Issues a hosting credential "
        "for each host added (OUT/NAME/FILM.pvh) and revokes those of hosts dropped. Prints "
        "the plan as one JSON line.",
    )
    p.add_argument("--hosts", required=True, type=Path, metavar="HOSTS.json",
                   help="the opted-in hosts (name, address, node_pub, quota_bytes, online)")
    p.add_argument("--state", required=True, type=Path, metavar="STATE.json",
                   help="what is placed where (created if missing, updated atomically)")
    p.add_argument("--torrent", required=True, type=Path, metavar="TORRENT",
                   help="the film's torrent (its name is the film id, its size the disk cost)")
    p.add_argument("--copies", required=True, type=int, metavar="N", help="copies wanted")
    p.add_argument("--ca-dir", type=Path, metavar="CA_DIR",
                   help="the CA that issues hosting credentials (or give --service)")
    p.add_argument("--service", metavar="URL",
                   help="issue and revoke through the rental service at URL (POST "
                   "/v1/hostings) instead of the CA on disk: its credentials renew over "
                   "mutual TLS and its CRL lists their revocations (the plan names it: "
                   "hosts renew there)")
    p.add_argument("--service-key-file", type=Path, metavar="FILE",
                   help="with --service: a file holding the shop/operator key (pnk_...)")
    p.add_argument("--service-ca", type=Path, metavar="CA.pem",
                   help="with --service: the CA certificate that checks the service's TLS "
                   "(default: CA_DIR/ca.pem)")
    p.add_argument("--hours", type=float, default=24.0 * 14, metavar="H",
                   help="hosting window from now, in hours (default 336: placement until "
                   "some days after release)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="where the new credentials go (DIR/NAME/FILM.pvh)")
    p.add_argument("--progress", metavar="URL",
                   help="the tracker's metrics listener, e.g. http://127.0.0.1:9100: report "
                   "each placed host's progress from its /hosts.json")
    p.set_defaults(func=_cmd_place)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PeernodeError(f"cannot read {what} {path}: {e.strerror}") from None
    except ValueError:
        raise PeernodeError(f"{what} {path} is not JSON") from None
    if not isinstance(data, dict):
        raise PeernodeError(f"{what} {path} is not a JSON object")
    return data


def _hosts(path: Path) -> tuple[list[HostEntry], dict[str, Path]]:
    data = _read_json(path, "hosts file")
    rows = data.get("hosts")
    if not isinstance(rows, list):
        raise PeernodeError(f"hosts file {path}: needs a \"hosts\" list")
    hosts, keys = [], {}
    for row in rows:
        try:
            host = HostEntry(name=str(row["name"]), address=str(row["address"]),
                             quota_bytes=int(row["quota_bytes"]),
                             online=bool(row.get("online", True)))
            keys[host.name] = path.parent / str(row["node_pub"])
        except (KeyError, TypeError, ValueError) as e:
            raise PeernodeError(f"hosts file {path}: bad host entry {row!r} ({e})") from None
        except ConfigError as e:
            raise PeernodeError(f"hosts file {path}: {e}") from None
        hosts.append(host)
    return hosts, keys


def _film(torrent: Path) -> tuple[str, int]:
    if not torrent.is_file():
        raise PeernodeError(f"torrent {torrent} does not exist")
    try:
        ti = lt.torrent_info(str(torrent))
    except RuntimeError as e:
        raise PeernodeError(f"not a valid torrent: {e}") from None
    return ti.name(), int(ti.layout().file_size(0))


def _progress(url: str, film_id: str) -> list[dict[str, Any]]:
    if not url.startswith(("http://", "https://")):
        raise PeernodeError(f"--progress {url!r}: give an http:// URL of the metrics listener")
    try:
        with urllib.request.urlopen(  # noqa: S310 (http(s) only, checked above)
            url.rstrip("/") + "/hosts.json", timeout=10
        ) as reply:
            data = json.loads(reply.read())
    except (OSError, ValueError) as e:
        raise PeernodeError(f"cannot read hosts' progress from {url}: {e}") from None
    rows = data.get("films", {}).get(film_id, [])
    return rows if isinstance(rows, list) else []


def _service_issuer(args: argparse.Namespace) -> ServiceIssuer | None:
    if args.service is None:
        if args.ca_dir is None:
            raise PeernodeError("give --ca-dir (the CA on disk) or --service (the rental service)")
        return None
    if args.service_key_file is None:
        raise PeernodeError("--service needs --service-key-file (the shop/operator key)")
    ca_file = args.service_ca or (None if args.ca_dir is None else args.ca_dir / "ca.pem")
    if ca_file is None:
        raise PeernodeError("--service needs --service-ca (or --ca-dir) to check its TLS")
    return ServiceIssuer(args.service, args.service_key_file, ca_file)


def _cmd_place(args: argparse.Namespace) -> int:
    if args.copies < 0:
        raise PeernodeError("--copies must not be negative")
    if not args.hours > 0:
        raise PeernodeError("--hours must be positive")
    film_id, film_bytes = _film(args.torrent)
    hosts, keys = _hosts(args.hosts)
    state = _read_json(args.state, "state file") if args.state.exists() else {"films": {}}
    films: dict[str, Any] = state.setdefault("films", {})
    assigned = {f: dict.fromkeys(v.get("hosts", {}), int(v.get("bytes", 0)))
                for f, v in films.items()}
    try:
        plan = plan_placement(film_id, film_bytes, args.copies, hosts, assigned)
    except ConfigError as e:
        raise PeernodeError(str(e)) from None
    service = _service_issuer(args)
    ca = CA.load(args.ca_dir) if service is None else None
    record = films.setdefault(film_id, {"bytes": film_bytes, "hosts": {}})
    record["bytes"] = film_bytes
    now = datetime.now(UTC)
    issued: dict[str, int] = {}
    dropped: dict[str, list[int]] = record.setdefault("dropped", {})
    for name in plan.add:  # every credential first: a refusal leaves the state untouched
        node_key = load_public_key(keys[name])
        if service is not None:
            pem = node_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            serial, credential = service.issue(film_id, name, pem.decode("ascii"),
                                               args.hours, len(dropped.get(name, [])))
        else:
            assert ca is not None
            certificate = ca.issue_hosting(film_id, node_key, not_before=now,
                                           not_after=now + timedelta(hours=args.hours))
            serial, credential = certificate.serial_number, certificate.public_bytes(
                Encoding.PEM)
        out = args.out / name / f"{film_id}.pvh"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_private(out, credential)
        issued[name] = serial
    for name in plan.drop:
        serial = record["hosts"].pop(name, None)
        if serial is not None:
            if service is not None:
                service.revoke(int(serial), "placement: host dropped")
                dropped.setdefault(name, []).append(int(serial))
            else:
                revoke(args.ca_dir, int(serial))
    record["hosts"].update(issued)
    write_atomic(args.state, json.dumps(state, indent=1, sort_keys=True).encode())
    summary: dict[str, Any] = {
        "film_id": film_id, "copies": args.copies, "keep": list(plan.keep),
        "add": list(plan.add), "drop": list(plan.drop), "shortfall": plan.shortfall,
        "networks": plan.networks,
    }
    if service is not None:  # what each host needs with its .pvh to renew it there
        summary["service_url"] = service.url
    if args.progress:
        addresses = {h.name: h.address for h in hosts}
        rows = _progress(args.progress, film_id)
        summary["progress"] = {
            name: next((r for r in rows if str(r.get("address", "")).rsplit(":", 1)[0]
                        .strip("[]") == addresses[name]), None)
            for name in plan.hosts
        }
    print(json.dumps(summary, sort_keys=True))
    return 0
