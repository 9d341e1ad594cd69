"""The production store: PostgreSQL through psycopg 3, same schema and migrations.

The connection is in autocommit mode and each call opens its own transaction
(``Connection.transaction``); migrations take a transaction-scoped advisory lock,
so several services starting at once migrate once. A broken connection is
reopened on the next call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg

from rentals.errors import StoreError
from rentals.sql_store import Connection, Dialect, SqlStore

__all__ = ["PostgresStore"]

_MIGRATION_LOCK = 0x7065_6572  # "peer": one advisory lock id for our migrations


class _Reconnecting:
    """A psycopg connection that is reopened if it was lost."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn = self._open()

    def _open(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, autocommit=True, connect_timeout=10)

    @property
    def raw(self) -> psycopg.Connection[Any]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._open()
        return self._conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.raw.execute(sql, params, prepare=True)

    def close(self) -> None:
        self._conn.close()


@contextlib.contextmanager
def _begin(conn: Connection) -> Iterator[None]:
    assert isinstance(conn, _Reconnecting)
    with conn.raw.transaction():
        yield


_DIALECT = Dialect(
    name="postgresql",
    mark="%s",
    begin=_begin,
    integrity_errors=(psycopg.IntegrityError,),
    errors=(psycopg.Error,),
    lock_migrations=f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})",
    relax_inside="SET LOCAL synchronous_commit TO OFF",
)


def _where(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


class PostgresStore(SqlStore):
    """A `RentalStore` in the PostgreSQL database at ``url`` (``postgresql://...``)."""

    def __init__(self, url: str) -> None:
        try:
            conn, reader = _Reconnecting(url), _Reconnecting(url)
        except psycopg.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(f"postgresql database {_where(url)}: {first}") from None
        super().__init__(conn, _DIALECT, where=_where(url), reader=reader)
