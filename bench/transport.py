"""Transport benchmark: does a seeding node over uTP (LEDBAT) leave the customer's own
upload alone where TCP takes its share? (root; the lab of sim/netlab)

A public home whose uplink is shaped with tbf (--uplink, --queue-ms of buffer, as a home
router's) holds a libtorrent node seeding a film to --leechers peers on the internet
over TCP or over uTP only, and a customer's bulk TCP upload (one Python socket, the
kernel's congestion control) to an internet host. Phases: the customer's upload alone,
seeding alone, then both. Prints one JSON line: per transport and queue size, the
customer's rate alone and beside the seeding (share = beside / alone) and the seeding
rate alone and beside it (bytes/s).

    sudo .venv/bin/python bench/transport.py [--uplink 2M] [--queue-ms 100,500]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import libtorrent as lt

from sim.netlab import HomeKind, Netns, lab_unavailable, open_lab
from support.units import parse_rate

SEED_PORT, SINK_PORT = 6881, 5001
SAMPLE_S = 0.5
PIECE_BYTES = 1 << 20


# -- roles, each a process in its namespace ----------------------------------------------

def _sampler(path: Path, value: Callable[[], int]) -> None:
    with path.open("a") as out:
        while True:
            out.write(json.dumps({"t": time.time(), "bytes": value()}) + "\n")
            out.flush()
            time.sleep(SAMPLE_S)


def _settings(transport: str, listen: str) -> dict[str, object]:
    utp = transport == "utp"
    return {
        "listen_interfaces": listen, "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_outgoing_utp": utp, "enable_incoming_utp": utp,
        "enable_outgoing_tcp": not utp, "enable_incoming_tcp": not utp,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": 0,
    }


def _role_seed(args: argparse.Namespace) -> None:
    session = lt.session(_settings(args.transport, f"{args.host}:{SEED_PORT}"))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = args.dir
    atp.flags |= lt.torrent_flags.seed_mode
    handle = session.add_torrent(atp)
    _sampler(Path(args.samples), lambda: int(handle.status().total_payload_upload))


def _role_leech(args: argparse.Namespace) -> None:
    session = lt.session(_settings(args.transport, "0.0.0.0:0"))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = args.dir
    atp.peers = [(args.host, SEED_PORT)]
    session.add_torrent(atp)
    while True:
        time.sleep(1)


def _role_sink(args: argparse.Namespace) -> None:
    received = [0]
    with socket.create_server((args.host, SINK_PORT), reuse_port=True) as server:
        threading.Thread(target=_sampler, args=(Path(args.samples), lambda: received[0]),
                         daemon=True).start()
        while True:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(1 << 16):
                    received[0] += len(chunk)


def _role_send(args: argparse.Namespace) -> None:
    payload = os.urandom(1 << 16)
    with socket.create_connection((args.host, SINK_PORT)) as s, \
            contextlib.suppress(OSError):  # the sink goes away at the end of a case
        while True:
            s.sendall(payload)


# -- the orchestration --------------------------------------------------------------------

def _rate(samples: Path, start: float, end: float) -> float:
    """Bytes/s between the samples nearest ``start`` and ``end`` (wall-clock seconds)."""
    points = [json.loads(x) for x in samples.read_text().splitlines() if x.strip()]
    inside = [p for p in points if start <= p["t"] <= end]
    if len(inside) < 2:
        return 0.0
    return (inside[-1]["bytes"] - inside[0]["bytes"]) / (inside[-1]["t"] - inside[0]["t"])


def _make_torrent(workdir: Path, size_mib: int) -> Path:
    film = workdir / "film.bin"
    with film.open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    fs = lt.file_storage()
    lt.add_files(fs, str(film))
    with warnings.catch_warnings():  # the binding's constructor is marked deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        ct = lt.create_torrent(fs, PIECE_BYTES)
    lt.set_piece_hashes(ct, str(workdir))
    path = workdir / "film.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    return path


def _spawn(ns: Netns, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(ns.argv(sys.executable, str(Path(__file__).resolve()), *args),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def _one_case(transport: str, uplink: int, queue_ms: float, leechers: int, torrent: Path,
              phase_s: float) -> dict[str, object]:
    with open_lab("pntransport", rate_bps=0, queue_ms=queue_ms) as lab, \
            tempfile.TemporaryDirectory(prefix="transport-") as tmp:
        work = Path(tmp)
        home = lab.add_home("home", HomeKind.PUBLIC, up_bps=uplink, down_bps=0)
        sink = lab.add_host("sink", rate_bps=0)
        peers = lab.add_host("peers", rate_bps=0)
        client = home.client.v4
        sink_log, seed_log = work / "sink.jsonl", work / "seed.jsonl"
        procs = [_spawn(sink, "sink", "--host", sink.v4, "--samples", str(sink_log))]
        try:
            time.sleep(1.0)
            # A: the customer's upload alone.
            sender = _spawn(home.client, "send", "--host", sink.v4)
            t_a = time.time()
            time.sleep(phase_s)
            customer_alone = _rate(sink_log, t_a + 2, time.time())
            _stop(sender)
            # B: seeding alone.
            procs.append(_spawn(home.client, "seed", "--transport", transport,
                                "--host", client, "--torrent", str(torrent),
                                "--dir", str(torrent.parent), "--samples", str(seed_log)))
            time.sleep(1.0)
            for i in range(leechers):
                d = work / f"leech{i}"
                d.mkdir()
                procs.append(_spawn(peers, "leech", "--transport", transport, "--host",
                                    client, "--torrent", str(torrent), "--dir", str(d)))
            t_b = time.time()
            time.sleep(phase_s + 3)
            seeding_alone = _rate(seed_log, t_b + 3, time.time())
            # C: both.
            sender = _spawn(home.client, "send", "--host", sink.v4)
            procs.append(sender)
            t_c = time.time()
            time.sleep(phase_s * 1.5)
            t_end = time.time()
            customer_beside = _rate(sink_log, t_c + 3, t_end)
            seeding_beside = _rate(seed_log, t_c + 3, t_end)
        finally:
            _stop(*procs)
    return {
        "transport": transport, "queue_ms": queue_ms,
        "customer_alone_bps": round(customer_alone),
        "customer_beside_seeding_bps": round(customer_beside),
        "customer_share": round(customer_beside / customer_alone, 3) if customer_alone else 0,
        "seeding_alone_bps": round(seeding_alone),
        "seeding_beside_customer_bps": round(seeding_beside),
        "seeding_kept": round(seeding_beside / seeding_alone, 3) if seeding_alone else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("role", nargs="?", default="bench",
                    choices=["bench", "seed", "leech", "sink", "send"])
    ap.add_argument("--uplink", default="2M", help="the home's upload rate (tbf)")
    ap.add_argument("--queue-ms", default="100,500",
                    help="tbf buffer of the home uplink, ms; comma-separated cases")
    ap.add_argument("--leechers", type=int, default=4)
    ap.add_argument("--phase-s", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--transport", choices=["tcp", "utp"])
    ap.add_argument("--host")
    ap.add_argument("--torrent")
    ap.add_argument("--dir")
    ap.add_argument("--samples")
    args = ap.parse_args()
    roles = {"seed": _role_seed, "leech": _role_leech, "sink": _role_sink,
             "send": _role_send}
    if args.role in roles:
        roles[args.role](args)
        return
    reason = lab_unavailable()
    if reason:
        sys.exit(f"error: {reason}")
    uplink = parse_rate(args.uplink)
    cases = []
    with tempfile.TemporaryDirectory(prefix="transport-film-") as tmp:
        torrent = _make_torrent(Path(tmp), 128)
        for queue_ms in (float(q) for q in args.queue_ms.split(",")):
            for transport in ("tcp", "utp"):
                for _ in range(args.runs):
                    case = _one_case(transport, uplink, queue_ms, args.leechers, torrent,
                                     args.phase_s)
                    print(json.dumps(case), file=sys.stderr)
                    cases.append(case)
    print(json.dumps({"bench": "transport", "uplink_bps": uplink, "leechers": args.leechers,
                      "cases": cases}))


if __name__ == "__main__":
    main()
