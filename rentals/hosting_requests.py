"""Validating a hosting request (pure: no I/O, the time given).

``POST /v1/hostings`` takes ``film_id``, ``node_public_key`` (the opted-in node's
node.pub), and the hosting window: ``not_before`` (default now) and exactly one of
``not_after`` and ``days``. A window lasts at most `MAX_HOSTING_DAYS`. The checks
are a rental request's (`rentals.requests`), with days instead of hours.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rentals.errors import FieldError
from rentals.requests import CreateRequest, parse_create_request

__all__ = ["MAX_HOSTING_DAYS", "parse_hosting_request"]

MAX_HOSTING_DAYS = 90
_FIELDS = {"film_id", "node_public_key", "not_before", "not_after", "days"}


def parse_hosting_request(
    body: dict[str, Any], *, now: datetime, max_days: float = MAX_HOSTING_DAYS
) -> CreateRequest:
    """Check a ``POST /v1/hostings`` body; `FieldError` names the first bad field."""
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise FieldError(unknown[0], "is not a field of a hosting request")
    translated = {k: v for k, v in body.items() if k != "days"}
    days = body.get("days")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(
            days
        ):
            raise FieldError("days", "must be a number of days")
        if not 0 < days <= max_days:
            raise FieldError("days", f"must be more than 0 and at most {max_days:g}")
        if body.get("not_after") is not None:
            raise FieldError("days", "give exactly one of days and not_after")
        translated["hours"] = days * 24
    elif body.get("not_after") is None:
        raise FieldError("days", "give exactly one of days and not_after")
    return parse_create_request(translated, now=now, max_hours=max_days * 24)
