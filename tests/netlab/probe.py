"""TCP reachability probe run inside a lab namespace (``python -m tests.netlab.probe``).

    listen HOST PORT      accept connections until killed; prints "listening", then
                          "accepted PEER_IP" for each one
    connect HOST PORT     exit 0 and print "connected" if a TCP connection opens within
                          --timeout seconds, else exit 1 with the reason
"""

from __future__ import annotations

import argparse
import socket
import sys


def _listen(host: str, port: int) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen()
        print("listening", flush=True)
        while True:
            conn, peer = s.accept()
            print("accepted", peer[0], flush=True)
            conn.close()


def _connect(host: str, port: int, timeout_s: float) -> int:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            print("connected", flush=True)
            return 0
    except OSError as e:
        print(f"failed: {e}", flush=True)
        return 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["listen", "connect"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()
    if args.action == "listen":
        return _listen(args.host, args.port)
    return _connect(args.host, args.port, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
