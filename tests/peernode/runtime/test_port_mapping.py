"""The port-mapping outcome reducer (pure: events in, JSON out)."""

from __future__ import annotations

from peernode.runtime.port_mapping import DISABLED, NO_ROUTER, PortMappingState
from peernode.runtime.session_events import ExternalAddressLearned, PortMapFailed, PortMapped


def _started(enabled: bool = True) -> PortMappingState:
    return PortMappingState.started(enabled=enabled, now_s=100.0)


def test_refused_by_consent_reports_disabled() -> None:
    assert _started(False).view(100.0) == {"state": "disabled", "error": DISABLED}


def test_pending_until_the_timeout_then_no_router() -> None:
    state = _started()
    assert state.view(114.9, timeout_s=15.0) == {"state": "pending"}
    assert state.view(115.0, timeout_s=15.0) == {"state": "failed", "error": NO_ROUTER}


def test_tcp_mapping_with_the_external_address() -> None:
    state = _started().apply(PortMapped("natpmp", "tcp", 40001))
    state = state.apply(ExternalAddressLearned("203.0.113.7"))
    assert state.view(1000.0) == {"state": "mapped", "protocol": "natpmp",
                                  "external_address": "203.0.113.7", "external_port": 40001}


def test_udp_mapping_alone_does_not_count() -> None:
    state = _started().apply(PortMapped("upnp", "udp", 40001))
    assert state.view(101.0)["state"] == "pending"


def test_both_protocols_refused_is_an_error_at_once() -> None:
    state = _started().apply(PortMapFailed("upnp", "conflict in mapping"))
    assert state.view(101.0)["state"] == "pending"  # NAT-PMP may still answer
    state = state.apply(PortMapFailed("natpmp", "no resources"))
    assert state.view(101.0) == {"state": "failed",
                                 "error": "natpmp: no resources; upnp: conflict in mapping"}


def test_one_refusal_then_timeout_reports_the_refusal() -> None:
    state = _started().apply(PortMapFailed("upnp", "not authorized"))
    assert state.view(200.0, timeout_s=15.0) == {"state": "failed",
                                                 "error": "upnp: not authorized"}


def test_mapping_by_the_other_protocol_wins_over_a_refusal() -> None:
    state = _started().apply(PortMapFailed("natpmp", "no resources"))
    state = state.apply(PortMapped("upnp", "tcp", 50000))
    assert state.view(200.0)["protocol"] == "upnp"
    # The mapping protocol failing later (lease renewal refused) loses it.
    state = state.apply(PortMapFailed("upnp", "lease refused"))
    assert state.view(200.0)["state"] == "failed"
