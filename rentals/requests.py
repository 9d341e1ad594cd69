"""Validating what the shop sends: a rental request, a revocation (pure: no I/O, time given).

Every refusal is a `FieldError` naming the field, so the shop's developer sees at once
what to fix. Times are whole seconds (X.509 validity has no fractions) in UTC.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.errors import CertsError
from certs.identifiers import validate_film_id
from rentals.errors import FieldError

__all__ = [
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_REASON_CHARS",
    "CreateRequest",
    "parse_create_request",
    "parse_idempotency_key",
    "parse_json_object",
    "parse_revoke_request",
    "public_key_from_pem",
]

MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_REASON_CHARS = 500
_CREATE_FIELDS = {"film_id", "node_public_key", "hours", "not_after", "not_before"}
_MAX_PEM_CHARS = 4096


@dataclass(frozen=True)
class CreateRequest:
    """A valid rental request: film, node key and window [not_before, not_after)."""

    film_id: str
    node_public_key: ec.EllipticCurvePublicKey
    node_public_key_pem: str
    not_before: datetime
    not_after: datetime
    fingerprint: str
    """SHA-256 of the canonical request body: a retry under the same idempotency
    key must carry the same request."""


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or `FieldError` on the field ``body``."""
    try:
        value = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FieldError("body", "is not valid JSON") from None
    if not isinstance(value, dict):
        raise FieldError("body", "must be a JSON object")
    return value


def public_key_from_pem(
    pem: object, *, field: str = "node_public_key"
) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from SubjectPublicKeyInfo PEM text, or `FieldError`."""
    if not isinstance(pem, str) or not pem.strip():
        raise FieldError(field, "must be a PEM public key (the node's node.pub)")
    if len(pem) > _MAX_PEM_CHARS:
        raise FieldError(field, "is too long for a P-256 public key")
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise FieldError(field, "is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise FieldError(field, "is not a P-256 (secp256r1) key")
    return key


def _parse_time(value: object, field: str) -> datetime:
    if not isinstance(value, str):
        raise FieldError(field, "must be an ISO 8601 time with a timezone, e.g. 2026-05-01T20:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(field, f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FieldError(field, "has no timezone (add one, e.g. Z for UTC)")
    return _whole_seconds(moment)


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _parse_hours(value: object, max_hours: float) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError("hours", "must be a number of hours")
    if not 0 < value <= max_hours:
        raise FieldError("hours", f"must be more than 0 and at most {max_hours:g}")
    return timedelta(seconds=round(value * 3600))


def parse_create_request(
    body: dict[str, Any], *, now: datetime, max_hours: float
) -> CreateRequest:
    """Check a ``POST /v1/rentals`` body; `FieldError` names the first bad field.

    ``hours`` or ``not_after`` (exactly one) sets the window's end; ``not_before``
    defaults to ``now``. A window must be non-empty, at most ``max_hours`` long, and
    must not have ended by ``now``.
    """
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        raise FieldError(unknown[0], "is not a field of a rental request")
    film_id = body.get("film_id")
    if not isinstance(film_id, str):
        raise FieldError("film_id", "must be a string")
    try:
        validate_film_id(film_id)
    except CertsError:
        raise FieldError(
            "film_id", "use 1-63 lowercase letters, digits and inner hyphens"
        ) from None
    if "node_public_key" not in body:
        raise FieldError("node_public_key", "is required")
    key = public_key_from_pem(body["node_public_key"])
    start = _whole_seconds(now)
    if body.get("not_before") is not None:
        start = _parse_time(body["not_before"], "not_before")
    has_hours, has_end = body.get("hours") is not None, body.get("not_after") is not None
    if has_hours == has_end:
        raise FieldError("hours", "give exactly one of hours and not_after")
    if has_hours:
        end = start + _parse_hours(body["hours"], max_hours)
    else:
        end = _parse_time(body["not_after"], "not_after")
        if end <= start:
            raise FieldError("not_after", "must be after not_before")
        if end - start > timedelta(hours=max_hours):
            raise FieldError("not_after", f"the window may last at most {max_hours:g} hours")
    if end <= now:
        raise FieldError("not_after" if has_end else "not_before", "the window has already ended")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return CreateRequest(
        film_id=film_id,
        node_public_key=key,
        node_public_key_pem=key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"),
        not_before=start,
        not_after=end,
        fingerprint=hashlib.sha256(canonical).hexdigest(),
    )


def parse_idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: printable ASCII, at most 200 characters, or None."""
    if value is None:
        return None
    if not value or len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not value.isascii() or not all(
        33 <= ord(c) <= 126 for c in value
    ):
        raise FieldError(
            "Idempotency-Key",
            f"must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters without spaces",
        )
    return value


def parse_revoke_request(body: dict[str, Any]) -> str:
    """The ``reason`` of a revocation (refund, abuse...): a non-empty one-line string."""
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise FieldError(unknown[0], "is not a field of a revocation")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise FieldError("reason", "must be a non-empty string (e.g. refund, abuse)")
    if len(reason) > MAX_REASON_CHARS or any(c in reason for c in "\r\n"):
        raise FieldError("reason", f"must be one line of at most {MAX_REASON_CHARS} characters")
    return reason.strip()
