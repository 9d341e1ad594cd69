"""The default store: one SQLite file (stdlib sqlite3) in WAL mode, nothing to run.

WAL lets the command line add or revoke a shop key while the service runs;
``synchronous=FULL`` makes each commit durable before the service answers, so a
rental the shop was told about survives a crash of the machine, not only of the
process. Only a rental's reservation commits without its own fsync (``NORMAL``):
the durable commit of its bundle, before the answer, flushes both.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from rentals.errors import StoreError
from rentals.sql_store import Connection, Dialect, SqlStore

__all__ = ["SqliteStore"]

_BUSY_TIMEOUT_MS = 10_000


@contextlib.contextmanager
def _begin(conn: Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")  # takes the write lock now: no upgrade deadlock later
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_DIALECT = Dialect(
    name="sqlite",
    mark="?",
    begin=_begin,
    integrity_errors=(sqlite3.IntegrityError,),
    errors=(sqlite3.Error,),
    relax_before="PRAGMA synchronous = NORMAL",  # in WAL mode: no fsync at this commit
    restore_after="PRAGMA synchronous = FULL",
)


class SqliteStore(SqlStore):
    """A `RentalStore` in the SQLite file at ``path`` (created 0600 if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StoreError(f"sqlite database {self.path}: directory does not exist")
        if not self.path.exists():
            # the file holds who rented what: readable by the service's user only
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            conn = self._connect()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            reader = self._connect()  # WAL: readers never wait for the writer
        except sqlite3.Error as e:
            raise StoreError(f"sqlite database {self.path}: {e}") from None
        if str(mode).lower() != "wal":
            raise StoreError(f"sqlite database {self.path}: cannot use WAL mode ({mode})")
        super().__init__(conn, _DIALECT, where=str(self.path), reader=reader)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return conn
