"""Benchmark: the tracker under load on loopback, beside opentracker (+ hitch for mTLS).

hitch and opentracker are Debian's packages (``bash bench/install-anchors.sh``),
found on PATH; without them the anchor scenarios are skipped and the JSON says so.
Load generator: ``--clients`` processes, each sending announces back to back for
``--seconds`` per scenario:

- ``ours_mtls_new``: a new mutual-TLS connection per announce (what libtorrent does),
  on the default TLS library (the OpenSSL bundled with ``cryptography``);
- ``ours_mtls_new_system_openssl``: the same on the system's OpenSSL (``ssl`` module);
- ``ours_mtls_keepalive``: one mutual-TLS connection per client, many announces;
- ``opentracker_mtls_new``: Debian's opentracker behind Debian's hitch with
  ``client-verify = required`` (TLS 1.3, ECDSA P-256, the same CA and certificates);
- ``opentracker_plain_new``: opentracker over plain HTTP (it closes after every answer);
- ``ours_2_workers_mtls_new``: ``--workers 2`` on a local Redis (its CPU counted with
  the workers'), against ``opentracker_hitch_2_threads_mtls_new`` (hitch ``workers =
  2``), twice the generators, on the same 2 cores.

Each scenario reports announces/s, p50/p99 latency (ms), and the figure to trust on a
2-core machine where generator and server share the cores: **server CPU µs per
announce**, the utime+stime of every server process (from /proc) over the announces
answered. Also: bytes per peer at 100k peers (tracemalloc) and the latency real
libtorrent announces see (first announce of a torrent, on a fresh connection).
Ratios: ``ratio_tls_vs_opentracker`` = anchor CPU per announce (mTLS via hitch) / ours
(per core); ``ratio_workers_vs_hitch`` = ours on 2 workers / hitch on 2 threads, in
announces/s; ``ratio_plain_vs_opentracker`` = anchor plain-HTTP CPU per announce / ours
per keep-alive announce (our tracker has no plain-text mode).

With ``--redis`` the run is instead what the shared store costs: one tracker in memory
and one on a local ``redis-server``, new mTLS connections and keep-alive;
``redis_cpu_ratio_vs_memory`` = (tracker + Redis CPU per announce) / (in-memory tracker
CPU per announce) on new connections (``..._keepalive`` beside it);
``redis_round_trips_per_announce`` = Redis read events over announces; ``fleet``: the
announces/s one tracker core and one Redis instance sustain, from those figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import libtorrent as lt

# This file is bench/tracker.py: run as a script, its directory comes first on sys.path
# and would shadow the `tracker` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import certs  # noqa: E402
import certs.authority  # noqa: E402
from support.atomic_write import write_atomic, write_private  # noqa: E402
from support.processes import free_ports  # noqa: E402
from tracker.request import AnnounceRequest  # noqa: E402
from tracker.swarm import Swarms  # noqa: E402
from tracker.watched_files import announced_info_hashes  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS_PER_CLIENT = 500


# ---------------------------------------------------------------- load generator


@dataclass(frozen=True)
class Target:
    """Where a generator process sends announces, and how."""

    port: int
    tls: bool
    keep_alive: bool
    ca: str = ""
    cert: str = ""
    key: str = ""


def _targets(info_hash: bytes, client: int) -> list[bytes]:
    rng = random.Random(client)
    out = []
    for n in range(PEERS_PER_CLIENT):
        q = {
            "info_hash": info_hash,
            "peer_id": b"-BN0001-" + rng.randbytes(12),
            "port": 10000 + n,
            "uploaded": 0,
            "downloaded": 0,
            "left": 0 if n % 4 == 0 else 1000,
            "compact": 1,
            "numwant": 50,
        }
        out.append(b"/announce?" + urlencode(q).encode())
    return out


def _client_context(t: Target) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(t.ca)
    ctx.load_cert_chain(t.cert, t.key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def _read_response(sock: socket.socket | ssl.SSLSocket, buf: bytearray) -> None:
    """Read one HTTP response with a content-length into ``buf`` (consumed)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
        raise ConnectionError(f"bad response {head[:40]!r}")
    length = int(m.group(1)) if m else None
    while length is None or len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is None:
                break
            raise ConnectionError("closed inside the body")
        rest += chunk
    if length is not None and b"failure reason" in rest[:length]:
        raise ConnectionError(f"refused: {rest[:length]!r}")
    buf[:] = rest[length:] if length is not None else b""


