"""What came of mapping the node's port on the home router (pure: no I/O, no libtorrent).

A customer node asks its router, by UPnP IGD and NAT-PMP (libtorrent's own
clients), to forward its SSL port, so peers outside the home can connect in.
libtorrent reports a mapping (`PortMapped`), a refusal (`PortMapFailed`) and
the router's public address (`ExternalAddressLearned`), but says nothing when
no router answers at all: `PortMappingState.view` turns that silence into an
error once ``timeout_s`` has passed.

    state = PortMappingState.started(enabled=True, now_s=clock())
    state = state.apply(event)            # for every port-mapping event
    state.view(clock(), timeout_s=15.0)   # {"protocol", "external_address", "external_port"}
                                          # or {"error"}
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from peernode.runtime.session_events import ExternalAddressLearned, PortMapFailed, PortMapped

__all__ = [
    "DEFAULT_PORT_MAPPING_TIMEOUT_S",
    "DISABLED",
    "NO_ROUTER",
    "PortMappingEvent",
    "PortMappingState",
]

PortMappingEvent = PortMapped | PortMapFailed | ExternalAddressLearned

# A router that speaks NAT-PMP answers within a second; libtorrent retries
# for about 10 s (measured here against a silent gateway: NAT-PMP retried the
# TCP mapping for 11 s, UPnP kept searching) before it moves on quietly.
DEFAULT_PORT_MAPPING_TIMEOUT_S = 15.0

DISABLED = "disabled by consent (--no-port-mapping)"
NO_ROUTER = "no router answered"


@dataclass(frozen=True)
class PortMappingState:
    """The mapping outcome so far. Times are seconds of one monotonic clock.

    Only TCP mappings count: peers connect to the SSL port over TCP (the node
    runs without uTP, see `session_settings`).
    """

    enabled: bool
    started_at_s: float
    protocol: str | None = None
    external_port: int = 0
    external_address: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def started(cls, *, enabled: bool, now_s: float) -> PortMappingState:
        """The state of a node that just started (mapping on or refused)."""
        return cls(enabled=enabled, started_at_s=now_s)

    def apply(self, event: PortMappingEvent, *, ssl_port: int = 0) -> PortMappingState:
        """The state after one libtorrent port-mapping event.

        A node listening on one host has a plain socket beside its SSL one, and
        libtorrent maps both without saying which mapping is which. Peers connect to
        the SSL port, and routers grant the port asked for when it is free, so a
        mapping whose external port is ``ssl_port`` wins over any other.
        """
        if isinstance(event, ExternalAddressLearned):
            return replace(self, external_address=event.address)
        if isinstance(event, PortMapped):
            if event.transport != "tcp":
                return self
            holds_ssl = ssl_port and self.protocol is not None and self.external_port == ssl_port
            if holds_ssl and event.external_port != ssl_port:
                return self
            errors = {k: v for k, v in self.errors.items() if k != event.protocol}
            return replace(self, protocol=event.protocol, external_port=event.external_port,
                           errors=errors)
        # PortMapFailed: a protocol that mapped before keeps its mapping only
        # until it fails; the other one may still hold one.
        mapped = self.protocol if self.protocol != event.protocol else None
        return replace(
            self,
            protocol=mapped,
            external_port=self.external_port if mapped else 0,
            errors={**self.errors, event.protocol: event.message},
        )

    @property
    def mapped(self) -> bool:
        return self.protocol is not None

    def view(self, now_s: float, *, timeout_s: float = DEFAULT_PORT_MAPPING_TIMEOUT_S,
             protocols: int = 2) -> dict[str, Any]:
        """The outcome as JSON: mapped, failed, or ``{"state": "pending"}``.

        Mapped: ``{"state": "mapped", "protocol": "upnp"|"natpmp", "external_address"
        (None until the router told it), "external_port"}``. Failed: ``{"state":
        "failed", "error": text}`` once every protocol (``protocols`` of them) refused,
        or nothing mapped within ``timeout_s`` seconds; refused by the customer:
        ``{"state": "disabled", "error": DISABLED}``.
        """
        if not self.enabled:
            return {"state": "disabled", "error": DISABLED}
        if self.protocol is not None:
            return {"state": "mapped", "protocol": self.protocol,
                    "external_address": self.external_address,
                    "external_port": self.external_port}
        timed_out = now_s - self.started_at_s >= timeout_s
        if len(self.errors) >= protocols or (timed_out and self.errors):
            text = "; ".join(f"{p}: {m}" for p, m in sorted(self.errors.items()))
            return {"state": "failed", "error": text}
        if timed_out:
            return {"state": "failed", "error": NO_ROUTER}
        return {"state": "pending"}
