"""Benchmark: the tracker's memory under a hostile flood (issue 15), on loopback.

A `peernode tracker` process; ``--connections`` hostile connections (default 20,000)
from a generator process with ``--workers`` threads, in turn: idle TCP connections
that never start TLS (held 1 s), random garbage over TCP, handshakes with a
certificate from another CA, requests over the head limit (64 KiB lines, valid
rental), and slowloris (valid rental, one byte every 0.5 s for 2 s). The tracker's
RSS (from /proc) is sampled every 0.1 s, and so are its open descriptors
(``open_connections_peak``: connections held at once, over the idle count);
``growth_peak_mib`` = peak during the flood minus the baseline taken after one valid
announce, ``growth_after_mib`` = RSS ``--settle`` seconds after the flood minus that
baseline. The anchor, measured side by side in each run: the same tracker's growth
over ``--valid`` valid announces (a new mutual-TLS connection each, what libtorrent
does), ``anchor_valid_growth_mib``. Medians of ``--runs`` runs (a fresh tracker each).
Goal: peak growth at most 32 MiB, and back near the baseline after.

``--tls-library`` (given again for more; default both) picks the tracker's TLS
library (its ``tls_library`` key): the runs alternate between them, each library's
medians are keyed by its name, and with both the ratio of their peak growths is
printed. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

# This file is bench/tracker_flood.py: its directory comes first on sys.path when run
# as a script and would shadow nothing, but keep the project's imports explicit.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

from certs import generate_node_key, private_key_pem  # noqa: E402
from certs.authority import CA  # noqa: E402
from sim.backends.launcher import tracker_args  # noqa: E402
from sim.backends.provision import OperatorFiles, provision_operator  # noqa: E402
from support.atomic_write import write_private  # noqa: E402
from support.processes import free_port, peernode_argv  # noqa: E402

HOST = "127.0.0.1"
FILM_ID = "flood-film"
GOAL_MIB = 32.0
LIBRARIES = ("bundled", "system")
KINDS = ("idle", "garbage", "bad_cert", "oversized", "slowloris")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _open_fds(pid: int) -> int:
    """The tracker's open descriptors: its accepted connections, and a few of its own."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rental(files: OperatorFiles, name: str, ca: CA | None = None) -> tuple[Path, Path]:
    key = generate_node_key()
    now = datetime.now(UTC)
    cert = (ca or files.ca).issue_rental(FILM_ID, key.public_key(),
                                         not_before=now - timedelta(hours=1),
                                         not_after=now + timedelta(hours=1))
    cert_path, key_path = files.workdir / f"{name}.pem", files.workdir / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    write_private(key_path, private_key_pem(key))
    return cert_path, key_path


def _context(ca_pem: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_pem))
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    return ctx


# -- the generator (run as its own process: ``--flood``) ----------------------------


def flood(port: int, total: int, workers: int, good: ssl.SSLContext,
          bad: ssl.SSLContext) -> dict[str, int]:
    """``total`` hostile connections, kinds in turn, from ``workers`` threads."""
    counts = dict.fromkeys(KINDS, 0)
    lock = threading.Lock()
    issued = [0]

    def next_kind() -> str | None:
        with lock:
            if issued[0] >= total:
                return None
            kind = KINDS[issued[0] % len(KINDS)]
            issued[0] += 1
            counts[kind] += 1
            return kind

    def one(kind: str) -> None:
        with socket.create_connection((HOST, port), timeout=5) as tcp:
            if kind == "idle":
                time.sleep(1)
            elif kind == "garbage":
                tcp.sendall(os.urandom(4096))
                tcp.recv(4096)
            elif kind == "bad_cert":
                with bad.wrap_socket(tcp) as s:
                    s.sendall(b"GET /announce HTTP/1.1\r\nHost: t\r\n\r\n")
                    s.recv(4096)
            elif kind == "oversized":
                with good.wrap_socket(tcp) as s:
                    s.sendall(b"GET /announce?" + b"x" * 65536 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
                    s.recv(4096)
            else:  # slowloris
                with good.wrap_socket(tcp) as s:
                    for byte in b"GET ":
                        s.sendall(bytes([byte]))
                        time.sleep(0.5)

    def work() -> None:
        while (kind := next_kind()) is not None:
            with contextlib.suppress(OSError):
                one(kind)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


# -- one run ---------------------------------------------------------------------------


def _announce(files: OperatorFiles, ctx: ssl.SSLContext, n: int) -> None:
    query = urlencode({
        "info_hash": files.packaged.info_hash_v2_truncated,
        "peer_id": b"-FLD001-" + (n % 4).to_bytes(12, "big"), "port": 30000 + n % 4,
        "uploaded": 0, "downloaded": 0, "left": 1000, "compact": 1,
    })
    with socket.create_connection((HOST, files.tracker_port), timeout=10) as tcp, \
            ctx.wrap_socket(tcp) as s:
        s.sendall(f"GET /announce?{query} HTTP/1.1\r\nHost: {HOST}\r\n"
                  "Connection: close\r\n\r\n".encode())
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    if not raw.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"announce failed: {raw[:80]!r}")


