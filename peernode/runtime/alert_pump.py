"""A trio task that turns libtorrent alerts into typed events, without polling.

libtorrent writes a byte to a socket when its alert queue becomes non-empty
(`session.set_alert_fd`); trio waits on the other end of the socket pair, so
an idle node costs no CPU.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import libtorrent as lt
import trio

from peernode.runtime.events import Event, alert_to_event

__all__ = ["drain_alerts", "pump_alerts"]

log = logging.getLogger(__name__)


async def pump_alerts(
    session: lt.session,
    dispatch: Callable[[Event], None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled, calling ``dispatch`` for every alert that maps to an event."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        session.set_alert_fd(writer.fileno())
        task_status.started()
        while True:
            drain_alerts(session, dispatch)
            await trio.lowlevel.wait_readable(reader)
            try:
                while reader.recv(4096):
                    pass
            except BlockingIOError:
                pass
    finally:
        # Point libtorrent's notification at no descriptor before closing ours
        # (a reused fd number must never receive its bytes). Never install a
        # Python callable as notify function: libtorrent calls it holding its
        # alert mutex, and ~session takes that mutex holding the GIL - a
        # deadlock seen in the test suite.
        session.set_alert_fd(-1)
        reader.close()
        writer.close()


def drain_alerts(session: lt.session, dispatch: Callable[[Event], None]) -> None:
    """Pop every queued alert and dispatch the ones that map to events."""
    for alert in session.pop_alerts():
        event = alert_to_event(alert)
        if event is None:
            if isinstance(alert, lt.listen_failed_alert):
                # peers cannot reach a node that lost its listen socket: say so
                log.warning("libtorrent: %s", alert.message())
            elif alert.category() & lt.alert.category_t.error_notification:
                log.debug("libtorrent: %s", alert.message())
            continue
        dispatch(event)
