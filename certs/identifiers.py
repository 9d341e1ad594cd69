"""Identifiers of the PKI: film ids (the torrent name and the rental certificate's SAN
DNSName) and certificate serials (the rental id)."""

from __future__ import annotations

import re

from certs.errors import CertsError

__all__ = ["FILM_ID_PATTERN", "MAX_SERIAL", "validate_film_id", "validate_serial"]

# A DNS-label-like token: libtorrent compares the peer certificate's SAN DNSName
# with the torrent name, and the id is also a file name in the library. Never a dot:
# tracker names always have one (`CA.issue_server`), so a film id is never a tracker's.
# X.509 serials are at most 20 octets and positive (RFC 5280 4.1.2.2): below 2**159.
MAX_SERIAL = 2**159 - 1

FILM_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_film_id(film_id: str) -> str:
    """Return ``film_id`` if it is a valid film id, else raise `CertsError`.

    Valid: 1-63 characters of lowercase letters, digits and inner hyphens.
    """
    if not FILM_ID_PATTERN.fullmatch(film_id):
        raise CertsError(
            f"invalid film id {film_id!r}: use 1-63 lowercase letters, digits and inner hyphens"
        )
    return film_id


def validate_serial(serial: int) -> int:
    """Return ``serial`` if it is a valid certificate serial (1 .. 2**159-1), else `CertsError`."""
    if not 0 < serial <= MAX_SERIAL:
        raise CertsError(f"serial {serial} is out of range (1 .. 2**159-1)")
    return serial
