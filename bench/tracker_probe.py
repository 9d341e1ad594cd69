"""Benchmark: what the connect-back probe costs the tracker, per announce (CPU µs).

Three figures, each the median of ``--repeats`` runs:

- ``announce_cpu_us_no_probe``: one admitted announce through `TrackerService.handle`
  (parse, admit, swarm, shape, bencode) into a 500-peer swarm, probing off;
- ``announce_cpu_us_probe_path``: the same with probing on and every announce from a
  new address, so each one is considered *and* queues a probe (the worst case for the
  announce path; the connect itself is not in it);
- ``probe_cpu_us``: one probe as `ProbeRunner` does it (queue, TCP connect to a
  listening loopback port, close, record), CPU of the tracker's thread only (the
  listener runs in a thread of its own);
- ``probe_cpu_us_per_announce_steady``: the probe's share per announce in steady state,
  where an address is probed once per ``connectable_ttl_s`` and announces every
  ``announce_interval_s`` (defaults: 1800 s and 300 s, one probe per 6 announces), plus
  the announce-path overhead.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import urlencode

import trio

# run as a script, bench/ comes first on sys.path and would shadow the `tracker` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from tracker.admission import CertInfo  # noqa: E402
from tracker.catalog import Catalog  # noqa: E402
from tracker.config import ProbePolicy, SwarmPolicy  # noqa: E402
from tracker.probe import ProbeRunner  # noqa: E402
from tracker.reachability import ReachabilityTable  # noqa: E402
from tracker.service import TrackerService  # noqa: E402
from tracker.swarm import Swarms  # noqa: E402

IH = b"\x11" * 20
NOW = datetime.now(UTC)
UNLIMITED = ProbePolicy(
    per_ip_probes=10**9, rate_per_s=1e12, burst=10**9, max_pending=10**9, max_entries=10**9
)


def _target(n: int, left: int) -> bytes:
    q = {
        "info_hash": IH,
        "peer_id": n.to_bytes(20, "big"),
        "port": 1 + n % 60000,
        "uploaded": 0,
        "downloaded": 0,
        "left": left,
        "numwant": 50,
    }
    return b"/announce?" + urlencode(q).encode()


def announce_cpu_us(announces: int, *, probing: bool) -> float:
    """CPU µs per announce through the whole pure service."""
    rng = random.Random(1)
    swarms = Swarms(SwarmPolicy(), reachability=ReachabilityTable(UNLIMITED))
    service = TrackerService(swarms, Catalog({IH: "film"}))
    hour = timedelta(hours=1)
    # one rental per peer, as in a real swarm (one serial may hold only 4 peer ids)
    certs = [CertInfo(s, ("film",), NOW - hour, NOW + hour) for s in range(1, announces + 501)]
    for n in range(500):  # the swarm the announces go to
        ip = IPv4Address(0x0A000000 + n)
        service.handle(_target(n, n % 4), certs[n], ip, now=0.0, wall_now=NOW, rng=rng)
    queued: list[bytes] = []

    def sink(address: bytes) -> bool:
        queued.append(address)
        return True

    if probing:  # the shell's queue, as cheap as it gets: what remains is the policy's cost
        service.probe_sink = sink
    jobs = [
        (_target(10_000 + n, 1000), certs[500 + n], IPv4Address(0x0B000000 + n))
        for n in range(announces)
    ]
    start = time.process_time()
    for target, cert, ip in jobs:
        service.handle(target, cert, ip, now=1.0, wall_now=NOW, rng=rng)
    used = time.process_time() - start
    assert not probing or len(queued) == announces
    return used / announces * 1e6


def _accept_and_close(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.close()


def probe_cpu_us(probes: int) -> float:
    """CPU µs of the tracker's thread per probe (connect to a loopback listener, close)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = listener.getsockname()[1]
    stop = threading.Event()
    acceptor = threading.Thread(target=_accept_and_close, args=(listener, stop), daemon=True)
    acceptor.start()
    table = ReachabilityTable(UNLIMITED)
    addresses = [bytes([127, 0, 0, 1]) + port.to_bytes(2, "big")] * probes

    async def main() -> float:
        runner = ProbeRunner(table)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner.run)
            await trio.sleep(0.05)
            start = time.thread_time()
            for n, address in enumerate(addresses):
                while not runner.submit(address):
                    await trio.sleep(0)
                if n % 64 == 0:
                    await trio.sleep(0)  # let the runner keep up, as announces would
            while table.counters.ok + table.counters.failed < probes:
                await trio.sleep(0.001)
            used = time.thread_time() - start
            nursery.cancel_scope.cancel()
        return used

    try:
        used = trio.run(main)
    finally:
        stop.set()
        acceptor.join()
        listener.close()
    assert table.counters.failed == 0, table.counters
    return used / probes * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--announces", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    plain = [announce_cpu_us(args.announces, probing=False) for _ in range(args.repeats)]
    probing = [announce_cpu_us(args.announces, probing=True) for _ in range(args.repeats)]
    probe = [probe_cpu_us(args.probes) for _ in range(args.repeats)]
    p = ProbePolicy()
    per_announce = SwarmPolicy().announce_interval_s / p.connectable_ttl_s
    no, yes, one = (statistics.median(x) for x in (plain, probing, probe))
    print(
        json.dumps(
            {
                "announce_cpu_us_no_probe": round(no, 2),
                "announce_cpu_us_probe_path": round(yes, 2),
                "probe_path_overhead_us": round(yes - no, 2),
                "probe_cpu_us": round(one, 2),
                "probe_cpu_us_per_announce_steady": round((yes - no) + one * per_announce, 2),
                "repeats": args.repeats,
                "announces": args.announces,
                "probes": args.probes,
            }
        )
    )


if __name__ == "__main__":
    main()
