"""The files the tracker watches and reloads: the film library and the CRL (blocking I/O).

Each source has a cheap *stamp* (sizes and modification times) polled every few
seconds, and a loader run only when the stamp changes. Loaders are called from a
worker thread by the server.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import libtorrent as lt
from cryptography import x509

from certs import CertsError, read_crl_file, verify_crl
from tracker.catalog import Catalog
from tracker.crl_policy import CrlSnapshot, snapshot_of
from tracker.errors import CrlError, LibraryError

__all__ = [
    "Stamp",
    "announced_info_hashes",
    "catalog_from_torrents",
    "crl_stamp",
    "library_stamp",
    "load_crl_snapshot",
    "load_library",
]

Stamp = tuple[tuple[str, int, int, int], ...]
"""Name, inode, size and mtime (ns) of each watched file; equal stamps mean no change."""

TORRENT_SUFFIX = ".torrent"



def announced_info_hashes(ti: lt.torrent_info) -> tuple[bytes, ...]:
    """The 20-byte info-hashes clients announce for a torrent (v1 and/or truncated v2)."""
    hashes = ti.info_hashes()
    out: list[bytes] = []
    if hashes.has_v1():
        out.append(hashes.v1.to_bytes())
    if hashes.has_v2():
        out.append(hashes.v2.to_bytes()[:20])
    return tuple(out)


def catalog_from_torrents(torrents: Iterable[tuple[str, bytes]]) -> tuple[Catalog, list[str]]:
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
    return Catalog(films), problems


def _stamp_of(entries: list[tuple[str, os.stat_result]]) -> Stamp:
    return tuple(sorted((n, st.st_ino, st.st_size, st.st_mtime_ns) for n, st in entries))


def library_stamp(library_dir: Path) -> Stamp:
    """The stamp of every ``*.torrent`` in ``library_dir``; `LibraryError` if unreadable."""
    try:
        with os.scandir(library_dir) as it:
            entries = [
                (e.name, e.stat()) for e in it if e.name.endswith(TORRENT_SUFFIX) and e.is_file()
            ]
    except OSError as e:
        raise LibraryError(f"library {library_dir} cannot be read: {e.strerror}") from None
    return _stamp_of(entries)


def load_library(library_dir: Path) -> tuple[Catalog, list[str]]:
    """Build the catalog from every ``*.torrent`` in ``library_dir``.

    Returns the catalog and one line per file left out (unreadable or not a
    torrent). Raises `LibraryError` if the directory itself cannot be read.
    """
    torrents: list[tuple[str, bytes]] = []
    problems: list[str] = []
    for name, *_ in library_stamp(library_dir):
        try:
            torrents.append((name, (library_dir / name).read_bytes()))
        except OSError as e:
            problems.append(f"{name}: cannot be read: {e.strerror}")
    catalog, bad = catalog_from_torrents(torrents)
    return catalog, problems + bad


def crl_stamp(crl_path: Path) -> Stamp:
    """The stamp of the CRL file (empty if it does not exist)."""
    try:
        return _stamp_of([(crl_path.name, crl_path.stat())])
    except FileNotFoundError:
        return ()
    except OSError as e:
        raise CrlError(f"CRL {crl_path} cannot be read: {e.strerror}") from None


def load_crl_snapshot(crl_path: Path, ca: x509.Certificate) -> CrlSnapshot:
    """The CRL at ``crl_path``, which ``ca`` must have signed, as the tracker keeps it.

    Raises `CrlError` if the file is missing, malformed or not signed by ``ca``.
    """
    try:
        crl = read_crl_file(crl_path)
        verify_crl(crl, ca)
    except CertsError as e:
        raise CrlError(str(e)) from None
    return snapshot_of(crl)