def generate(
    t: Target, info_hash: bytes, client: int, seconds: float
) -> tuple[int, int, list[float], str]:
    """Send announces for ``seconds``; (answered, failed, latencies in ms, first error)."""
    ctx = _client_context(t) if t.tls else None
    targets = _targets(info_hash, client)
    close = b"" if t.keep_alive else b"connection: close\r\n"
    latencies: list[float] = []
    failed = 0
    first_error = ""
    sock: socket.socket | ssl.SSLSocket | None = None
    buf = bytearray()
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        request = b"GET %s HTTP/1.1\r\nhost: 127.0.0.1\r\n%s\r\n" % (
            targets[i % len(targets)],
            close,
        )
        i += 1
        start = time.perf_counter()
        try:
            if sock is None:
                raw = socket.create_connection(("127.0.0.1", t.port))
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1") if ctx else raw
                buf.clear()
            sock.sendall(request)
            _read_response(sock, buf)
            latencies.append((time.perf_counter() - start) * 1000)
        except (OSError, ConnectionError) as e:
            failed += 1
            first_error = first_error or repr(e)
            with contextlib.suppress(OSError):
                if sock is not None:
                    sock.close()
            sock = None
            continue
        if not t.keep_alive:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    return len(latencies), failed, latencies, first_error


# ---------------------------------------------------------------- servers and CPU


