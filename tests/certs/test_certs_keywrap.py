"""Content-key wrapping on its own: round trip, bindings, and who can unwrap."""

from __future__ import annotations

import os
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs import CertsError, RentalTampered, WrappedKey, unwrap_content_key
from certs.authority import wrap_content_key

KEY = bytes(range(32))


def _wrap(
    node_key: ec.EllipticCurvePrivateKey, film_id: str = "film", serial: int = 42
) -> WrappedKey:
    return wrap_content_key(
        KEY, node_key.public_key(), film_id=film_id, serial=serial, rng_bytes=os.urandom
    )


def test_round_trip(node_key: ec.EllipticCurvePrivateKey) -> None:
    wrapped = _wrap(node_key)
    assert (len(wrapped.ephemeral_key), len(wrapped.nonce), len(wrapped.ciphertext)) == (65, 12, 48)
    assert unwrap_content_key(wrapped, node_key, film_id="film", serial=42) == KEY


@pytest.mark.parametrize(("film_id", "serial"), [("other-film", 42), ("film", 43)])
def test_bound_to_film_and_serial(
    node_key: ec.EllipticCurvePrivateKey, film_id: str, serial: int
) -> None:
    with pytest.raises(RentalTampered):
        unwrap_content_key(_wrap(node_key), node_key, film_id=film_id, serial=serial)


def test_only_the_recipient_can_unwrap(
    node_key: ec.EllipticCurvePrivateKey, other_node_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(RentalTampered):
        unwrap_content_key(_wrap(node_key), other_node_key, film_id="film", serial=42)


def test_deterministic_with_injected_randomness(node_key: ec.EllipticCurvePrivateKey) -> None:
    def wrap(seed: int) -> WrappedKey:
        rng = random.Random(seed).randbytes
        return wrap_content_key(KEY, node_key.public_key(), film_id="f", serial=1, rng_bytes=rng)

    assert wrap(7) == wrap(7)
    assert wrap(7) != wrap(8)


def test_rejection_sampling_skips_out_of_range_scalars(
    node_key: ec.EllipticCurvePrivateKey,
) -> None:
    draws = iter([b"\xff" * 32, b"\x00" * 32, bytes(31) + b"\x05", b"\x01" * 12])
    wrapped = wrap_content_key(
        KEY, node_key.public_key(), film_id="f", serial=1, rng_bytes=lambda n: next(draws)
    )
    expected = ec.derive_private_key(5, ec.SECP256R1()).public_key()  # the first in-range draw
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    assert wrapped.ephemeral_key == expected.public_bytes(*point)
    assert unwrap_content_key(wrapped, node_key, film_id="f", serial=1) == KEY


def test_refusals(node_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(CertsError, match="32 bytes"):
        wrap_content_key(
            b"short", node_key.public_key(), film_id="f", serial=1, rng_bytes=os.urandom
        )
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(CertsError, match="P-256"):
        wrap_content_key(KEY, p384, film_id="f", serial=1, rng_bytes=os.urandom)
    with pytest.raises(CertsError, match="no usable"):
        wrap_content_key(KEY, node_key.public_key(), film_id="f", serial=1, rng_bytes=bytes)
