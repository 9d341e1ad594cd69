"""A flood of hostile clients does not keep a valid rental's announce out, nor grow memory."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import libtorrent as lt

from certs.authority import CA

from .conftest import HOST, Operator

FLOOD_SECONDS = 8.0


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _announce(op: Operator, ctx: ssl.SSLContext, n: int) -> tuple[float, dict[Any, Any]]:
    """One announce on a fresh mutual-TLS connection; (seconds taken, decoded body)."""
    n %= 4  # one rental holds at most 4 peer ids per swarm (the tracker's eclipse cap)
    query = urlencode({
        "info_hash": op.film.info_hash_v2_truncated, "peer_id": b"-SEC001-" + n.to_bytes(12, "big"),
        "port": 30000 + n, "uploaded": 0, "downloaded": 0, "left": 1000, "compact": 1,
    })
    request = f"GET /announce?{query} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    start = time.monotonic()
    tcp = socket.create_connection((HOST, op.tracker_port), timeout=5)
    with ctx.wrap_socket(tcp, server_hostname=HOST) as s:
        s.sendall(request.encode())
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    took = time.monotonic() - start
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    decoded = lt.bdecode(body)
    assert isinstance(decoded, dict)
    return took, decoded


def test_valid_announce_answered_within_a_second_during_a_flood(
    operator: Operator, tracker: subprocess.Popen[bytes]
) -> None:
    """Idle TCP connections, slowloris, 1 MiB request lines, garbage and handshakes with
    another CA's certificate, for 8 s from another process: every valid announce (a new
    mutual-TLS connection every 0.25 s) gets its peers within 1 s; tracker RSS grows by
    less than 32 MiB and the tracker is still running."""
    good_cert, good_key = operator.rental_files("good")
    other = CA.create("another operator", now=datetime.now(UTC))
    bad_cert, bad_key = operator.rental_files("bad", ca=other)
    ctx = ssl.create_default_context(cafile=str(operator.ca_dir / "ca.pem"))
    ctx.load_cert_chain(good_cert, good_key)
    _, body = _announce(operator, ctx, 0)  # warm up: the first announce registers peer 0
    rss_before = _rss_kib(tracker.pid)

    flood = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "flood.py"), HOST,
         str(operator.tracker_port), str(FLOOD_SECONDS), str(good_cert), str(good_key),
         str(bad_cert), str(bad_key), str(operator.ca_dir / "ca.pem")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # let the flood get going
    latencies, rss_peak, n = [], rss_before, 1
    while flood.poll() is None:
        took, body = _announce(operator, ctx, n)
        assert b"peers" in body, body
        latencies.append(took)
        rss_peak = max(rss_peak, _rss_kib(tracker.pid))
        n += 1
        time.sleep(0.25)
    out, err = flood.communicate()
    assert flood.returncode == 0, err.decode()
    counts = json.loads(out.decode().strip().splitlines()[-1])
    print(f"flood {counts}; {len(latencies)} valid announces, max {max(latencies):.3f} s; "
          f"RSS {rss_before} -> peak {rss_peak} KiB")
    assert tracker.poll() is None
    assert len(latencies) >= 10
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    assert all(counts[k] > 0 for k in counts), counts
    assert rss_peak - rss_before < 32 * 1024
    took, _ = _announce(operator, ctx, n)
    assert took < 1.0