def _pids_of_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (and their threads), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def running(argv: list[str], port: int, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    try:
        wait_port(port)
        yield proc
    finally:
        for pid in reversed(_pids_of_tree(proc.pid)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---------------------------------------------------------------- one scenario


def scenario(
    pool: ProcessPoolExecutor,
    t: Target | list[Target],
    info_hash: bytes,
    server_roots: list[int],
    clients: int,
    seconds: float,
    *,
    also_roots: dict[str, list[int]] | None = None,
    counter: Any = None,
) -> dict[str, Any]:
    """Run ``clients`` generators against ``t``; the figures of one scenario.

    With a list of targets, generator ``i`` uses target ``i % len``. ``also_roots``
    names further processes (e.g. Redis) whose CPU share is reported, not counted
    as server CPU.
    """
    ts = t if isinstance(t, list) else [t]
    per_client = [ts[i % len(ts)] for i in range(clients)]
    # warm up (handshake caches, swarm populated), not measured
    list(
        pool.map(
            generate,
            per_client,
            [info_hash] * clients,
            range(clients),
            [min(1.0, seconds / 4)] * clients,
        )
    )
    pids = [pid for root in server_roots for pid in _pids_of_tree(root)]
    others = {
        name: [pid for root in roots for pid in _pids_of_tree(root)]
        for name, roots in (also_roots or {}).items()
    }
    # the generator: every other process under this one (the pool's workers)
    known = set(pids).union(*others.values())
    others["generator"] = [p for p in _pids_of_tree(os.getpid()) if p not in known]
    others0 = {name: cpu_seconds(p) for name, p in others.items()}
    count0 = counter() if counter else 0
    cpu0, wall0 = cpu_seconds(pids), time.perf_counter()
    results = list(
        pool.map(generate, per_client, [info_hash] * clients, range(clients), [seconds] * clients)
    )
    wall, cpu = time.perf_counter() - wall0, cpu_seconds(pids) - cpu0
    counted = counter() - count0 if counter else 0
    shares = {
        f"{name}_cpu_share": round((cpu_seconds(p) - others0[name]) / wall, 2)
        for name, p in others.items()
    }
    answered = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    errors = sorted({r[3] for r in results if r[3]})
    if not answered:
        return {"answered": 0, "failed": sum(r[1] for r in results), "errors": errors}
    return {
        "announces_per_s": round(answered / wall, 1),
        "p50_ms": round(latencies[len(latencies) // 2], 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 3),
        "server_cpu_us_per_announce": round(cpu / answered * 1e6, 1),
        "server_cpu_share": round(cpu / wall, 2),
        "answered": answered,
        "failed": sum(r[1] for r in results),
        **({"errors": errors} if errors else {}),
        **({"counted": counted} if counter else {}),
    } | shares


# ---------------------------------------------------------------- setup


@dataclass
class Setup:
    dir: Path
    ca: certs.authority.CA
    library: Path
    info_hashes: list[bytes]
    films: list[lt.torrent_info]
    rentals: list[tuple[str, str]]  # (cert path, key path) for film 0
    origin: tuple[str, str]


def make_setup(work: Path, films: int = 8, rentals: int = 8) -> Setup:
    now = datetime.now(UTC)
    ca = certs.authority.CA.create(now=now)
    (work / "ca.pem").write_bytes(ca.cert_pem)
    ca.issue_server(["127.0.0.1"], now=now).save(work, "server")
    write_atomic(work / "crl.pem", certs.authority.crl_pem(ca.sign_crl({}, now=now)))
    seeder = ca.issue_seeder(now=now)
    seeder.save(work, "seeder")
    library = work / "library"
    library.mkdir()
    infos = []
    for i in range(films):
        film_id = f"film-{i}"
        ct = lt.create_torrent(
            [lt.create_file_entry(film_id, 65536)], 65536, lt.create_torrent.v2_only
        )
        ct.set_priv(True)
        ct.set_root_cert(ca.cert_pem.decode())
        ct.add_tracker("https://127.0.0.1:1/announce")
        (library / film_id).write_bytes(os.urandom(65536))
        lt.set_piece_hashes(ct, str(library))
        (library / f"{film_id}.torrent").write_bytes(lt.bencode(ct.generate()))
        infos.append(lt.torrent_info(str(library / f"{film_id}.torrent")))
    hashes = [announced_info_hashes(ti)[0] for ti in infos]
    # every generator announces its PEERS_PER_CLIENT peer ids with one of a few
    # rentals: lift the per-serial cap (4 peer ids per rental and swarm) for the bench
    (work / "tracker.toml").write_text("[swarm]\nmax_peers_per_serial = 1000000\n")
    (work / "tracker-system-tls.toml").write_text(
        'tls_library = "system"\n[swarm]\nmax_peers_per_serial = 1000000\n'
    )
    paths = []
    for i in range(rentals):
        key = certs.generate_node_key()
        cert = ca.issue_rental(
            "film-0",
            key.public_key(),
            not_before=now - timedelta(hours=1),
            not_after=now + timedelta(days=1),
        )
        from cryptography.hazmat.primitives.serialization import Encoding

        cert_path, key_path = work / f"rental{i}.pem", work / f"rental{i}.key"
        cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
        write_private(key_path, certs.private_key_pem(key))
        paths.append((str(cert_path), str(key_path)))
    return Setup(
        work,
        ca,
        library,
        hashes,
        infos,
        paths,
        (str(work / "seeder.pem"), str(work / "seeder.key")),
    )


def ours_argv(s: Setup, port: int, *extra: str, config: str = "tracker.toml") -> list[str]:
    return [
        sys.executable,
        "-m",
        "peernode",
        "tracker",
        "--ca",
        str(s.dir / "ca.pem"),
        "--cert",
        str(s.dir / "server.pem"),
        "--key",
        str(s.dir / "server.key"),
        "--library",
        str(s.library),
        "--crl",
        str(s.dir / "crl.pem"),
        "--listen",
        f"127.0.0.1:{port}",
        "--config",
        str(s.dir / config),
        *extra,
    ]


def opentracker_argv(s: Setup, port: int, udp_port: int) -> list[str]:
    root = s.dir / "ot"
    root.mkdir(exist_ok=True)
    (root / "whitelist.txt").write_text("".join(h.hex() + "\n" for h in s.info_hashes))
    # paths in opentracker's config are resolved inside its chroot (tracker.rootdir)
    (root / "opentracker.conf").write_text(
        f"access.whitelist /whitelist.txt\ntracker.rootdir {root}\ntracker.user nobody\n"
    )
    return [
        "opentracker",
        "-f",
        str(root / "opentracker.conf"),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-P",
        str(udp_port),
    ]


def hitch_argv(s: Setup, port: int, backend: int, workers: int = 1) -> list[str]:
    bundle = s.dir / "hitch.pem"
    bundle.write_bytes((s.dir / "server.key").read_bytes() + (s.dir / "server.pem").read_bytes())
    conf = s.dir / f"hitch-{port}.conf"
    conf.write_text(
        f'frontend = "[127.0.0.1]:{port}"\n'
        f'backend = "[127.0.0.1]:{backend}"\n'
        f'pem-file = "{bundle}"\n'
        "tls-protos = TLSv1.3\n"
        "client-verify = required\n"
        f'client-verify-ca = "{s.dir / "ca.pem"}"\n'
        f"workers = {workers}\n"
        "daemon = off\n"
        'user = "nobody"\n'  # hitch refuses to run its workers as root
        'group = "nogroup"\n'
        f'ocsp-dir = "{s.dir}"\n'
    )
    return ["hitch", "--config", str(conf)]


# ---------------------------------------------------------------- other figures


def bytes_per_peer(peers: int = 100_000) -> float:
    """Traced bytes per stored peer, 100k peers over 10 swarms."""
    rng = random.Random(1)
    requests = [
        AnnounceRequest(
            info_hash=bytes([n % 10]) * 20,
            peer_id=n.to_bytes(20, "big"),
            port=1 + n % 60000,
            uploaded=0,
            downloaded=0,
            left=n % 3,
            numwant=0,
        )
        for n in range(peers)
    ]
    addresses = [IPv4Address(0x0A000000 + n) for n in range(peers)]
    swarms = Swarms()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for r, a in zip(requests, addresses, strict=True):
        swarms.announce(r, a, 0.0, rng)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / peers


def libtorrent_announce_ms(s: Setup, port: int) -> list[float]:
    """Time from adding a torrent to libtorrent's tracker reply (first announce, new connection)."""
    from peernode.runtime.session_settings import add_ssl_torrent, make_session

    cert_pem, key_pem = (Path(p).read_bytes() for p in s.origin)
    session = make_session(origin=True)
    out = []
    for ti in s.films:
        start = time.perf_counter()
        handle = add_ssl_torrent(
            session,
            ti,
            s.library,
            cert_pem=cert_pem,
            key_pem=key_pem,
            seed_mode=True,
            flags=lt.torrent_flags.paused,
        )
        handle.replace_trackers([lt.announce_entry(f"https://127.0.0.1:{port}/announce")])
        start = time.perf_counter()
        handle.resume()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            session.wait_for_alert(100)
            alerts = session.pop_alerts()
            if any(isinstance(a, lt.tracker_reply_alert) for a in alerts):
                out.append((time.perf_counter() - start) * 1000)
                break
            if any(isinstance(a, lt.tracker_error_alert) for a in alerts):
                raise RuntimeError("libtorrent announce failed")
    session.pause()
    return out


# ---------------------------------------------------------------- main


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median server CPU per announce, with every run's figure beside it."""
    ok = [r for r in runs if r.get("server_cpu_us_per_announce")]
    if not ok:
        return runs[-1]
    ok.sort(key=lambda r: r["server_cpu_us_per_announce"])
    return ok[len(ok) // 2] | {"cpu_us_runs": [r["server_cpu_us_per_announce"] for r in ok]}


def redis_argv(work: Path, port: int) -> list[str]:
    """A throwaway redis-server: loopback only, no persistence."""
    return [
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no", "--dir", str(work)),
    ]


def redis_reads(port: int) -> Any:
    """A counter of Redis's read events (one per request or pipeline a client sends:
    its round trips), for `scenario`; the INFO call itself adds one."""
    import redis

    client = redis.Redis(port=port)

    def count() -> int:
        return int(client.info("stats")["total_reads_processed"])

    return count


def _median_by_rate(r: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sorted((x for x in r if x.get("announces_per_s")), key=lambda x: x["announces_per_s"])
    best = ok[len(ok) // 2] if ok else r[-1]
    return best | {
        "announces_per_s_runs": [x.get("announces_per_s") for x in r],
        "cpu_us_runs": [x.get("server_cpu_us_per_announce") for x in r],
    }


def _system_cpu_us(figures: dict[str, Any]) -> float | None:
    """Tracker + Redis CPU per announce (µs), from one scenario's figures."""
    rate, own = figures.get("announces_per_s"), figures.get("server_cpu_us_per_announce")
    if not rate or own is None:
        return None
    return float(own) + figures.get("redis_cpu_share", 0.0) / rate * 1e6


def redis_run(args: argparse.Namespace, out: dict[str, Any], s: Setup, work: Path) -> None:
    """What the Redis store costs: tracker + Redis CPU per announce against the in-memory
    store (new mutual-TLS connections, as libtorrent announces, and keep-alive), and
    Redis round trips per announce."""
    if shutil.which("redis-server") is None:
        out["redis"] = "not installed: redis-server (apt-get install redis-server)"
        return
    ih = s.info_hashes[0]
    tls = {"ca": str(work / "ca.pem"), "cert": s.rentals[0][0], "key": s.rentals[0][1]}
    mem_port, r1_port, redis_port = free_ports("127.0.0.1", 3)
    url = f"redis://127.0.0.1:{redis_port}/0"
    plan: dict[str, tuple[Target, list[int]]] = {}
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(args.clients))
        rds = stack.enter_context(running(redis_argv(work, redis_port), redis_port))
        mem = stack.enter_context(running(ours_argv(s, mem_port), mem_port))
        one = stack.enter_context(running(ours_argv(s, r1_port, "--redis", url), r1_port))
        reads = redis_reads(redis_port)
        plan["memory_mtls_new"] = (Target(mem_port, True, False, **tls), [mem.pid])
        plan["redis_mtls_new"] = (Target(r1_port, True, False, **tls), [one.pid])
        plan["memory_keepalive"] = (Target(mem_port, True, True, **tls), [mem.pid])
        plan["redis_keepalive"] = (Target(r1_port, True, True, **tls), [one.pid])
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
        for _ in range(args.rounds):  # alternate, so that machine noise hits all alike
            for name, (target, pids) in plan.items():
                on_redis = name.startswith("redis")
                runs[name].append(
                    scenario(
                        pool, target, ih, pids, args.clients, args.seconds,
                        also_roots={"redis": [rds.pid]},
                        counter=reads if on_redis else None,
                    )
                )
        for name, r in runs.items():
            out[name] = _median_run(r)
            system = _system_cpu_us(out[name])
            out[name]["tracker_plus_redis_cpu_us_per_announce"] = (
                round(system, 1) if system is not None else None
            )
            if name.startswith("redis"):
                trips = [
                    (x["counted"] - 1) / x["answered"] for x in r if x.get("answered")
                ]
                out[name]["redis_round_trips_per_announce"] = (
                    round(statistics.median(trips), 3) if trips else None
                )
                rate, share = out[name].get("announces_per_s"), out[name].get("redis_cpu_share")
                if rate and share is not None:
                    out[name]["redis_cpu_us_per_announce"] = round(share / rate * 1e6, 1)

    def ratio(redis_name: str, memory_name: str) -> float | None:
        on_redis = out[redis_name].get("tracker_plus_redis_cpu_us_per_announce")
        in_memory = out[memory_name].get("server_cpu_us_per_announce")
        return round(on_redis / in_memory, 3) if on_redis and in_memory else None

    out["redis_cpu_ratio_vs_memory"] = ratio("redis_mtls_new", "memory_mtls_new")
    out["redis_cpu_ratio_vs_memory_keepalive"] = ratio("redis_keepalive", "memory_keepalive")
    out["redis_round_trips_per_announce"] = out["redis_mtls_new"].get(
        "redis_round_trips_per_announce"
    )
    # on paper: announces/s one core sustains, per part of a fleet
    tracker_us = out["redis_mtls_new"].get("server_cpu_us_per_announce")
    redis_us = out["redis_mtls_new"].get("redis_cpu_us_per_announce")
    out["fleet"] = {
        "announces_per_s_per_tracker_core": round(1e6 / tracker_us) if tracker_us else None,
        "announces_per_s_per_redis_instance": round(1e6 / redis_us) if redis_us else None,
        "tracker_cores_per_redis_instance": (
            round(tracker_us / redis_us, 1) if tracker_us and redis_us else None
        ),
    }


def anchor_run(
    args: argparse.Namespace, out: dict[str, Any], s: Setup, work: Path
) -> None:
    """New mutual-TLS connections: ours (bundled and system OpenSSL) against hitch +
    opentracker on one core each, then 2 workers against hitch with 2 threads."""
    ih = s.info_hashes[0]
    tls = {"ca": str(work / "ca.pem"), "cert": s.rentals[0][0], "key": s.rentals[0][1]}
    ours_port, sys_port, ot_port, ot_udp_port, hitch_port, w_port, redis_port, hitch2_port = (
        free_ports("127.0.0.1", 8)
    )
    missing = [t for t in ("opentracker", "hitch", "redis-server") if shutil.which(t) is None]
    # scenario -> (target, server processes whose CPU counts, other processes shown)
    plan: dict[str, tuple[Target, list[int], dict[str, list[int]]]] = {}
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(args.clients))
        ours = stack.enter_context(running(ours_argv(s, ours_port), ours_port))
        system = stack.enter_context(
            running(ours_argv(s, sys_port, config="tracker-system-tls.toml"), sys_port)
        )
        plan["ours_mtls_new"] = (Target(ours_port, True, False, **tls), [ours.pid], {})
        plan["ours_mtls_new_system_openssl"] = (
            Target(sys_port, True, False, **tls), [system.pid], {}
        )
        plan["ours_mtls_keepalive"] = (Target(ours_port, True, True, **tls), [ours.pid], {})
        if missing:
            out["opentracker"] = f"not installed: {', '.join(missing)} (apt-get install)"
        else:
            ot = stack.enter_context(running(opentracker_argv(s, ot_port, ot_udp_port), ot_port))
            hitch = stack.enter_context(running(hitch_argv(s, hitch_port, ot_port), hitch_port))
            # the anchor's CPU is hitch's (every process) plus opentracker's (one
            # opentracker behind both hitch instances)
            plan["opentracker_mtls_new"] = (
                Target(hitch_port, True, False, **tls), [hitch.pid, ot.pid], {}
            )
            plan["opentracker_plain_new"] = (Target(ot_port, False, False), [ot.pid], {})
            rds = stack.enter_context(running(redis_argv(work, redis_port), redis_port))
            url = f"redis://127.0.0.1:{redis_port}/0"
            workers = stack.enter_context(
                running(ours_argv(s, w_port, "--redis", url, "--workers", "2"), w_port)
            )
            hitch2 = stack.enter_context(
                running(hitch_argv(s, hitch2_port, ot_port, workers=2), hitch2_port)
            )
            # Redis is part of our system here: its CPU counts with the workers'
            plan["ours_2_workers_mtls_new"] = (
                Target(w_port, True, False, **tls), [workers.pid, rds.pid], {}
            )
            plan["opentracker_hitch_2_threads_mtls_new"] = (
                Target(hitch2_port, True, False, **tls), [hitch2.pid, ot.pid], {}
            )
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
        for _ in range(args.rounds):  # alternate, so that machine noise hits all alike
            for name, (target, pids, also) in plan.items():
                clients = args.clients * 2 if "2_" in name else args.clients
                runs[name].append(
                    scenario(pool, target, ih, pids, clients, args.seconds, also_roots=also)
                )
        for name, r in runs.items():
            out[name] = _median_by_rate(r) if "2_" in name else _median_run(r)
        lat = libtorrent_announce_ms(s, ours_port)
        out["libtorrent_announce_ms"] = {
            "p50": round(statistics.median(lat), 2),
            "max": round(max(lat), 2),
            "n": len(lat),
        }


def _ratio(out: dict[str, Any], anchor: str, ours: str, key: str, *, higher: bool) -> Any:
    a, o = out.get(anchor, {}).get(key), out.get(ours, {}).get(key)
    if not a or not o:
        return None
    return round(o / a, 3) if higher else round(a / o, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=3, help="generator processes")
    parser.add_argument("--seconds", type=float, default=3.0, help="per scenario and round")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds; scenarios alternate inside each, medians are reported",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="instead: CPU per announce and round trips of the Redis store against memory",
    )
    args = parser.parse_args()
    out: dict[str, Any] = {
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "openssl_system": ssl.OPENSSL_VERSION,
    }
    work = Path(tempfile.mkdtemp(prefix="bench-tracker-"))
    try:
        s = make_setup(work)
        if args.redis:
            redis_run(args, out, s, work)
            out["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
            print(json.dumps(out))
            return
        anchor_run(args, out, s, work)
        out["bytes_per_peer_100k"] = round(bytes_per_peer(), 1)
        cpu = "server_cpu_us_per_announce"
        out["ratio_tls_vs_opentracker"] = _ratio(
            out, "opentracker_mtls_new", "ours_mtls_new", cpu, higher=False
        )
        out["ratio_tls_system_openssl_vs_opentracker"] = _ratio(
            out, "opentracker_mtls_new", "ours_mtls_new_system_openssl", cpu, higher=False
        )
        out["ratio_plain_vs_opentracker"] = _ratio(
            out, "opentracker_plain_new", "ours_mtls_keepalive", cpu, higher=False
        )
        out["ratio_workers_vs_hitch"] = _ratio(
            out, "opentracker_hitch_2_threads_mtls_new", "ours_2_workers_mtls_new",
            "announces_per_s", higher=True,
        )
        out["ratio_workers_vs_hitch_cpu"] = _ratio(
            out, "opentracker_hitch_2_threads_mtls_new", "ours_2_workers_mtls_new", cpu,
            higher=False,
        )
        out["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
