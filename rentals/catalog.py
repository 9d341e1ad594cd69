"""The films this service may rent: a torrent in the library and a content key in the CA.

Looked up per request (two stat calls), so a film packaged while the service runs
can be rented at once; content keys, once read, are remembered.
"""

from __future__ import annotations

from pathlib import Path

from certs.authority.keystore import content_key_path, load_content_key
from certs.identifiers import validate_film_id
from rentals.errors import NotFoundError

__all__ = ["Catalog"]


class Catalog:
    """Films of ``library`` (``<film id>.torrent``) whose key is in ``ca_dir/keys``."""

    def __init__(self, library: Path, ca_dir: Path) -> None:
        self.library = library
        self.ca_dir = ca_dir
        self._keys: dict[str, bytes] = {}

    def has(self, film_id: str) -> bool:
        """True if the film can be rented."""
        validate_film_id(film_id)
        return (self.library / f"{film_id}.torrent").is_file() and (
            film_id in self._keys or content_key_path(self.ca_dir, film_id).is_file()
        )

    def content_key(self, film_id: str) -> bytes:
        """The film's content key; `NotFoundError` if the film is not in the catalogue."""
        key = self._keys.get(film_id)
        if key is None:
            if not self.has(film_id):
                raise NotFoundError(f"film {film_id!r} is not in the catalogue")
            key = self._keys[film_id] = load_content_key(self.ca_dir, film_id)
        return key

    def films(self) -> list[str]:
        """Every rentable film id, sorted."""
        return sorted(
            p.stem for p in self.library.glob("*.torrent")
            if content_key_path(self.ca_dir, p.stem).is_file()
        )
