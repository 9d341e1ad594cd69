"""Fixtures shared by the whole suite: one fixed clock and one operator CA.

Pure tests run at `T0`. Tests with real TLS or libtorrent sessions need certificates
valid at the real time (OpenSSL checks the wall clock); the CA below is created a day
before `T0` and lasts ten years, so the same CA serves both kinds. Leaf certificates
for real handshakes are issued relative to the real time by the folders that need them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certs.authority import CA

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""The fixed "now" of every pure test."""

CA_CREATED = T0 - timedelta(days=1)


@pytest.fixture(scope="session")
def t0() -> datetime:
    """The fixed "now" of the pure tests."""
    return T0


@pytest.fixture(scope="session")
def ca() -> CA:
    """The operator CA, created a day before T0 and valid for ten years."""
    return CA.create(now=CA_CREATED)


@pytest.fixture(scope="session")
def other_ca() -> CA:
    """Another operator's CA with the *same* default name (names do not identify CAs)."""
    return CA.create(now=CA_CREATED)
