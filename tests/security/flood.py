"""Hostile clients against a tracker, bounded in count and time (run as its own process).

``python flood.py HOST PORT SECONDS GOOD_CERT GOOD_KEY BAD_CERT BAD_KEY CA``: for
SECONDS, threads keep up: idle TCP connections that never start TLS, slowloris
(valid certificate, one header byte every 0.5 s), oversized requests (1 MiB request
line), random garbage over TCP, and back-to-back handshakes with a certificate from
another CA. Prints one JSON line of counts on exit. Loopback only.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import threading
import time

IDLE = 300
SLOWLORIS = 40


def main() -> None:
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    good_cert, good_key, other_cert, other_key, ca = sys.argv[4:9]
    assert host.startswith("127."), "loopback only"
    stop = time.monotonic() + seconds
    counts = {"idle": 0, "slowloris": 0, "oversized": 0, "garbage": 0, "bad_cert": 0}
    lock = threading.Lock()

    def count(kind: str) -> None:
        with lock:
            counts[kind] += 1

    def context(cert: str, key: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        return ctx

    good, bad = context(good_cert, good_key), context(other_cert, other_key)

    def idle() -> None:
        held = []
        for _ in range(IDLE):
            try:
                held.append(socket.create_connection((host, port), timeout=2))
                count("idle")
            except OSError:
                time.sleep(0.05)
        time.sleep(max(0.0, stop - time.monotonic()))
        for s in held:
            s.close()

    def slowloris() -> None:
        while time.monotonic() < stop:
            try:
                with good.wrap_socket(socket.create_connection((host, port), timeout=5)) as s:
                    count("slowloris")
                    for byte in b"GET /announce?info_hash=" + b"A" * 200:
                        if time.monotonic() > stop:
                            return
                        s.sendall(bytes([byte]))
                        time.sleep(0.5)
            except OSError:
                time.sleep(0.1)

    def oversized() -> None:
        line = b"GET /announce?" + b"x" * (1 << 20) + b" HTTP/1.1\r\nHost: t\r\n\r\n"
        while time.monotonic() < stop:
            try:
                with good.wrap_socket(socket.create_connection((host, port), timeout=5)) as s:
                    s.sendall(line)
                    s.recv(4096)
                    count("oversized")
            except OSError:
                count("oversized")

    def garbage() -> None:
        while time.monotonic() < stop:
            try:
                with socket.create_connection((host, port), timeout=5) as s:
                    s.sendall(os.urandom(4096))
                    s.recv(4096)
            except OSError:
                pass
            count("garbage")

    def bad_cert() -> None:
        while time.monotonic() < stop:
            try:
                with bad.wrap_socket(socket.create_connection((host, port), timeout=5)) as s:
                    s.sendall(b"GET /announce HTTP/1.1\r\nHost: t\r\n\r\n")
                    s.recv(4096)
            except OSError:
                pass
            count("bad_cert")

    threads = [threading.Thread(target=idle)]
    threads += [threading.Thread(target=slowloris) for _ in range(SLOWLORIS)]
    threads += [threading.Thread(target=f) for f in (oversized, garbage, bad_cert, bad_cert)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
