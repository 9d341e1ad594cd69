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


def test_the_ssl_port_s_mapping_wins_over_the_plain_socket_s() -> None:
    """One host: libtorrent maps the plain and the SSL socket, in either order; peers
    connect to the SSL port (seen in the home-router lab: 35573 plain, 6881 SSL)."""
    start = PortMappingState.started(enabled=True, now_s=0.0)
    plain, ssl = PortMapped("upnp", "tcp", 35573), PortMapped("upnp", "tcp", 6881)
    for order in ((plain, ssl), (ssl, plain)):
        state = start
        for event in order:
            state = state.apply(event, ssl_port=6881)
        assert state.view(1.0)["external_port"] == 6881
    # without knowing the SSL port the last mapping is all there is to go by
    assert start.apply(ssl).apply(plain).view(1.0)["external_port"] == 35573
