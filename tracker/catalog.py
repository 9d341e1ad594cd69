"""The catalog: which info-hashes the tracker serves, and the film each belongs to (pure).

A film is a v2-only torrent, so clients announce its SHA-256 info-hash truncated to
20 bytes; a hybrid torrent is announced under both hashes, so both are listed. The
film id is the torrent's name, which is also the rental certificate's SAN. Reading
torrents into a catalog is `tracker.watched_files.catalog_from_torrents`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

__all__ = ["Catalog"]


class Catalog(Mapping[bytes, str]):
    """Immutable mapping of announced info-hash -> film id."""

    __slots__ = ("_films", "_hashes")

    def __init__(self, films: Mapping[bytes, str] | None = None) -> None:
        self._films: Mapping[bytes, str] = MappingProxyType(dict(films or {}))
        by_film: dict[str, list[bytes]] = {}
        for h, film in self._films.items():
            by_film.setdefault(film, []).append(h)
        self._hashes: Mapping[str, tuple[bytes, ...]] = MappingProxyType(
            {f: tuple(hs) for f, hs in by_film.items()}
        )

    def __getitem__(self, info_hash: bytes) -> str:
        return self._films[info_hash]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._films)

    def __len__(self) -> int:
        return len(self._films)

    def films(self) -> frozenset[str]:
        """Every film id in the catalog."""
        return frozenset(self._hashes)

    def hashes_of(self, film: str) -> tuple[bytes, ...]:
        """The info-hashes announced for ``film`` (empty if unknown)."""
        return self._hashes.get(film, ())
