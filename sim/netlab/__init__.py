"""A home-network lab in real network namespaces (root only): an internet with hosts and
a STUN server, homes behind routers of every kind (public, NAT, NAT with UPnP/NAT-PMP,
dual-stack, IPv6-only), links shaped with tbf. Used by tests/netlab and bench/nat.py,
bench/transport.py; a namespace backend of the simulator can reuse it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

_LAZY = {
    "FetchResult": "sim.netlab.swarm",
    "Home": "sim.netlab.lab",
    "HomeKind": "sim.netlab.addressing",
    "Lab": "sim.netlab.lab",
    "LabSwarm": "sim.netlab.swarm",
    "Netns": "sim.netlab.lab",
    "lab_unavailable": "sim.netlab.commands",
    "open_lab": "sim.netlab.lab",
    "open_lab_swarm": "sim.netlab.swarm",
    "sweep_leftovers": "sim.netlab.lab",
}

__getattr__ = lazy_attributes(__name__, _LAZY)

if TYPE_CHECKING:
    from sim.netlab.addressing import HomeKind
    from sim.netlab.commands import lab_unavailable
    from sim.netlab.lab import Home, Lab, Netns, open_lab, sweep_leftovers
    from sim.netlab.swarm import FetchResult, LabSwarm, open_lab_swarm

__all__ = [
    "FetchResult",
    "Home",
    "HomeKind",
    "Lab",
    "LabSwarm",
    "Netns",
    "lab_unavailable",
    "open_lab",
    "open_lab_swarm",
    "sweep_leftovers",
]
