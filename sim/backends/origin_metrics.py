"""The origin seeder's own byte counts, read from its Prometheus metrics (`peernode seed
--metrics`): what the CDN would bill, beside what the clients attribute to it.

The origin updates ``peernode_origin_uploaded_bytes{film}`` once a second (both of its
sessions, the warm start included), so `settled_origin_uploaded` reads until two
readings a second apart agree: the bytes still in its last second are in.
"""

from __future__ import annotations

import urllib.request

import trio
from prometheus_client.parser import text_string_to_metric_families

from support.hostport import format_hostport

__all__ = ["ORIGIN_UPLOADED_METRIC", "origin_uploaded", "origin_uploaded_bytes",
           "settled_origin_uploaded"]

ORIGIN_UPLOADED_METRIC = "peernode_origin_uploaded_bytes"
_UPDATE_S = 1.2  # a little more than the origin's update interval


def origin_uploaded_bytes(exposition: str) -> int:
    """The sum over films of `ORIGIN_UPLOADED_METRIC` in a Prometheus text exposition."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == ORIGIN_UPLOADED_METRIC:
                total += sample.value
    return int(total)


def _get(url: str, timeout_s: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 (http only)
        body: bytes = reply.read()
    return body.decode("utf-8", errors="replace")


async def origin_uploaded(host: str, port: int, *, timeout_s: float = 5.0) -> int | None:
    """The payload bytes the origin on ``host`` says it sent, from its metrics on
    ``port``; None if they cannot be read (not running, not listening yet)."""
    url = f"http://{format_hostport(host, port)}/metrics"
    try:
        text = await trio.to_thread.run_sync(_get, url, timeout_s)
    except (OSError, ValueError):
        return None
    return origin_uploaded_bytes(text)


async def settled_origin_uploaded(host: str, port: int, *, max_reads: int = 5) -> int | None:
    """`origin_uploaded` once two readings `_UPDATE_S` apart agree (or after
    ``max_reads``, while clients still download); None if it cannot be read."""
    last = await origin_uploaded(host, port)
    for _ in range(max_reads - 1):
        if last is None:
            return None
        await trio.sleep(_UPDATE_S)
        now = await origin_uploaded(host, port)
        if now == last:
            return now
        last = now
    return last
