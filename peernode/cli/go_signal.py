"""``peernode fetch --wait-go FIFO``: a node loaded ahead of its customer's "rent".

A simulation starts a client's process ahead of its arrival, as a customer's app is
already running when they press "rent": the process loads, opens its session (and asks
the home router for a port), then creates ``FIFO.waiting`` and waits for one line on
the FIFO (no CPU while it waits). Once the line arrives it writes the time (unix
seconds) to ``FIFO.started``, atomically (a reader never finds half of it), and the
download starts. The FIFO is opened read-write, so it has a reader from before the
marker exists: a writer that sees the marker never finds the FIFO without one.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import trio

from peernode.errors import PeernodeError
from support.atomic_write import write_atomic

__all__ = ["wait_for_go"]


async def wait_for_go(fifo: Path) -> float:
    """Wait for a line on ``fifo`` (see the module); return when it came (unix seconds)."""
    try:
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    except OSError as e:
        raise PeernodeError(f"cannot open the go signal {fifo}: {e.strerror}") from None
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise PeernodeError(f"the go signal {fifo} is not a FIFO")
        fifo.with_name(fifo.name + ".waiting").touch()
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                if b"\n" in os.read(fd, 64):
                    break
            except BlockingIOError:
                continue
    finally:
        os.close(fd)
    now = time.time()
    # whole or not at all: the simulator polls this file and must never read half a time
    write_atomic(fifo.with_name(fifo.name + ".started"), f"{now:.6f}\n".encode("ascii"))
    return now
