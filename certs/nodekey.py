"""The customer node's own P-256 key pair: the private key never leaves the node.

The shop sends ``node.pub`` to the operator, who issues a rental certificate for it
and wraps the film's content key to it (`certs.rental`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.errors import CertsError, KeyFileError
from certs.file_reading import read_file, read_private
from support.atomic_write import write_atomic, write_private

__all__ = [
    "NODE_KEY_FILE",
    "NODE_PUB_FILE",
    "generate_node_key",
    "load_node_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "save_node_key",
]

NODE_KEY_FILE = "node.key"
NODE_PUB_FILE = "node.pub"


def generate_node_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 private key for a node."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (what libtorrent's set_ssl_certificate_buffer takes)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM (the ``node.pub`` format)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def save_node_key(
    out_dir: str | os.PathLike[str], key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    """Write ``out_dir/node.key`` (0600, PKCS#8 PEM) and ``out_dir/node.pub`` (0644).

    Returns (key path, public key path). Refuses (`CertsError`) to overwrite an
    existing ``node.key``: the node's rentals are bound to it.
    """
    out = Path(out_dir)
    key_path, pub_path = out / NODE_KEY_FILE, out / NODE_PUB_FILE
    if key_path.exists():
        raise CertsError(f"{key_path} already exists; this node already has a key")
    write_private(key_path, private_key_pem(key))
    write_atomic(pub_path, public_key_pem(key.public_key()))
    return key_path, pub_path


def load_node_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePrivateKey:
    """Read the node's private key (PEM), refusing a file other users can read.

    Raises `KeyFileError` if missing, too open, malformed, encrypted, or not P-256.
    """
    data = read_private(path, what="node key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"node key {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"node key {path} is not a P-256 (secp256r1) key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> ec.EllipticCurvePublicKey:
    """Read a node's public key (``node.pub``, SubjectPublicKeyInfo PEM).

    Raises `KeyFileError` if missing, unreadable, malformed or not P-256.
    """
    data = read_file(path, what="node public key", error=KeyFileError)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"node public key {path} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"node public key {path} is not a P-256 (secp256r1) key")
    return key
