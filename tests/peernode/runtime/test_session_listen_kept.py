"""A session keeps its listen sockets when its settings change and its interfaces are
read again: libtorrent's Python binding leaves ``listen_interfaces`` empty in a session
made from a dict, and a re-reading after any later ``apply_settings`` then closed every
socket (an origin on a fixed port accepted no connection after its first 30 s)."""

from __future__ import annotations

import time

import libtorrent as lt
import pytest

from peernode.runtime.session_settings import free_dual_stack_port, make_session


def _reread(session: lt.session) -> int:
    session.apply_settings({"tick_interval": 250})  # any change (the origin's tick, caps)
    session.reopen_network_sockets(0)  # what the node's periodic re-reading does
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # the reopen runs on libtorrent's thread
        time.sleep(0.1)
        if session.ssl_listen_port() == 0:
            break
    return int(session.ssl_listen_port())


def test_the_bindings_dict_leaves_listen_interfaces_empty() -> None:
    """The cause, pinned: if a libtorrent release fixes it, this says so."""
    port = free_dual_stack_port()
    session = lt.session({"listen_interfaces": f"127.0.0.1:{port}s",  # type: ignore[call-overload]
                          "enable_dht": False, "enable_ip_notifier": False})
    assert session.ssl_listen_port() == port
    assert session.get_settings()["listen_interfaces"] == ""
    assert _reread(session) == 0  # the bad case: no socket left


@pytest.mark.parametrize("host", ["::", "127.0.0.1"])
@pytest.mark.parametrize("fixed", [True, False])
def test_a_node_session_keeps_its_socket_through_a_settings_change(host: str,
                                                                   fixed: bool) -> None:
    port = free_dual_stack_port() if fixed else 0
    session = make_session(host, port=port, origin=True)
    listening = session.ssl_listen_port()
    assert listening != 0
    assert port in (0, listening)
    assert _reread(session) == listening
