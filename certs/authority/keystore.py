"""The operator's content-key store: one 32-byte AES-256 key per film, under CA_DIR/keys/.

`peernode package` puts a film's key here; `peernode ca rent` reads it to wrap it
to a node's public key.
"""

from __future__ import annotations

import os
from pathlib import Path

from certs.errors import CertsError
from certs.file_reading import read_private
from certs.identifiers import validate_film_id
from certs.keywrap import CONTENT_KEY_BYTES
from support.atomic_write import write_new_private

__all__ = ["content_key_path", "load_content_key", "save_content_key"]



def content_key_path(ca_dir: str | os.PathLike[str], film_id: str) -> Path:
    """Where the content key of ``film_id`` lives in the CA directory."""
    return Path(ca_dir) / "keys" / f"{validate_film_id(film_id)}.key"


def save_content_key(ca_dir: str | os.PathLike[str], film_id: str, key: bytes) -> Path:
    """Store a film's content key (0600, atomic). Refuses to overwrite an existing key."""
    if len(key) != CONTENT_KEY_BYTES:
        raise CertsError(f"content key must be {CONTENT_KEY_BYTES} bytes, got {len(key)}")
    path = content_key_path(ca_dir, film_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return write_new_private(path, key)
    except FileExistsError:
        raise CertsError(f"film {film_id!r} already has a content key in {path.parent}") from None


def load_content_key(ca_dir: str | os.PathLike[str], film_id: str) -> bytes:
    """Read a film's content key; raises `CertsError` if the film was never packaged here."""
    path = content_key_path(ca_dir, film_id)
    if not path.exists():
        raise CertsError(f"no content key for film {film_id!r} in {path.parent} (package it first)")
    key = read_private(path, what="content key")
    if len(key) != CONTENT_KEY_BYTES:
        raise CertsError(f"content key {path} is corrupt ({len(key)} bytes)")
    return key
