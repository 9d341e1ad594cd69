"""A node bound to one address also connects out from it (pure settings check).

Without this, libtorrent leaves outgoing sockets unbound: on loopback every sim node
connects from 127.0.0.1, the origin's per-IP bound refuses the whole flash crowd, and
release-night-no-hosts.toml stood at 0 % for 60 s (docs/pre-positioning.md).
"""

from __future__ import annotations

import pytest

from peernode.runtime.session_settings import private_swarm_settings


@pytest.mark.parametrize(
    ("host", "outgoing"),
    [("127.1.0.5", "127.1.0.5"), ("[::1]", "::1"), ("::1", "::1")],
)
def test_a_node_on_one_address_connects_from_it(host: str, outgoing: str) -> None:
    assert private_swarm_settings(host)["outgoing_interfaces"] == outgoing


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]"])
def test_a_wildcard_node_leaves_outgoing_sockets_to_the_system(host: str) -> None:
    assert private_swarm_settings(host)["outgoing_interfaces"] == ""
