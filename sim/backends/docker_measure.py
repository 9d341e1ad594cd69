"""What the docker backend measures inside its containers: the origin's own Prometheus
counters, the kernel's byte counters of the origin's interface, and the tracker's
classes of its members (its operator-only ``/members.json``, where the tracker has it).

Each is read with ``docker exec`` in the container, from its own loopback listener or
``/sys``: nothing is published outside the run's networks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sim.backends.docker_cli import docker
from sim.backends.docker_router import ISP_TABLE, counter_isp
from sim.backends.origin_metrics import origin_uploaded_bytes
from sim.errors import BackendError
from support.errors import InputError
from support.hostport import parse_hostport

__all__ = ["METRICS_HOST", "ORIGIN_METRICS_PORT", "TRACKER_METRICS_PORT", "http_get",
           "isp_counter_bytes", "kernel_tx_bytes", "origin_payload_bytes", "parse_isp_counters",
           "reachability_of", "tracker_classes"]

METRICS_HOST = "127.0.0.1"
"""Metrics listen on the container's loopback: read with ``docker exec`` only."""
ORIGIN_METRICS_PORT, TRACKER_METRICS_PORT = 9100, 9101
_GET = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
        "sys.argv[1], timeout=5).read().decode())")


async def http_get(container: str, port: int, path: str) -> str | None:
    """``GET http://127.0.0.1:PORT/PATH`` inside ``container``; None if it fails."""
    try:
        return await docker("exec", container, "python3", "-c", _GET,
                            f"http://{METRICS_HOST}:{port}{path}")
    except BackendError:
        return None


async def origin_payload_bytes(container: str) -> int | None:
    """Payload bytes the origin says it uploaded (every film, every session)."""
    text = await http_get(container, ORIGIN_METRICS_PORT, "/metrics")
    return None if text is None else origin_uploaded_bytes(text)


async def kernel_tx_bytes(container: str, dev: str = "eth0") -> int | None:
    """Bytes the kernel counted leaving ``dev`` in ``container``."""
    try:
        out = await docker("exec", container, "cat", f"/sys/class/net/{dev}/statistics/tx_bytes")
    except BackendError:
        return None
    try:
        return int(out.strip())
    except ValueError:
        return None


def _host(address: str) -> str:
    """The host of ``HOST:PORT`` / ``[V6]:PORT``, or a bare host as it is."""
    if ":" not in address or (address.count(":") > 1 and not address.startswith("[")):
        return address
    try:
        return parse_hostport(address)[0]
    except InputError:
        return address.strip("[]")


def reachability_of(document: object) -> dict[str, str] | None:
    """Address -> class from the tracker's ``/members.json`` (``{"films": {FILM: [member,
    ...]}}``, each member with its ``addresses`` and ``reachability``); None if the
    document has no such shape."""
    films = document.get("films") if isinstance(document, Mapping) else None
    if not isinstance(films, Mapping):
        return None
    members = [m for listed in films.values() if isinstance(listed, list) for m in listed]
    classes = {}
    for member in members:
        if not isinstance(member, Mapping):
            continue
        kind = member.get("reachability")
        addresses = member.get("addresses", [])
        if not isinstance(kind, str) or not isinstance(addresses, list):
            continue
        for address in addresses:
            if isinstance(address, str):
                classes[_host(address)] = kind
    return classes


async def tracker_classes(container: str) -> dict[str, str] | None:
    """The tracker's class of each member address, or None where its metrics listener
    has no ``/members.json``."""
    text = await http_get(container, TRACKER_METRICS_PORT, "/members.json")
    if text is None:
        return None
    try:
        return reachability_of(json.loads(text))
    except ValueError:
        return None


def parse_isp_counters(text: str) -> dict[int, int] | None:
    """ISP index -> bytes from ``nft -j list counters table inet peernode_isp``."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    entries = document.get("nftables") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        return None
    counted = {}
    for entry in entries:
        counter = entry.get("counter") if isinstance(entry, Mapping) else None
        if not isinstance(counter, Mapping):
            continue
        isp, count = counter_isp(str(counter.get("name"))), counter.get("bytes")
        if isp is not None and isinstance(count, int):
            counted[isp] = count
    return counted


async def isp_counter_bytes(router: str) -> dict[int, int] | None:
    """What ``router``'s client received from each ISP (index -> bytes), by its counters."""
    try:
        out = await docker("exec", router, "nft", "-j", "list", "counters", "table", "inet",
                           ISP_TABLE)
    except BackendError:
        return None
    return parse_isp_counters(out)
