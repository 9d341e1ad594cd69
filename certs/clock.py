"""Timezone-aware UTC instants: every time in `certs` is one, and `now` is always injectable."""

from __future__ import annotations

from datetime import UTC, datetime

from certs.errors import CertsError

__all__ = ["as_utc", "resolve_now"]


def as_utc(moment: datetime, *, what: str = "time") -> datetime:
    """Return ``moment`` converted to UTC; raises `CertsError` if it is naive.

    Naive datetimes are refused rather than guessed: a rental window off by the
    operator's UTC offset is a silent, expensive bug.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CertsError(f"{what} {moment.isoformat()} has no timezone (add one, e.g. Z for UTC)")
    return moment.astimezone(UTC)


def resolve_now(now: datetime | None) -> datetime:
    """``now`` in UTC, or the wall clock when ``None`` (the only place `certs` reads it)."""
    return datetime.now(UTC) if now is None else as_utc(now, what="now")
