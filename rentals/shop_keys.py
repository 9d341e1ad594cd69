"""The shop's API keys: generated once, stored only as a scrypt hash, named, revocable.

A key reads ``pnk_<key id>_<secret>``. The key id (public, 12 hex digits) finds the
stored record; the secret (256 random bits) is checked against its scrypt hash
(hashlib.scrypt, RFC 7914) with a per-key salt, in constant time. A database dump
therefore holds no usable key. Randomness is a parameter; nothing here does I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rentals.errors import FieldError, UnauthenticatedError

__all__ = [
    "KEY_PREFIX",
    "NAME_PATTERN",
    "NewShopKey",
    "ShopKeyRecord",
    "hash_secret",
    "new_shop_key",
    "split_presented_key",
    "validate_key_name",
    "verify_secret",
]

KEY_PREFIX = "pnk"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
# scrypt cost: 16 MiB and ~40 ms per check on one core; each process checks a key once
# and then remembers it (`rentals.service`), so the cost is paid per key, not per request.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_DIGEST_BYTES = 32


@dataclass(frozen=True)
class ShopKeyRecord:
    """A stored shop key: never the key itself, only its salted scrypt hash."""

    key_id: str
    name: str
    salt: str  # hex
    digest: str  # hex
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class NewShopKey:
    """A key just generated: the text to give the shop (once) and what to store."""

    key: str
    record: ShopKeyRecord


def validate_key_name(name: str) -> str:
    """A key's name: 1-64 letters, digits, ``.``, ``_``, ``-``; `FieldError` otherwise."""
    if not NAME_PATTERN.fullmatch(name):
        raise FieldError("name", "use 1-64 letters, digits, '.', '_' or '-'")
    return name


def hash_secret(secret: str, salt: bytes) -> bytes:
    """The scrypt hash of a key's secret."""
    return hashlib.scrypt(
        secret.encode("ascii"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
        dklen=_DIGEST_BYTES,
    )


def new_shop_key(
    name: str, *, now: datetime, rng_bytes: Callable[[int], bytes] = os.urandom
) -> NewShopKey:
    """Generate a key named ``name``: the key text and the record holding its hash."""
    validate_key_name(name)
    key_id = rng_bytes(6).hex()
    secret = base64.urlsafe_b64encode(rng_bytes(32)).rstrip(b"=").decode("ascii")
    salt = rng_bytes(16)
    record = ShopKeyRecord(
        key_id=key_id,
        name=name,
        salt=salt.hex(),
        digest=hash_secret(secret, salt).hex(),
        created_at=now,
    )
    return NewShopKey(key=f"{KEY_PREFIX}_{key_id}_{secret}", record=record)


def split_presented_key(authorization: str | None) -> tuple[str, str]:
    """(key id, secret) from an ``Authorization: Bearer pnk_...`` header, else 401."""
    if authorization is None:
        raise UnauthenticatedError("no shop key: send Authorization: Bearer <key>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise UnauthenticatedError("the shop key goes in Authorization: Bearer <key>")
    prefix, _, rest = token.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        raise UnauthenticatedError("not a shop key")
    return key_id, secret


def verify_secret(record: ShopKeyRecord, secret: str) -> bool:
    """True if ``secret`` is the key's (constant time); says nothing of revocation."""
    expected = bytes.fromhex(record.digest)
    return hmac.compare_digest(hash_secret(secret, bytes.fromhex(record.salt)), expected)
