"""Fixtures of the network-lab tests: a fresh lab per test, skipped (saying why) where
namespaces cannot be made (not root, no ``ip netns``, a Debian package missing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.netlab import Lab, lab_unavailable, open_lab

LAB_PREFIX = "pntest"
RATE_BPS = 4_000_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "netlab: runs in network namespaces (root; part of the default suite)")


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A lab whose links run at 4 MB/s each way; its nat-upnp homes need miniupnpd/stund."""
    reason = lab_unavailable(upnp=True)
    if reason:
        pytest.skip(reason)
    with open_lab(LAB_PREFIX, rate_bps=RATE_BPS) as built:
        yield built
