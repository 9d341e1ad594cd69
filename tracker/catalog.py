"""The catalog: which info-hashes the tracker serves, and the film each belongs to (pure).

A film is a v2-only torrent, so clients announce its SHA-256 info-hash truncated to
20 bytes; a hybrid torrent is announced under both hashes, so both are listed. The
film id is the torrent's name, which is also the rental certificate's SAN.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

import libtorrent as lt

__all__ = ["Catalog", "announced_info_hashes"]


def announced_info_hashes(ti: lt.torrent_info) -> tuple[bytes, ...]:
    """The 20-byte info-hashes clients announce for a torrent (v1 and/or truncated v2)."""
    hashes = ti.info_hashes()
    out: list[bytes] = []
    if hashes.has_v1():
        out.append(hashes.v1.to_bytes())
    if hashes.has_v2():
        out.append(hashes.v2.to_bytes()[:20])
    return tuple(out)


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

    @classmethod
    def from_torrents(cls, torrents: Iterable[tuple[str, bytes]]) -> tuple[Catalog, list[str]]:
        """Build a catalog from ``(source name, .torrent bytes)`` pairs.

        Returns the catalog and one problem line per torrent left out (unparsable);
        the rest is still served. The name is part of the info dict, so two films
        can never claim the same info-hash.
        """
        films: dict[bytes, str] = {}
        problems: list[str] = []
        for source, data in torrents:
            try:
                ti = lt.torrent_info(data)
            except RuntimeError as e:
                problems.append(f"{source}: not a torrent ({e})")
                continue
            films.update(dict.fromkeys(announced_info_hashes(ti), ti.name()))
        return cls(films), problems

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