def one_run(args: argparse.Namespace, work: Path, library: str) -> dict[str, float]:
    film = work / "film.bin"
    film.write_bytes(os.urandom(300_000))
    files = provision_operator(work, tracker_host=HOST, tracker_port=free_port(HOST),
                               now=datetime.now(UTC) - timedelta(hours=1), film=film,
                               film_id=FILM_ID, ca_name="flood bench CA")
    good_cert, good_key = _rental(files, "good")
    bad_cert, bad_key = _rental(files, "bad", CA.create("another operator",
                                                        now=datetime.now(UTC)))
    good = _context(files.ca_cert, good_cert, good_key)
    config = work / "tracker.toml"
    config.write_text(f'tls_library = "{library}"\n')
    log = (work / "tracker.log").open("ab")
    tracker = subprocess.Popen([*peernode_argv(), *tracker_args(files, HOST, config=config)],
                               stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _announce(files, good, 0)
                break
            except OSError:
                if time.monotonic() > deadline or tracker.poll() is not None:
                    raise
                time.sleep(0.1)
        time.sleep(1)
        # anchor: valid announces, each a new mutual-TLS connection
        anchor_base = _rss_kib(tracker.pid)
        for n in range(args.valid):
            _announce(files, good, n)
        time.sleep(1)
        anchor_growth = _rss_kib(tracker.pid) - anchor_base
        base = _rss_kib(tracker.pid)
        started = time.monotonic()
        generator = subprocess.Popen(
            [sys.executable, __file__, "--flood", str(files.tracker_port),
             str(args.connections), str(args.workers), str(files.ca_cert), str(good_cert),
             str(good_key), str(bad_cert), str(bad_key)],
            stdout=subprocess.PIPE)
        peak, fds_base, fds_peak = base, _open_fds(tracker.pid), 0
        while generator.poll() is None:
            peak = max(peak, _rss_kib(tracker.pid))
            fds_peak = max(fds_peak, _open_fds(tracker.pid) - fds_base)
            time.sleep(0.1)
        flood_s = time.monotonic() - started
        out, _ = generator.communicate()
        counts = json.loads(out.decode().strip().splitlines()[-1])
        time.sleep(args.settle)
        _announce(files, good, 1)  # still serving
        after = _rss_kib(tracker.pid)
        if tracker.poll() is not None:
            raise RuntimeError("the tracker ended during the flood")
    finally:
        tracker.terminate()
        tracker.wait(15)
        log.close()
    return {
        "baseline_mib": base / 1024, "growth_peak_mib": (peak - base) / 1024,
        "growth_after_mib": (after - base) / 1024, "flood_s": flood_s,
        "connections": float(sum(counts.values())),
        "anchor_valid_growth_mib": anchor_growth / 1024,
        "open_connections_peak": float(fds_peak),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--flood":
        port, total, workers = (int(v) for v in sys.argv[2:5])
        ca, good_cert, good_key, bad_cert, bad_key = (Path(v) for v in sys.argv[5:10])
        good, bad = _context(ca, good_cert, good_key), _context(ca, bad_cert, bad_key)
        print(json.dumps(flood(port, total, workers, good, bad)), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=200)
    ap.add_argument("--valid", type=int, default=500)
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tls-library", action="append", choices=LIBRARIES, dest="libraries",
                    help="the tracker's tls_library (again for more; default: both)")
    args = ap.parse_args()
    libraries = list(dict.fromkeys(args.libraries or LIBRARIES))
    runs: dict[str, list[dict[str, float]]] = {lib: [] for lib in libraries}
    for _ in range(args.runs):
        for library in libraries:  # alternating: both see the same machine load
            with tempfile.TemporaryDirectory(prefix="tracker-flood-") as tmp:
                runs[library].append(one_run(args, Path(tmp), library))
    result: dict[str, object] = {
        "bench": "tracker_flood", "runs": args.runs, "goal_growth_mib": GOAL_MIB,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    for library, each in runs.items():
        result[library] = {
            **{key: round(statistics.median(r[key] for r in each), 1) for key in each[0]},
            "growth_peak_mib_each": [round(r["growth_peak_mib"], 1) for r in each],
            "growth_after_mib_each": [round(r["growth_after_mib"], 1) for r in each],
        }
    if len(runs) == len(LIBRARIES):
        bundled, system = (statistics.median(r["growth_peak_mib"] for r in runs[lib])
                           for lib in LIBRARIES)
        result["peak_growth_ratio_bundled_to_system"] = (round(bundled / system, 2)
                                                         if system else None)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
