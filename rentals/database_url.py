"""Database URLs: ``sqlite:///PATH`` (relative PATH taken from a base directory,
``sqlite:////abs`` absolute) or ``postgresql://USER@HOST:PORT/DB`` (``postgres://`` too)."""

from __future__ import annotations

from pathlib import Path

from rentals.errors import StoreError

__all__ = ["DEFAULT_DATABASE", "sqlite_path", "validate_database_url"]

DEFAULT_DATABASE = "sqlite:///rentals.sqlite3"
_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def validate_database_url(url: str) -> str:
    """``url`` if it names a database this service can use, else `StoreError`."""
    if (url.startswith(_SQLITE) and len(url) > len(_SQLITE)) or url.startswith(_POSTGRES):
        return url
    raise StoreError(f"database {url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


def sqlite_path(url: str, base_dir: Path) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative to ``base_dir``), None for others."""
    if not url.startswith(_SQLITE):
        return None
    return base_dir / url[len(_SQLITE):]
