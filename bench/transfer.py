"""One origin -> one client on loopback: what peernode adds to libtorrent's own transfer.

(a) plain libtorrent (no SSL, same piece size), (b) libtorrent with an SSL torrent
(the floor for our security), (c) peernode: `peernode seed` -> `peernode fetch`
through the tracker. Time from adding the torrent to completion, and CPU seconds
of the processes involved over that time (for (c) also to the fetch's exit); TCP
unless noted, plus (b) over uTP for reference.
Prints one JSON line with medians and ratios (c/b, c/a).

    .venv/bin/python bench/transfer.py [--size-mib 256] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt

from certs import generate_node_key, private_key_pem, save_node_key
from certs.authority import CA, issue_rental_bundle
from peernode.operations.packaging import choose_piece_bytes, package_film
from peernode.runtime.session_settings import add_ssl_torrent, make_session, ssl_listen_port
from support.processes import free_port


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _make_torrent(path: Path, piece_bytes: int, ca_pem: bytes | None) -> lt.torrent_info:
    fs = lt.file_storage()
    lt.add_files(fs, str(path))
    ct = lt.create_torrent(fs, piece_bytes, flags=lt.create_torrent.v2_only)
    ct.set_priv(True)
    if ca_pem:
        ct.set_root_cert(ca_pem.decode())
    lt.set_piece_hashes(ct, str(path.parent))
    return lt.torrent_info(lt.bencode(ct.generate()))


def _lt_run(film: Path, ti: lt.torrent_info, work: Path, *, ssl: tuple[bytes, bytes, bytes, bytes]
            | None, transport: str) -> tuple[float, float]:
    """Seed and download ``ti`` between two sessions of this process: (seconds, cpu seconds)."""
    over = {"enable_incoming_utp": transport == "utp", "enable_outgoing_utp": transport == "utp",
            "enable_incoming_tcp": transport == "tcp", "enable_outgoing_tcp": transport == "tcp"}
    seed_s = make_session(origin=True, settings=over)
    leech_s = make_session(settings=over)
    dest = work / f"dl-{time.monotonic_ns()}"
    cpu0 = _cpu_self()
    t0 = time.monotonic()
    if ssl:
        seed_cert, seed_key, cert, key = ssl
        add_ssl_torrent(seed_s, ti, film.parent, cert_pem=seed_cert, key_pem=seed_key,
                        seed_mode=True)
        h = add_ssl_torrent(leech_s, ti, dest, cert_pem=cert, key_pem=key)
        port = ssl_listen_port(seed_s)
    else:
        seed_s.add_torrent({"ti": ti, "save_path": str(film.parent),
                            "flags": lt.torrent_flags.seed_mode})
        h = leech_s.add_torrent({"ti": ti, "save_path": str(dest)})
        port = seed_s.listen_port()
    h.connect_peer(("127.0.0.1", port))
    while not h.status().is_seeding:
        leech_s.wait_for_alert(100)
        leech_s.pop_alerts()
        seed_s.pop_alerts()
        if time.monotonic() - t0 > 600:
            raise RuntimeError("transfer did not finish in 600 s")
    seconds, cpu = time.monotonic() - t0, _cpu_self() - cpu0
    del seed_s, leech_s
    subprocess.run(["rm", "-rf", str(dest)], check=True)
    return seconds, cpu


def _peernode(*args: object) -> list[str]:
    return [sys.executable, "-m", "peernode", *map(str, args)]


def _wait_listening(proc: subprocess.Popen[bytes], host: str, port: int, what: str) -> None:
    """Until ``host:port`` accepts connections; RuntimeError if ``proc`` exits first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on {host}:{port} within 60 s")


def _wait4(proc: subprocess.Popen[bytes]) -> float:
    _, _, ru = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return ru.ru_utime + ru.ru_stime


