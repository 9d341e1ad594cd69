"""`open_store`: the store a ``database`` URL names (`rentals.database_url`)."""

from __future__ import annotations

from pathlib import Path

from rentals.database_url import sqlite_path, validate_database_url
from rentals.hosting_store import ServiceStore

__all__ = ["open_store"]


def open_store(url: str, *, base_dir: Path) -> ServiceStore:
    """Open (and migrate) the database ``url`` names; `StoreError` if impossible."""
    validate_database_url(url)
    path = sqlite_path(url, base_dir)
    if path is not None:
        from rentals.sqlite_store import SqliteStore

        return SqliteStore(path)
    from rentals.postgres_store import PostgresStore

    return PostgresStore(url)
