"""Benchmark: the rental service's renewals and creates, on SQLite and on PostgreSQL,
beside the cost of the signature itself (ECDSA P-256 on this core).

For each database, a real ``peernode rental-service`` process on loopback is driven
over HTTPS by this process:

- ``renew``: back-to-back renewals over keep-alive mutual-TLS connections
  (``--clients`` threads) for ``--seconds``: renewals/s, p50/p99 (ms), and the
  **server CPU ms per renewal** (utime+stime from /proc over the renewals answered),
  the figure that says what one core sustains when generator and server share 2 cores;
- ``create_paced``: creates offered at ``--create-rate``/s (open loop, several
  threads), each with its own Idempotency-Key: achieved rate, p50/p99 (ms).

In-process (no HTTP, no TLS) for the same store: ``core_renew_us`` and
``core_create_us``, medians per operation. The anchors, measured in the same run:
``ecdsa_sign_us`` (one P-256 signature of a SHA-256 digest) and ``cert_sign_us``
(building and signing one rental certificate, `CA.issue_rental`).
Each figure is the median of ``--runs`` runs; the 1-minute load average at start and
end says how busy the (shared) machine was. Prints ONE JSON line.

    .venv/bin/python bench/rental_service.py [--seconds 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import certs
from certs.authority import CA, save_content_key
from rentals.catalog import Catalog
from rentals.database import open_store
from rentals.service import RentalService
from rentals.shop_keys import new_shop_key
from support.atomic_write import write_private
from support.processes import free_port, peernode_argv

FILM = "bench-film"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Setup:
    """A CA, a film, TLS files, a config and a shop key in a temp dir."""

    def __init__(self, root: Path, database: str) -> None:
        self.dir = root
        self.database = database
        self.ca = CA.create()
        self.ca.save(root / "ca")
        self.ca.issue_server(["127.0.0.1"]).save(root, "server")
        (root / "library").mkdir()
        (root / "library" / f"{FILM}.torrent").write_bytes(b"t")
        save_content_key(root / "ca", FILM, os.urandom(32))
        self.port = free_port("127.0.0.1")
        (root / "rentals.toml").write_text(
            f'listen = "127.0.0.1:{self.port}"\nca_dir = "ca"\nlibrary = "library"\n'
            f'tls_cert = "server.pem"\ntls_key = "server.key"\ndatabase = "{database}"\n'
            "max_rental_hours = 100000\n"
        )
        store = open_store(database, base_dir=root)
        self.key = new_shop_key("bench", now=datetime.now(UTC))
        store.add_shop_key(self.key.record)
        store.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.cert_pem.decode())

    def node_verify(self, bundle: bytes, key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
        ctx = self.verify()
        cert = certs.read_rental_certificate(bundle).public_bytes(Encoding.PEM)
        name = os.urandom(4).hex()
        (self.dir / f"{name}.pem").write_bytes(cert)
        write_private(self.dir / f"{name}.key", certs.private_key_pem(key))
        ctx.load_cert_chain(self.dir / f"{name}.pem", self.dir / f"{name}.key")
        return ctx


@contextlib.contextmanager
def _service(setup: Setup) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(peernode_argv("rental-service", "--config", setup.dir / "rentals.toml"),
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{setup.url}/health", verify=setup.verify(), timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("rental-service did not start") from None
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def _create(client: httpx.Client, pub: str, idem: str) -> dict[str, Any]:
    r = client.post("/v1/rentals", json={"film_id": FILM, "node_public_key": pub, "hours": 1000},
                    headers={"Idempotency-Key": idem})
    if r.status_code != 201:
        raise RuntimeError(f"create failed: {r.status_code} {r.text}")
    value: dict[str, Any] = r.json()
    return value


def _renewals(setup: Setup, proc: subprocess.Popen[bytes], clients: int, seconds: float
              ) -> dict[str, float]:
    shop = httpx.Client(base_url=setup.url, verify=setup.verify(),
                        headers={"Authorization": f"Bearer {setup.key.key}"})
    nodes = []
    for i in range(clients):
        key = certs.generate_node_key()
        pub = certs.public_key_pem(key.public_key()).decode()
        made = _create(shop, pub, f"r{os.urandom(6).hex()}{i}")
        ctx = setup.node_verify(base64.b64decode(made["bundle"]), key)
        nodes.append((httpx.Client(base_url=setup.url, verify=ctx), made["rental_id"]))
    shop.close()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(client: httpx.Client, rental_id: str) -> None:
        mine = []
        client.post(f"/v1/rentals/{rental_id}/renew")  # connect (handshake) before timing
        while time.monotonic() < stop:
            t = time.perf_counter()
            r = client.post(f"/v1/rentals/{rental_id}/renew")
            mine.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(f"renewal failed: {r.status_code} {r.text}")
        with lock:
            latencies.extend(mine)

    cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
    threads = [threading.Thread(target=run, args=node) for node in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.monotonic() - t0, _cpu_s(proc.pid) - cpu0
    for client, _ in nodes:
        client.close()
    n = len(latencies)
    return {"renewals_per_s": n / elapsed, "p50_ms": 1000 * _percentile(latencies, 0.5),
            "p99_ms": 1000 * _percentile(latencies, 0.99), "server_cpu_ms": 1000 * cpu / n}


def _paced_creates(setup: Setup, rate: float, seconds: float, threads: int = 8
                   ) -> dict[str, float]:
    pub = certs.public_key_pem(certs.generate_node_key().public_key()).decode()
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    total = int(rate * seconds)

    def run(k: int) -> None:
        client = httpx.Client(base_url=setup.url, verify=setup.verify(),
                              headers={"Authorization": f"Bearer {setup.key.key}"})
        client.get("/health")
        mine = []
        for i in range(k, total, threads):
            due = start + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            t = time.perf_counter()
            _create(client, pub, f"c{os.urandom(8).hex()}")
            # open loop: latency counted from when the request was due
            mine.append(time.perf_counter() - t + max(0.0, -wait))
        with lock:
            latencies.extend(mine)
        client.close()

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - max(t0, start)
    return {"creates_per_s": len(latencies) / elapsed, "p50_ms": 1000 * _percentile(latencies, 0.5),
            "p99_ms": 1000 * _percentile(latencies, 0.99)}


def _core(setup: Setup, n: int) -> dict[str, float]:
    store = open_store(setup.database, base_dir=setup.dir)
    service = RentalService(store, setup.ca, Catalog(setup.dir / "library", setup.dir / "ca"),
                            lifetime=timedelta(hours=2), max_rental_hours=100000)
    key = certs.generate_node_key()
    pub = certs.public_key_pem(key.public_key()).decode()
    now = datetime.now(UTC)
    creates, renewals = [], []
    issued = None
    for i in range(n):
        t = time.perf_counter()
        issued = service.create(setup.key.record, {"film_id": FILM, "node_public_key": pub,
                                                   "hours": 1000},
                                idempotency_key=f"core-{os.urandom(6).hex()}-{i}", now=now)
        creates.append(time.perf_counter() - t)
    assert issued is not None
    der = certs.read_rental_certificate(issued.bundle).public_bytes(Encoding.DER)
    for _ in range(n):
        t = time.perf_counter()
        service.renew(issued.record.rental_id, der, now=now)
        renewals.append(time.perf_counter() - t)
    store.close()
    return {"core_create_us": 1e6 * statistics.median(creates),
            "core_renew_us": 1e6 * statistics.median(renewals)}


def _anchors(n: int) -> dict[str, float]:
    ca = CA.create()
    digest = os.urandom(32)
    t = time.perf_counter()
    for _ in range(n):
        ca.key.sign(digest, ec.ECDSA(hashes.SHA256()))
    sign = (time.perf_counter() - t) / n
    node = certs.generate_node_key().public_key()
    now = datetime.now(UTC)
    t = time.perf_counter()
    for _ in range(n):
        ca.issue_rental(FILM, node, not_before=now, not_after=now + timedelta(hours=2))
    cert = (time.perf_counter() - t) / n
    return {"ecdsa_sign_us": 1e6 * sign, "cert_sign_us": 1e6 * cert}


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def _databases() -> Iterator[tuple[str, Callable[[], str] | None]]:
    yield "sqlite", None
    from tests.rentals.postgres import PostgresServer, find_postgres_bin

    bin_dir = find_postgres_bin()
    if bin_dir is None:
        return
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield "postgresql", server.create_database
    finally:
        server.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--create-rate", type=float, default=200.0)
    parser.add_argument("--core-ops", type=int, default=300)
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "rental_service", "runs": args.runs,
                              "loadavg_1m_start": round(os.getloadavg()[0], 2),
                              "seconds": args.seconds, "clients": args.clients,
                              "anchor": _median_of([_anchors(2000) for _ in range(args.runs)])}
    for name, make_database in _databases():
        runs: dict[str, list[dict[str, float]]] = {"renew": [], "create_paced": [], "core": []}
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-rentals-") as tmp:
                database = "sqlite:///rentals.sqlite3" if make_database is None \
                    else make_database()
                setup = Setup(Path(tmp), database)
                runs["core"].append(_core(setup, args.core_ops))
                with _service(setup) as proc:
                    runs["renew"].append(_renewals(setup, proc, args.clients, args.seconds))
                    runs["create_paced"].append(
                        _paced_creates(setup, args.create_rate, args.seconds))
        result[name] = {k: _median_of(v) for k, v in runs.items()}
    sign_us = result["anchor"]["cert_sign_us"]
    result["goal"] = {"renewals_per_s_one_core": 500, "create_p99_ms_at_200_per_s": 50}
    for name in ("sqlite", "postgresql"):
        if name in result:
            cpu_ms = result[name]["renew"]["server_cpu_ms"]
            result[name]["renewals_per_core_s"] = round(1000 / cpu_ms, 1)
            result[name]["renew_cpu_vs_cert_sign"] = round(1000 * cpu_ms / sign_us, 2)
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)  # the machine is shared
    print(json.dumps(result))


if __name__ == "__main__":
    main()
