"""The connect-back probe's shell: TCP connects to announcers, results into the table.

`ProbeRunner.submit` is called on the announce path and only queues (never waits); the
`ProbeRunner.run` task does the connects, at most ``max_pending`` at once, each bounded
by ``connect_timeout_s``, and closes each connection as soon as it is made: a
completed TCP handshake on the announced (SSL listen) port is the evidence, nothing is
sent. Which address is probed, and how often, is `tracker.reachability`'s decision.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from ipaddress import ip_address

import trio

from tracker.reachability import ProbeVerdict, ReachabilityTable

__all__ = ["ProbeRunner", "connects"]

log = logging.getLogger("tracker.probe")

_V4 = 6


async def connects(address: bytes, timeout_s: float) -> bool:
    """True if a TCP connection to compact ``address`` is accepted within ``timeout_s``."""
    family = socket.AF_INET if len(address) == _V4 else socket.AF_INET6
    host = str(ip_address(address[:-2]))
    port = int.from_bytes(address[-2:], "big")
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    connected = False
    try:
        with trio.move_on_after(timeout_s):
            await sock.connect((host, port))
            connected = True
    except OSError:
        pass  # refused, unreachable network...: not connectable
    finally:
        sock.close()  # at once: the handshake is the evidence, nothing is sent
    return connected


class ProbeRunner:
    """Queues probes for the announce path and runs them in the background."""

    def __init__(
        self,
        table: ReachabilityTable,
        *,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._table = table
        self._clock = clock
        self._send, self._receive = trio.open_memory_channel[bytes](table.policy.max_pending)

    def submit(self, address: bytes) -> bool:
        """Queue a probe of compact ``address``; False if the queue is full."""
        try:
            self._send.send_nowait(address)
        except trio.WouldBlock:
            return False
        return True

    async def run(self) -> None:
        """Probe queued addresses until cancelled."""
        running = trio.Semaphore(self._table.policy.max_pending)
        async with trio.open_nursery() as nursery:
            async for address in self._receive:
                await running.acquire()
                nursery.start_soon(self._probe, address, running, nursery)

    async def _retry_later(self, address: bytes) -> None:
        """Ask the table again after ``first_retry_s``; it applies every rate limit."""
        await trio.sleep(self._table.policy.first_retry_s)
        verdict = self._table.consider(address, self._clock(), retry=True)
        if verdict is ProbeVerdict.PROBE and not self.submit(address):
            self._table.dropped(address)

    async def _probe(
        self, address: bytes, running: trio.Semaphore, nursery: trio.Nursery
    ) -> None:
        try:
            start = time.perf_counter()
            ok = await connects(address, self._table.policy.connect_timeout_s)
            self._table.record(address, ok, self._clock(), time.perf_counter() - start)
            log.debug("probe %s: %s", address.hex(), "connectable" if ok else "unreachable")
        finally:
            running.release()
        if not ok and self._table.wants_retry(address):
            nursery.start_soon(self._retry_later, address)
