"""How long after the shop revokes a rental does that node still get bytes from peers?

Real rental service (SQLite, TLS), real libtorrent nodes on loopback: an origin and an
honest customer (peernode nodes, which cycle connections older than the age bound), and
a *revoked* node that does not stop by itself (a bare libtorrent session that keeps
downloading and reconnecting). The shop revokes its rental at a chosen point of its
certificate's life; the revoked node's last received byte is timed.

The goal: the last byte within the configured lifetime L of the revocation (certificates
last 0.8 L, honest nodes end connections older than 0.2 L; the origin here at L/5).
Anchor, side by side in the same run: the moment its certificate expires. No design in
which peers read no CRL can cut a node off before that (a peer admits a valid
certificate); cycling adds at most the age bound after it. Prints one JSON line: medians
over the runs of revocation -> last byte, revocation -> certificate expiry, and their
difference (the tail cycling costs), with the lifetime and bound. The last byte is read
per connection (`tests.rentals.last_byte.LastByte`). The machine has 2
cores shared with other engineers' jobs; figures are timings on loopback.

    .venv/bin/python bench/revocation.py [--runs 3] [--lifetime 10]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import libtorrent as lt
import trio
from cryptography.hazmat.primitives.serialization import Encoding

import certs
from certs.authority import CA, save_content_key
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.session_settings import add_ssl_torrent, make_session
from rentals.config import RentalServiceConfig
from rentals.database import open_store
from rentals.server import RunningRentalService, serve_rental_service
from rentals.shop_keys import new_shop_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package

from tests.rentals.last_byte import LastByte

FILM = "bench-film"
SIZE = 8 * 1024 * 1024


def _make_film(library: Path, ca: CA) -> lt.torrent_info:
    library.mkdir(parents=True, exist_ok=True)
    (library / FILM).write_bytes(os.urandom(SIZE))
    ct = lt.create_torrent([lt.create_file_entry(FILM, SIZE)], 64 * 1024,
                           lt.create_torrent.v2_only)
    ct.set_priv(True)
    ct.set_root_cert(ca.cert_pem.decode())
    ct.add_tracker("https://127.0.0.1:1/announce")
    lt.set_piece_hashes(ct, str(library))
    path = library / f"{FILM}.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    return lt.torrent_info(str(path))


class Setup:
    def __init__(self, root: Path, lifetime_s: float) -> None:
        self.root, self.ca = root, CA.create()
        ca_dir = root / "ca"
        self.ca.save(ca_dir)
        self.ca.issue_server(["127.0.0.1"]).save(root / "tls", "server")
        self.ti = _make_film(root / "library", self.ca)
        save_content_key(ca_dir, FILM, os.urandom(32))
        self.config = RentalServiceConfig(
            listen_host="127.0.0.1", listen_port=0, ca_dir=ca_dir, library=root / "library",
            tls_cert=root / "tls" / "server.pem", tls_key=root / "tls" / "server.key",
            database="sqlite:///rentals.sqlite3", base_dir=root, cert_lifetime_s=lifetime_s,
        )
        store = open_store(self.config.database, base_dir=root)
        try:
            new = new_shop_key("bench", now=datetime.now(UTC).replace(microsecond=0))
            store.add_shop_key(new.record)
        finally:
            store.close()
        self.shop_key = new.key

    @contextlib.asynccontextmanager
    async def shop(self, url: str) -> AsyncIterator[httpx.AsyncClient]:
        import ssl

        ctx = ssl.create_default_context(cadata=self.ca.cert_pem.decode())
        async with httpx.AsyncClient(base_url=url, verify=ctx, headers={
                "Authorization": f"Bearer {self.shop_key}"}) as client:
            yield client


async def _rent(setup: Setup, url: str, pub: str) -> dict[str, Any]:
    async with setup.shop(url) as shop:
        r = await shop.post("/v1/rentals", json={"film_id": FILM, "node_public_key": pub,
                                                 "hours": 1})
        r.raise_for_status()
        value: dict[str, Any] = r.json()
        return value


async def one_run(setup: Setup, running: RunningRentalService, revoke_at_fraction: float,
                  age_s: float, run: int) -> dict[str, float]:
    lifetime = setup.config.cert_lifetime_s
    seeder = setup.ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))
    node_config = NodeConfig(listen_host="127.0.0.1", port_mapping=False)
    async with open_node(NodeConfig(listen_host="127.0.0.1", port_mapping=False, origin=True,
                                    max_connection_age_s=age_s)) as origin, \
            open_node(node_config) as honest:
        origin.add_seed(setup.ti, save_path=setup.root / "library", cert_pem=seeder.cert_pem,
                        key_pem=seeder.key_pem)
        peers = [("127.0.0.1", origin.ssl_port), ("127.0.0.1", honest.ssl_port)]
        key = certs.generate_node_key()
        created = await _rent(setup, running.url, certs.public_key_pem(key.public_key()).decode())
        download = await honest.fetch(setup.ti, base64.b64decode(created["bundle"]), key,
                                      save_dir=setup.root / f"honest{run}", peers=peers[:1])
        await download.complete()

        bad_key = certs.generate_node_key()
        bad = await _rent(setup, running.url,
                          certs.public_key_pem(bad_key.public_key()).decode())
        cert = certs.read_rental_certificate(base64.b64decode(bad["bundle"]))
        session = make_session(limit_local_peers=True, settings={"min_reconnect_time": 1})
        try:
            handle = add_ssl_torrent(session, setup.ti, setup.root / f"bad{run}",
                                     cert_pem=cert.public_bytes(Encoding.PEM),
                                     key_pem=certs.private_key_pem(bad_key))
            handle.replace_trackers([])
            handle.set_download_limit(64 * 1024)
            for peer in peers:
                handle.connect_peer(peer)
            with trio.fail_after(20):  # bytes from both the origin and the customer
                while sum(1 for p in handle.get_peer_info() if p.total_download > 0) < 2:
                    await trio.sleep(0.05)
            # at that fraction of the certificate's use at peers (through notAfter's second)
            usable = cert.not_valid_after_utc + timedelta(seconds=1) - cert.not_valid_before_utc
            revoke_at = cert.not_valid_before_utc + usable * revoke_at_fraction
            await trio.sleep(max(0.0, (revoke_at - datetime.now(UTC)).total_seconds()))
            async with setup.shop(running.url) as shop:
                (await shop.post(f"/v1/rentals/{bad['rental_id']}/revoke",
                                 json={"reason": "bench"})).raise_for_status()
            revoked = datetime.now(UTC)
            expires = cert.not_valid_after_utc
            last, quiet = LastByte(revoked), None
            with trio.fail_after(lifetime + 10 * age_s + 20):
                while True:
                    for peer in peers:
                        handle.connect_peer(peer)
                    await trio.sleep(0.05)
                    now = datetime.now(UTC)
                    last.look(handle, now)
                    busy = lt.peer_info.connecting | lt.peer_info.handshake
                    connected = [p for p in handle.get_peer_info() if not p.flags & busy]
                    if connected or now < expires:
                        quiet = None
                    elif quiet is None:
                        quiet = now
                    elif (now - quiet).total_seconds() > 3:
                        break
        finally:
            session.pause()
            del session
    return {"last_byte_s": (last.at - revoked).total_seconds(),
            "expiry_s": (expires - revoked).total_seconds()}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    age = args.lifetime / 5  # the origin's bound: at most L/5
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp), args.lifetime)
        results = []
        async with trio.open_nursery() as nursery:
            running: RunningRentalService = await nursery.start(serve_rental_service,
                                                                setup.config)
            for run in range(args.runs):
                # revoke early, in the middle and late in the certificate's life
                fraction = 0.15 + 0.6 * run / max(1, args.runs - 1)
                results.append(await one_run(setup, running, fraction, age, run))
            running.shutdown()
    last = [r["last_byte_s"] for r in results]
    expiry = [r["expiry_s"] for r in results]
    tail = [a - b for a, b in zip(last, expiry, strict=True)]
    return {
        "bench": "revocation",
        "runs": args.runs,
        "lifetime_s": args.lifetime,
        "age_bound_s": age,
        "revocation_to_last_byte_s_median": round(statistics.median(last), 2),
        "revocation_to_last_byte_s_max": round(max(last), 2),
        "anchor_revocation_to_certificate_expiry_s_median": round(statistics.median(expiry), 2),
        "tail_after_expiry_s_median": round(statistics.median(tail), 2),
        "tail_after_expiry_s_max": round(max(tail), 2),
        "ratio_last_byte_to_expiry": round(statistics.median(last) / statistics.median(expiry),
                                           2),
        "goal_s": args.lifetime,
        "within_goal": sum(1 for x in last if x <= args.lifetime),
        "load": Path("/proc/loadavg").read_text().split()[:3],
        "per_run": [{k: round(v, 2) for k, v in r.items()} for r in results],
        "machine": "2 cores shared with other engineers' jobs; loopback",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lifetime", type=float, default=10.0,
                        help="the service's certificate lifetime, seconds (at least 10)")
    args = parser.parse_args()
    print(json.dumps(trio.run(main_async, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
