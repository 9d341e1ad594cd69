"""The origin's shell for `peernode.operations.reachability_priority`: read the tracker's
unreachable IPs, and put them in the sessions' peer class filters.

The tracker is read over plain HTTP on its operator-only metrics listener (which the
operator keeps on an operator network, `peernode tracker --metrics-allow`), every
``poll_s``; a reading that fails is logged once and the last good one kept, so an origin
whose tracker is away serves as before.
"""

from __future__ import annotations

import http.client
import logging
import urllib.request
from collections.abc import Iterable

import libtorrent as lt
import trio

from peernode.errors import PeernodeError
from peernode.operations.reachability_priority import (
    REACHABLE_PRIORITY,
    UNREACHABLE_PATH,
    class_rules,
    parse_unreachable,
)

__all__ = ["ReachabilityFeed", "ReachableClasses", "reachability_url"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 5.0
_MAX_BODY = 32 << 20


def reachability_url(base: str) -> str:
    """``base`` (the tracker's metrics listener, ``http://HOST:PORT``) checked, with the
    path of its unreachable list. Raises `PeernodeError` for anything but http(s)."""
    if not base.startswith(("http://", "https://")):
        raise PeernodeError(f"--tracker-reachability {base!r}: give the http:// URL of the "
                            "tracker's metrics listener")
    return base.rstrip("/") + UNREACHABLE_PATH


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as reply:  # noqa: S310 (checked)
        body: bytes = reply.read(_MAX_BODY + 1)
    if len(body) > _MAX_BODY:
        raise ValueError(f"longer than {_MAX_BODY} bytes")
    return body


class ReachabilityFeed:
    """The last good reading of the tracker's unreachable IPs (None before the first)."""

    def __init__(self, url: str, poll_s: float) -> None:
        self.url = url
        self.poll_s = poll_s
        self.latest: frozenset[str] | None = None
        self._failing = False

    async def run(self) -> None:
        """Read the tracker every ``poll_s`` until cancelled."""
        while True:
            try:
                body = await trio.to_thread.run_sync(_get, self.url, abandon_on_cancel=True)
                self.latest = parse_unreachable(body)
            except (OSError, ValueError, http.client.HTTPException) as e:
                if not self._failing:
                    log.warning("cannot read unreachable customers from %s: %s (the last "
                                "reading stays in force)", self.url, e)
                self._failing = True
            else:
                if self._failing:
                    log.info("reading unreachable customers from %s again", self.url)
                self._failing = False
            await trio.sleep(self.poll_s)


class ReachableClasses:
    """The *reachable* peer class of each session, and their filters."""

    def __init__(self, sessions: Iterable[lt.session], *, limit_local_peers: bool) -> None:
        self._limit_local = limit_local_peers
        self._sessions: list[tuple[lt.session, dict[str, int]]] = []
        for session in sessions:
            reachable = session.create_peer_class("reachable")
            info = session.get_peer_class(reachable)
            info["upload_priority"] = REACHABLE_PRIORITY
            session.set_peer_class(reachable, info)
            ids = {"global": session.global_peer_class_id,
                   "local": session.local_peer_class_id, "reachable": reachable}
            self._sessions.append((session, ids))
        self.apply(frozenset())

    def apply(self, unreachable: frozenset[str]) -> None:
        """Serve ``unreachable`` last on connections made from now on."""
        rules = class_rules(unreachable, limit_local_peers=self._limit_local)
        for session, ids in self._sessions:
            f = lt.ip_filter()
            for rule in rules:
                f.add_rule(rule.first, rule.last, sum(1 << ids[c] for c in rule.classes))
            session.set_peer_class_filter(f)