def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process, from /proc (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peernode_run(work: Path, lib: Path, torrent: Path, ca_dir: Path,
                  ca: CA, n: int) -> tuple[float, float, float]:
    """`peernode seed` -> `peernode fetch` via the tracker: (fetch seconds, cpu of both
    to completion, cpu of both to the fetch's exit).

    CPU counts both processes from the moment the download starts (the first
    status line), so interpreter start-up and imports, which (a) and (b) do not
    pay either, are left out; to completion (the status line saying so, written
    as the download completes), as (a) and (b) count, and apart to the fetch's
    exit (its resume data, the session's and the interpreter's shutdown).
    """
    client = work / f"client-{n}"
    key = generate_node_key()
    save_node_key(client, key)
    now = datetime.now(UTC)
    bundle, _ = issue_rental_bundle(ca, ca_dir, "bench-film", key.public_key(),
                                    not_before=now - timedelta(minutes=5),
                                    not_after=now + timedelta(hours=2))
    (client / "rental.pvr").write_bytes(bundle)
    seed = subprocess.Popen(_peernode("seed", "--library", lib, "--cert", work / "seeder.pem",
                                      "--key", work / "seeder.key", "--listen", "127.0.0.2:0"),
                            stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # origin up and announced
    status = client / "status.jsonl"
    fetch = subprocess.Popen(_peernode("fetch", torrent, "--rental", client / "rental.pvr",
                                       "--node-key", client / "node.key",
                                       "--out", client / "dl", "--listen", "127.0.0.3:0",
                                       "--status-log", status, "--json",
                                       "--timeout", 600),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while not status.exists() and fetch.poll() is None:
        time.sleep(0.005)
    start_cpu = _proc_cpu(fetch.pid) + _proc_cpu(seed.pid)
    while fetch.poll() is None and '"complete": true' not in _last_line(status):
        time.sleep(0.005)
    done_cpu = (_proc_cpu(fetch.pid) + _proc_cpu(seed.pid)) if fetch.poll() is None else 0.0
    assert fetch.stdout is not None
    out = fetch.stdout.read().decode()
    fetch_cpu = _wait4(fetch)
    seed_cpu = _proc_cpu(seed.pid)
    seed.send_signal(signal.SIGTERM)
    _wait4(seed)
    summary = json.loads(out.strip().splitlines()[-1])
    if not summary["complete"]:
        raise RuntimeError(f"peernode fetch did not complete: {summary}")
    subprocess.run(["rm", "-rf", str(client)], check=True)
    exit_cpu = fetch_cpu + seed_cpu - start_cpu
    return float(summary["seconds"]), (done_cpu - start_cpu) if done_cpu else exit_cpu, exit_cpu


def _last_line(path: Path) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        work = Path(tmp)
        film = work / "plain" / "film.bin"
        film.parent.mkdir()
        with film.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1024 * 1024))
        now = datetime.now(UTC)
        ca = CA.create("bench CA", now=now - timedelta(hours=1))
        ca_dir = work / "ca"
        ca.save(ca_dir)
        seeder = ca.issue_seeder(now=now - timedelta(hours=1))
        seeder.save(work, "seeder")
        server = ca.issue_server(["127.0.0.1"], now=now - timedelta(hours=1))
        server.save(work, "server")
        node_key = generate_node_key()
        film_ssl = work / "ssl" / "bench-film"
        film_ssl.parent.mkdir()
        os.link(film, film_ssl)
        rental = ca.issue_rental("bench-film", node_key.public_key(),
                                 not_before=now - timedelta(hours=1),
                                 not_after=now + timedelta(hours=2))
        from cryptography.hazmat.primitives.serialization import Encoding

        ssl_creds = (seeder.cert_pem, seeder.key_pem, rental.public_bytes(Encoding.PEM),
                     private_key_pem(node_key))
        piece = choose_piece_bytes(size)
        ti_plain = _make_torrent(film, piece, None)
        ti_ssl = _make_torrent(film_ssl, piece, ca.cert_pem)

        tracker_port = free_port("127.0.0.1")
        lib = work / "library"
        packaged = package_film(film, film_id="bench-film", ca_dir=ca_dir, library=lib,
                                tracker_url=f"https://127.0.0.1:{tracker_port}/announce")
        tracker = subprocess.Popen(_peernode(
            "tracker", "--ca", ca_dir / "ca.pem", "--cert", work / "server.pem",
            "--key", work / "server.key", "--library", lib, "--crl", ca_dir / "crl.pem",
            "--listen", f"127.0.0.1:{tracker_port}"), stderr=subprocess.DEVNULL)
        _wait_listening(tracker, "127.0.0.1", tracker_port, "the tracker")
        results: dict[str, list[tuple[float, ...]]] = {
            "plain": [], "ssl": [], "peernode": [], "ssl_utp": []}
        try:
            for n in range(args.runs):
                results["plain"].append(_lt_run(film, ti_plain, work, ssl=None, transport="tcp"))
                results["ssl"].append(_lt_run(film_ssl, ti_ssl, work, ssl=ssl_creds,
                                              transport="tcp"))
                results["peernode"].append(_peernode_run(work, lib, packaged.torrent_path,
                                                         ca_dir, ca, n))
                print(f"run {n + 1}: {results}", file=sys.stderr)
            results["ssl_utp"].append(_lt_run(film_ssl, ti_ssl, work, ssl=ssl_creds,
                                              transport="utp"))
        finally:
            tracker.terminate()
            tracker.wait()

    def med(key: str, i: int) -> float:
        return statistics.median(r[i] for r in results[key])

    out: dict[str, object] = {"bench": "transfer", "size_mib": args.size_mib, "runs": args.runs,
                              "piece_bytes": piece}
    for key in results:
        out[f"{key}_seconds"] = round(med(key, 0), 3)
        out[f"{key}_cpu_s"] = round(med(key, 1), 3)
        out[f"{key}_MBps"] = round(size / 1e6 / med(key, 0), 1)
    out["ratio_vs_ssl"] = round(med("peernode", 0) / med("ssl", 0), 3)
    out["ratio_vs_plain"] = round(med("peernode", 0) / med("plain", 0), 3)
    out["peernode_cpu_to_exit_s"] = round(med("peernode", 2), 3)
    out["cpu_ratio_vs_ssl"] = round(med("peernode", 1) / med("ssl", 1), 3)
    out["cpu_to_exit_ratio_vs_ssl"] = round(med("peernode", 2) / med("ssl", 1), 3)
    out["cpu_ratio_vs_plain"] = round(med("peernode", 1) / med("plain", 1), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
