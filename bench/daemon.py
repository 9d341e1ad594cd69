"""`peernode daemon` resource use: idle with 20 completed rentals, and during a 10 MB/s download.

(1) the daemon downloads 20 small films from an origin, the seeding policy is
set to "seed nothing" (``seed_when_complete: false``), the origin is stopped,
and the daemon's RSS and CPU are sampled over ``--idle-s`` seconds;
(2) an origin capped at 10 MB/s (``--limit-local-peers``) serves one larger
film, and the daemon's CPU is measured from adding the rental to completion.
CPU is utime+stime of the daemon process from /proc, as % of one core.
Prints one JSON line. Goals: idle RSS <= 80 MB, idle CPU < 1 %, download CPU <= 15 %.

    .venv/bin/python bench/daemon.py [--films 20] [--big-mib 100] [--idle-s 30]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from certs import generate_node_key, save_node_key
from certs.authority import CA, issue_rental_bundle
from peernode.operations.packaging import package_film

PEERNODE = [sys.executable, "-m", "peernode"]
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pss_mb(pid: int) -> float:
    """Proportional set size: shared libraries counted by their share."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_under_mb(pid: int, prefix: str) -> float:
    """Resident KiB of the mappings of files under ``prefix`` (libtorrent's mapped films)."""
    total, current = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and not head[0].endswith(":"):
            current = len(head) >= 6 and head[5].startswith(prefix)
        elif current and head[0] == "Rss:":
            total += int(head[1])
    return total / 1024


def _start_origin(
    work: Path, library: Path, rate: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    args = [*PEERNODE, "seed", "--library", str(library), "--cert", str(work / "seeder.pem"),
            "--key", str(work / "seeder.key"), "--listen", "127.0.0.4:0"]
    if rate:
        args += ["--upload-limit", rate, "--limit-local-peers"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    return proc, line.rsplit(" ", 1)[-1].strip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


class _Daemon:
    def __init__(self, state: Path, log: Path) -> None:
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [*PEERNODE, "daemon", "--state-dir", str(state), "--listen", "127.0.0.6:0",
             "--limit-local-peers"], stderr=self.log)
        deadline = time.monotonic() + 30
        while not (state / "api.json").exists() or not log.read_text().strip():
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "daemon did not start"
            time.sleep(0.05)
        url = json.loads((state / "api.json").read_text())["url"]
        token = (state / "token").read_text().strip()
        self.http = httpx.Client(base_url=url, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})

    def add(self, torrent: Path, bundle: bytes, key: Path, origin: str) -> None:
        r = self.http.post("/v1/rentals", json={
            "torrent": base64.b64encode(torrent.read_bytes()).decode(),
            "rental": base64.b64encode(bundle).decode(),
            "node_key_path": str(key), "peers": [origin]})
        assert r.status_code == 201, r.text

    def wait_complete(self, ids: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            views = self.http.get("/v1/downloads").json()["downloads"]
            if all(v["complete"] for v in views if v["id"] in ids):
                return
            assert time.monotonic() < deadline, "downloads did not complete"
            time.sleep(0.2)

    def stop(self) -> None:
        self.http.close()
        _stop(self.proc)
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--films", type=int, default=20)
    parser.add_argument("--small-kib", type=int, default=1024)
    parser.add_argument("--big-mib", type=int, default=100)
    parser.add_argument("--idle-s", type=float, default=30.0)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        work = Path(tmp)
        ca = CA.create("bench CA", now=now - timedelta(hours=1))
        ca_dir = work / "ca"
        ca.save(ca_dir)
        ca.issue_seeder(now=now - timedelta(hours=1)).save(work, "seeder")
        key = generate_node_key()
        save_node_key(work / "client", key)
        key_path = work / "client" / "node.key"

        def film(library: Path, film_id: str, size: int) -> tuple[Path, bytes]:
            plain = work / f"{film_id}.mp4"
            plain.write_bytes(os.urandom(size))
            package_film(plain, film_id=film_id, ca_dir=ca_dir, library=library,
                         tracker_url="https://127.0.0.1:1/announce")
            plain.unlink()
            bundle, _ = issue_rental_bundle(ca, ca_dir, film_id, key.public_key(),
                                            not_before=now - timedelta(minutes=5),
                                            not_after=now + timedelta(hours=2))
            return library / f"{film_id}.torrent", bundle

        small_lib, big_lib = work / "small", work / "big"
        smalls = [film(small_lib, f"small-{i:02d}", args.small_kib * 1024)
                  for i in range(args.films)]
        big = film(big_lib, "big-film", args.big_mib * 1024 * 1024)

        result: dict[str, Any] = {"bench": "daemon", "films": args.films}
        daemon = _Daemon(work / "state", work / "daemon.log")
        try:
            daemon.http.put("/v1/settings", json={"seed_when_complete": False})
            origin, address = _start_origin(work, small_lib, None)
            for torrent, bundle in smalls:
                daemon.add(torrent, bundle, key_path, address)
            daemon.wait_complete({f"small-{i:02d}" for i in range(args.films)}, 120)
            _stop(origin)
            time.sleep(5)  # let the last saves and state changes settle
            pid = daemon.proc.pid
            cpu0, t0 = _cpu_s(pid), time.monotonic()
            rss = []
            while time.monotonic() - t0 < args.idle_s:
                rss.append(_rss_mb(pid))
                time.sleep(1)
            idle_cpu = (_cpu_s(pid) - cpu0) / (time.monotonic() - t0) * 100
            result |= {"idle_rss_mb": round(max(rss), 1), "idle_cpu_pct": round(idle_cpu, 2),
                       "idle_s": args.idle_s,
                       # file-backed pages: libtorrent 2 maps the films it touched
                       "idle_rss_anon_mb": round(_rss_mb(pid, "RssAnon"), 1),
                       "idle_rss_file_mb": round(_rss_mb(pid, "RssFile"), 1),
                       "idle_rss_films_mb": round(_rss_under_mb(pid, str(work)), 1),
                       "idle_pss_mb": round(_pss_mb(pid), 1)}

            origin, address = _start_origin(work, big_lib, "10M")
            cpu0, t0 = _cpu_s(pid), time.monotonic()
            daemon.add(big[0], big[1], key_path, address)
            daemon.wait_complete({"big-film"}, 600)
            seconds = time.monotonic() - t0
            cpu = (_cpu_s(pid) - cpu0) / seconds * 100
            _stop(origin)
            size = daemon.http.get("/v1/downloads/big-film").json()["total_bytes"]
            result |= {"download_mib": args.big_mib, "download_s": round(seconds, 2),
                       "download_mb_per_s": round(size / seconds / 1e6, 2),
                       "download_cpu_pct": round(cpu, 2),
                       "download_rss_mb": round(_rss_mb(pid), 1)}
        finally:
            daemon.stop()
        result["goals_met"] = (result["idle_rss_mb"] <= 80 and result["idle_cpu_pct"] < 1
                               and result["download_cpu_pct"] <= 15)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
