"""Film identifiers: the torrent name and the rental certificate's SAN DNSName."""

from __future__ import annotations

import re

from .errors import CertsError

__all__ = ["FILM_ID_PATTERN", "validate_film_id"]

# A DNS-label-like token: libtorrent compares the peer certificate's SAN DNSName
# with the torrent name, and the id is also a file name in the library.
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
