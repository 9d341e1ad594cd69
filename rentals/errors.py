"""The rental service's one exception base and its typed refusals.

Each refusal knows the HTTP status the service answers it with, so the shell maps
errors to responses in one place and the pure core never speaks HTTP.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "FieldError",
    "ForbiddenError",
    "NotFoundError",
    "RentalsError",
    "StoreError",
    "UnauthenticatedError",
]


class RentalsError(Exception):
    """Base of every error of `rentals`; its message is one line."""

    status = 500
    reason = "internal"


class FieldError(RentalsError):
    """A request field is missing or invalid (400, the field named)."""

    status = 400
    reason = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnauthenticatedError(RentalsError):
    """No credential, an unknown one, or a revoked shop key (401)."""

    status = 401
    reason = "unauthenticated"


class ForbiddenError(RentalsError):
    """A known caller refused: renewal of a revoked or ended rental, another key (403)."""

    status = 403

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFoundError(RentalsError):
    """An unknown film or rental (404)."""

    status = 404
    reason = "not_found"


class ConflictError(RentalsError):
    """An idempotency key reused with another request (409)."""

    status = 409
    reason = "idempotency_conflict"


class StoreError(RentalsError):
    """The database cannot be opened, migrated or used (a one-line operator error)."""

    status = 503
    reason = "store_unavailable"
