"""Wrapping a film's content key to one node's P-256 public key (ECIES-style, pure).

wrap:   ephemeral P-256 key e; secret = ECDH(e, node public key);
        key = HKDF-SHA256(secret, info = label, film id, serial, both public points);
        ciphertext = AES-256-GCM(key, nonce, content key, AAD = label, film id, serial).
unwrap: the same from the node's private key; any change to the point, nonce,
        ciphertext, film id or serial fails the GCM tag.

So only the node holding the private key can unwrap, and a wrapped key cannot be
moved to another film or rental. Both public points go into the KDF (as HPKE's
kem_context does) so the derived key is tied to this exact exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certs.errors import CertsError, RentalTampered

__all__ = [
    "NONCE_BYTES",
    "POINT_BYTES",
    "WRAPPED_BYTES",
    "WrappedKey",
    "unwrap_content_key",
    "wrap_content_key",
]

NONCE_BYTES = 12
POINT_BYTES = 65  # uncompressed P-256 point: 0x04 || X || Y
CONTENT_KEY_BYTES = 32
WRAPPED_BYTES = CONTENT_KEY_BYTES + 16  # + GCM tag

_LABEL = b"peernode rental v1"
_SERIAL_BYTES = 20  # RFC 5280: serials fit in 20 octets
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class WrappedKey:
    """A content key wrapped to one public key: what a rental bundle carries."""

    ephemeral_key: bytes  # uncompressed P-256 point, POINT_BYTES
    nonce: bytes  # NONCE_BYTES
    ciphertext: bytes  # WRAPPED_BYTES: encrypted content key + GCM tag


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _binding(film_id: str, serial: int) -> bytes:
    """What the wrapped key is bound to; msgpack makes the encoding unambiguous."""
    packed: bytes = msgpack.packb([_LABEL, film_id, serial.to_bytes(_SERIAL_BYTES, "big")])
    return packed


def _derive(secret: bytes, binding: bytes, ephemeral_point: bytes, recipient_point: bytes) -> bytes:
    info: bytes = msgpack.packb([binding, ephemeral_point, recipient_point])
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _ephemeral_key(rng_bytes: Callable[[int], bytes]) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from ``rng_bytes`` by rejection sampling (no modulo bias)."""
    for _ in range(64):
        scalar = int.from_bytes(rng_bytes(32), "big")
        if 0 < scalar < _P256_ORDER:
            return ec.derive_private_key(scalar, ec.SECP256R1())
    raise CertsError("the random source gave no usable P-256 scalar in 64 tries")


def wrap_content_key(
    content_key: bytes,
    recipient: ec.EllipticCurvePublicKey,
    *,
    film_id: str,
    serial: int,
    rng_bytes: Callable[[int], bytes],
) -> WrappedKey:
    """Wrap ``content_key`` (32 bytes) to ``recipient``, bound to ``film_id`` and ``serial``.

    ``rng_bytes(n)`` supplies the ephemeral key and the nonce. Raises `CertsError` for a
    content key of the wrong size, a non-P-256 recipient or a misbehaving random source.
    """
    if len(content_key) != CONTENT_KEY_BYTES:
        raise CertsError(f"content key must be {CONTENT_KEY_BYTES} bytes, got {len(content_key)}")
    if not isinstance(recipient.curve, ec.SECP256R1):
        raise CertsError("content keys are wrapped to P-256 keys only")
    ephemeral = _ephemeral_key(rng_bytes)
    ephemeral_point = _point(ephemeral.public_key())
    binding = _binding(film_id, serial)
    key = _derive(
        ephemeral.exchange(ec.ECDH(), recipient), binding, ephemeral_point, _point(recipient)
    )
    nonce = rng_bytes(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise CertsError("the random source returned a short nonce")
    return WrappedKey(ephemeral_point, nonce, AESGCM(key).encrypt(nonce, content_key, binding))


def unwrap_content_key(
    wrapped: WrappedKey, node_key: ec.EllipticCurvePrivateKey, *, film_id: str, serial: int
) -> bytes:
    """Recover the content key with the node's private key.

    Raises `RentalTampered` if the ephemeral point is invalid or anything wrapped or
    bound (point, nonce, ciphertext, film id, serial, node key) differs from wrapping.
    """
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), wrapped.ephemeral_key
        )
    except ValueError:
        raise RentalTampered("rental bundle's wrapped key was altered (bad point)") from None
    binding = _binding(film_id, serial)
    key = _derive(
        node_key.exchange(ec.ECDH(), ephemeral),
        binding,
        wrapped.ephemeral_key,
        _point(node_key.public_key()),
    )
    try:
        return AESGCM(key).decrypt(wrapped.nonce, wrapped.ciphertext, binding)
    except (InvalidTag, ValueError):
        raise RentalTampered("rental bundle's wrapped content key does not verify") from None
