"""Shared fixtures for the PKI tests: a fixed clock, CAs, node keys and a CA directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certs import generate_node_key
from certs.authority import CA, save_content_key
from tests.conftest import T0

# Every pure test runs at T0 (tests/conftest.py); nothing reads the wall clock except the
# TLS tests, because OpenSSL checks validity against the real time.
FILM = "big-buck-bunny"
CONTENT_KEY = bytes(range(32))


@pytest.fixture(scope="session")
def film() -> str:
    """The film id every rental in these tests is for."""
    return FILM


@pytest.fixture(scope="session")
def content_key() -> bytes:
    """FILM's content key, as stored in `ca_dir`."""
    return CONTENT_KEY


@pytest.fixture(scope="session")
def node_key() -> ec.EllipticCurvePrivateKey:
    return generate_node_key()


@pytest.fixture(scope="session")
def other_node_key() -> ec.EllipticCurvePrivateKey:
    return generate_node_key()


@pytest.fixture
def ca_dir(tmp_path: Path, ca: CA) -> Path:
    """A saved CA directory holding the content key of FILM."""
    directory = tmp_path / "ca"
    ca.save(directory, now=T0 - timedelta(days=1))
    save_content_key(directory, FILM, CONTENT_KEY)
    return directory
