"""The owner's consent and limits for hosting (pure): whether, how much disk, how fast, when.

Hosting means carrying the ciphertext of films that operations place on the node before
their release (`peernode.runtime.hosting`). It costs the owner disk, upload and hours, so
it is **off unless the owner opts in**, and every cost has a limit:

- ``disk_quota_bytes``: the sum of the hosted films' sizes never exceeds it (a film that
  would is refused, so placement moves on to another host);
- ``upload_rate_bps`` / ``download_rate_bps``: caps on every hosted film's transfer
  (0 = no cap of its own; the node's global caps still apply);
- ``hours``: the UTC hours in which hosted films may transfer at all, e.g. ``"1-7"`` for
  01:00-06:59 or ``"22-6"`` across midnight; empty: any time. Outside them hosted films
  are paused (no byte either way), rentals are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from peernode.errors import PeernodeError

__all__ = ["HostingPolicy", "HostingRefused", "parse_hours"]


class HostingRefused(PeernodeError):
    """The owner's policy does not allow hosting this film (off, over quota)."""


def parse_hours(text: str) -> frozenset[int]:
    """UTC hours from ``"A-B"`` (A inclusive, B exclusive, may wrap midnight; A = B, as
    in ``"0-24"``, is the whole day), comma-joined ranges allowed (``"1-7,13-15"``); ``""``
    means every hour. `PeernodeError` if invalid."""
    text = text.strip()
    if not text:
        return frozenset(range(24))
    hours: set[int] = set()
    for part in text.split(","):
        start_text, dash, end_text = part.strip().partition("-")
        if not dash or not all(t.isascii() and t.isdigit() for t in (start_text, end_text)):
            raise PeernodeError(f"invalid hosting hours {text!r}: give ranges like 1-7 or 22-6")
        start, end = int(start_text), int(end_text)
        if not (0 <= start <= 23 and 0 <= end <= 24):
            raise PeernodeError(f"invalid hosting hours {part.strip()!r}: hours are 0-24")
        hours.add(start)
        hour = (start + 1) % 24
        while hour != end % 24:
            hours.add(hour)
            hour = (hour + 1) % 24
    return frozenset(hours)


@dataclass(frozen=True)
class HostingPolicy:
    """The owner's hosting consent and limits. The default is no hosting at all."""

    enabled: bool = False
    disk_quota_bytes: int = 0
    upload_rate_bps: int = 0
    download_rate_bps: int = 0
    hours: str = ""

    def __post_init__(self) -> None:
        for name in ("disk_quota_bytes", "upload_rate_bps", "download_rate_bps"):
            if getattr(self, name) < 0:
                raise PeernodeError(f"hosting {name} must not be negative")
        parse_hours(self.hours)  # refuse a bad value now, not at the first check

    @property
    def allowed_hours(self) -> frozenset[int]:
        return parse_hours(self.hours)

    def open_at(self, moment: datetime) -> bool:
        """Whether hosted films may transfer at ``moment`` (aware UTC)."""
        return self.enabled and moment.hour in self.allowed_hours

    def check_admission(self, film_id: str, film_bytes: int, hosted_bytes: int) -> None:
        """Refuse (`HostingRefused`) hosting ``film_id`` if the owner did not opt in or the
        quota (``hosted_bytes`` already used) has no room for ``film_bytes``."""
        if not self.enabled:
            raise HostingRefused(f"{film_id}: hosting is off on this node (the owner's choice)")
        if hosted_bytes + film_bytes > self.disk_quota_bytes:
            raise HostingRefused(
                f"{film_id}: hosting quota reached ({hosted_bytes + film_bytes} bytes needed,"
                f" {self.disk_quota_bytes} allowed)"
            )
