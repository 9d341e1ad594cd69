"""The node's own key pair: files, modes, and refusals."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certs import (
    CertsError,
    KeyFileError,
    generate_node_key,
    load_node_key,
    load_public_key,
    private_key_pem,
    save_node_key,
)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    key = generate_node_key()
    assert isinstance(key.curve, ec.SECP256R1)
    key_path, pub_path = save_node_key(tmp_path / "node", key)
    assert (key_path.name, pub_path.name) == ("node.key", "node.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub_path.stat().st_mode) == 0o644
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert pub_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")  # SPKI
    assert load_node_key(key_path).private_numbers() == key.private_numbers()
    assert load_public_key(pub_path) == key.public_key()


def test_private_key_pem_is_unencrypted_pkcs8() -> None:
    key = generate_node_key()
    pem = private_key_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert serialization.load_pem_private_key(pem, None).public_key() == key.public_key()


def test_save_refuses_to_overwrite_a_node_key(tmp_path: Path) -> None:
    first = generate_node_key()
    key_path, _ = save_node_key(tmp_path, first)
    with pytest.raises(CertsError, match="already has a key"):
        save_node_key(tmp_path, generate_node_key())
    assert load_node_key(key_path).private_numbers() == first.private_numbers()


def test_load_refuses_a_group_readable_key(tmp_path: Path) -> None:
    key_path, _ = save_node_key(tmp_path, generate_node_key())
    os.chmod(key_path, 0o640)
    with pytest.raises(KeyFileError, match="accessible by other users"):
        load_node_key(key_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage", "not an unencrypted PEM private key"),
        (
            ec.generate_private_key(ec.SECP384R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "not a P-256",
        ),
        (
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "not a P-256",
        ),
        (
            generate_node_key().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            ),
            "not an unencrypted",
        ),
    ],
)
def test_load_node_key_refuses_bad_keys(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match=message):
        load_node_key(path)


def test_load_node_key_missing(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_node_key(tmp_path / "node.key")


def test_load_public_key_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_public_key(tmp_path / "node.pub")
    (tmp_path / "node.pub").write_bytes(b"garbage")
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(tmp_path / "node.pub")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    (tmp_path / "node.pub").write_bytes(
        p384.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(KeyFileError, match="not a P-256"):
        load_public_key(tmp_path / "node.pub")
