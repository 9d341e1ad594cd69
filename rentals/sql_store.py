"""`SqlStore`: the `RentalStore` in SQL, shared by SQLite and PostgreSQL.

The two differ only in what a `Dialect` says: the parameter mark, how a write
transaction begins, which exceptions mean "constraint violated" and "database
failed". Every call holds one lock (a DB-API connection is not for concurrent use)
and is one transaction; failures become `StoreError` with one line.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from rentals.errors import FieldError, StoreError
from rentals.hosting_records import HostingRecord
from rentals.migrations import MIGRATIONS, SCHEMA_TABLE
from rentals.records import RentalRecord, RentalState
from rentals.shop_keys import ShopKeyRecord

__all__ = ["Connection", "Dialect", "SqlStore"]

_RENTAL_COLUMNS = (
    "rental_id, film_id, node_public_key, not_before, not_after, shop_key_id,"
    " idempotency_key, fingerprint, state, created_at, bundle, certificate_not_after,"
    " revoked_at, revoke_reason"
)
_KEY_COLUMNS = "key_id, name, salt, digest, created_at, revoked_at"


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases."""

    name: str
    mark: str  # the parameter placeholder: "?" or "%s"
    begin: Callable[[Connection], contextlib.AbstractContextManager[None]]
    integrity_errors: tuple[type[BaseException], ...]
    errors: tuple[type[BaseException], ...]
    lock_migrations: str | None = None  # SQL run first in the migration transaction
    # A "relaxed" commit returns before it is flushed to disk; the next durable commit
    # flushes it too (the log is sequential). SQL run before BEGIN / after COMMIT of a
    # relaxed transaction, or as its first statement:
    relax_before: str | None = None
    restore_after: str | None = None
    relax_inside: str | None = None


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _lifecycle_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The fields a rental's and a hosting's rows share (all but the id and what was
    issued), in the column order both tables have."""
    not_before, not_after, created = _dt(row[3]), _dt(row[4]), _dt(row[9])
    assert not_before is not None
    assert not_after is not None
    assert created is not None
    return {
        "film_id": row[1], "node_public_key_pem": row[2], "not_before": not_before,
        "not_after": not_after, "shop_key_id": row[5], "idempotency_key": row[6],
        "fingerprint": row[7], "state": RentalState(row[8]), "created_at": created,
        "certificate_not_after": _dt(row[11]), "revoked_at": _dt(row[12]),
        "revoke_reason": row[13],
    }


def _rental(row: Sequence[Any]) -> RentalRecord:
    return RentalRecord(rental_id=int(row[0]),
                        bundle=None if row[10] is None else base64.b64decode(row[10]),
                        **_lifecycle_fields(row))


def _key(row: Sequence[Any]) -> ShopKeyRecord:
    created = _dt(row[4])
    assert created is not None
    return ShopKeyRecord(
        key_id=row[0], name=row[1], salt=row[2], digest=row[3], created_at=created,
        revoked_at=_dt(row[5]),
    )


_HOSTING_COLUMNS = (
    "hosting_id, film_id, node_public_key, not_before, not_after, shop_key_id,"
    " idempotency_key, fingerprint, state, created_at, credential, certificate_not_after,"
    " revoked_at, revoke_reason"
)


def _hosting(row: Sequence[Any]) -> HostingRecord:
    return HostingRecord(hosting_id=int(row[0]),
                         credential=None if row[10] is None else row[10].encode("ascii"),
                         **_lifecycle_fields(row))


_R = TypeVar("_R", RentalRecord, HostingRecord)


@dataclass(frozen=True)
class _Kind(Generic[_R]):
    """One table of the rental lifecycle: its columns (the same layout in both), the
    column of what was issued and how it is stored as text, and its record."""

    noun: str
    table: str
    id_column: str
    issued_column: str
    columns: str
    issued_to_text: Callable[[bytes], str]
    from_row: Callable[[Sequence[Any]], _R]


_RENTALS: _Kind[RentalRecord] = _Kind(
    "rental", "rentals", "rental_id", "bundle", _RENTAL_COLUMNS,
    lambda bundle: base64.b64encode(bundle).decode("ascii"), _rental)
_HOSTINGS: _Kind[HostingRecord] = _Kind(
    "hosting", "hostings", "hosting_id", "credential", _HOSTING_COLUMNS,
    lambda credential: credential.decode("ascii"), _hosting)


class SqlStore:
    """A `RentalStore` over one DB-API connection (created by the subclass)."""

    def __init__(
        self,
        connection: Connection,
        dialect: Dialect,
        *,
        where: str,
        reader: Connection | None = None,
    ) -> None:
        self._conn = connection
        self._dialect = dialect
        self._where = where
        self._lock = threading.Lock()
        # Reads go through their own connection (if given), so that a renewal's read
        # never waits behind a create's commit and its flush to disk.
        self._reader = reader if reader is not None else connection
        self._read_lock = threading.Lock() if reader is not None else self._lock
        self.migrate()

    # -- plumbing -----------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self._dialect.mark == "?" else sql.replace("?", self._dialect.mark)

    @contextlib.contextmanager
    def _transaction(self, *, relaxed: bool = False) -> Iterator[Callable[..., Any]]:
        """The lock, one transaction, and an ``execute(sql, *params)`` for it.

        ``relaxed``: the commit may return before it is on disk (it survives a crash of
        the process, not of the machine, until the next durable commit flushes it).
        """

        def execute(sql: str, *params: Any) -> Any:
            return self._conn.execute(self._sql(sql), params)

        dialect = self._dialect
        with self._lock:
            try:
                if relaxed and dialect.relax_before:
                    self._conn.execute(dialect.relax_before)
                try:
                    with dialect.begin(self._conn):
                        if relaxed and dialect.relax_inside:
                            execute(dialect.relax_inside)
                        yield execute
                finally:
                    if relaxed and dialect.restore_after:
                        self._conn.execute(dialect.restore_after)
            except dialect.integrity_errors:
                raise
            except dialect.errors as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise StoreError(f"{dialect.name} database {self._where}: {first}") from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Callable[..., Any]]:
        """The reader's lock and an ``execute`` for single-statement reads (each one is
        its own snapshot: no transaction is held open)."""

        def execute(sql: str, *params: Any) -> Any:
            return self._reader.execute(self._sql(sql), params)

        with self._read_lock:
            try:
                yield execute
            except self._dialect.errors as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise StoreError(f"{self._dialect.name} database {self._where}: {first}") from None

    def migrate(self) -> int:
        """Apply the migrations this database lacks; its schema version after."""
        with self._transaction() as execute:
            if self._dialect.lock_migrations:
                execute(self._dialect.lock_migrations)
            execute(SCHEMA_TABLE)
            row = execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            known = MIGRATIONS[-1][0]
            if current > known:
                raise StoreError(
                    f"database {self._where} has schema version {current}; this peernode knows"
                    f" up to {known} (upgrade peernode)"
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        execute(statement)
                    execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        version, _ts(datetime.now(UTC)),
                    )
            return known

    def schema_version(self) -> int:
        """The highest migration applied."""
        with self._reading() as execute:
            return int(execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0])

    def close(self) -> None:
        """Close the connections."""
        with self._lock, contextlib.suppress(*self._dialect.errors):
            self._conn.close()
        if self._reader is not self._conn:
            with self._read_lock, contextlib.suppress(*self._dialect.errors):
                self._reader.close()

    # -- shop keys ----------------------------------------------------------------

    def add_shop_key(self, record: ShopKeyRecord) -> None:
        try:
            with self._transaction() as execute:
                execute(
                    f"INSERT INTO shop_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    record.key_id, record.name, record.salt, record.digest,
                    _ts(record.created_at), None,
                )
        except self._dialect.integrity_errors:
            raise FieldError("name", f"a shop key named {record.name!r} already exists") from None

    def shop_key(self, key_id: str) -> ShopKeyRecord | None:
        with self._reading() as execute:
            row = execute(f"SELECT {_KEY_COLUMNS} FROM shop_keys WHERE key_id = ?", key_id)
            found = row.fetchone()
        return None if found is None else _key(found)

    def shop_keys(self) -> Sequence[ShopKeyRecord]:
        with self._reading() as execute:
            rows = execute(f"SELECT {_KEY_COLUMNS} FROM shop_keys ORDER BY created_at, name")
            return [_key(r) for r in rows.fetchall()]

    def revoke_shop_key(self, name: str, *, now: datetime) -> ShopKeyRecord | None:
        with self._transaction() as execute:
            execute(
                "UPDATE shop_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                _ts(now), name,
            )
            found = execute(f"SELECT {_KEY_COLUMNS} FROM shop_keys WHERE name = ?", name).fetchone()
        return None if found is None else _key(found)

    # -- rentals and hostings: one lifecycle, two tables -----------------------------
    # Both are reserved (pending), completed (issued, with what was issued: a rental's
    # bundle, a hosting's credential), read, revoked and listed on the CRL the same way;
    # a `_Kind` says which table, columns and record.

    def _select(self, kind: _Kind[_R], execute: Callable[..., Any], record_id: int
                ) -> _R | None:
        row = execute(
            f"SELECT {kind.columns} FROM {kind.table} WHERE {kind.id_column} = ?",
            str(record_id),
        ).fetchone()
        return None if row is None else kind.from_row(row)

    def _by_idempotency_key(self, kind: _Kind[_R], execute: Callable[..., Any],
                            shop_key_id: str, idempotency_key: str) -> _R | None:
        row = execute(
            f"SELECT {kind.columns} FROM {kind.table}"
            " WHERE shop_key_id = ? AND idempotency_key = ?",
            shop_key_id, idempotency_key,
        ).fetchone()
        return None if row is None else kind.from_row(row)

    def _reserve(self, kind: _Kind[_R], record: _R, record_id: int) -> tuple[_R, bool]:
        key = record.idempotency_key
        try:
            # Relaxed: the reservation must be on disk before the certificate leaves the
            # process, not before it is signed; `_complete`'s durable commit (before the
            # answer) flushes it with what was issued. A crash of the process keeps it; a
            # power cut before that commit loses one whose certificate nobody got.
            with self._transaction(relaxed=True) as execute:
                if key is not None:
                    found = self._by_idempotency_key(kind, execute, record.shop_key_id, key)
                    if found is not None:
                        return found, False
                execute(
                    f"INSERT INTO {kind.table} ({kind.columns})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    str(record_id), record.film_id, record.node_public_key_pem,
                    _ts(record.not_before), _ts(record.not_after), record.shop_key_id,
                    key, record.fingerprint, RentalState.PENDING.value,
                    _ts(record.created_at), None, None, None, None,
                )
        except self._dialect.integrity_errors:
            # another service on the same database reserved this key meanwhile
            with self._transaction() as execute:
                found = None if key is None else self._by_idempotency_key(
                    kind, execute, record.shop_key_id, key)
            if found is None:
                raise StoreError(f"{kind.noun} {record_id} could not be reserved") from None
            return found, False
        return record, True

    def _complete(self, kind: _Kind[_R], record_id: int, issued: bytes,
                  certificate_not_after: datetime) -> _R:
        with self._transaction() as execute:
            # only a pending one: of two retries racing, the first issued stays
            execute(
                f"UPDATE {kind.table} SET state = ?, {kind.issued_column} = ?,"
                f" certificate_not_after = ? WHERE {kind.id_column} = ? AND state = ?",
                RentalState.ISSUED.value, kind.issued_to_text(issued),
                _ts(certificate_not_after), str(record_id), RentalState.PENDING.value,
            )
            found = self._select(kind, execute, record_id)
        if found is None:
            raise StoreError(f"{kind.noun} {record_id} vanished while it was issued")
        return found

    def _get(self, kind: _Kind[_R], record_id: int) -> _R | None:
        with self._reading() as execute:
            return self._select(kind, execute, record_id)

    def _revoke(self, kind: _Kind[_R], record_id: int, *, now: datetime, reason: str
                ) -> _R | None:
        with self._transaction() as execute:
            execute(
                f"UPDATE {kind.table} SET revoked_at = ?, revoke_reason = ?"
                f" WHERE {kind.id_column} = ? AND revoked_at IS NULL",
                _ts(now), reason, str(record_id),
            )
            return self._select(kind, execute, record_id)

    def _revoked(self, kind: _Kind[Any]) -> Mapping[int, datetime]:
        with self._reading() as execute:
            rows = execute(
                f"SELECT {kind.id_column}, revoked_at FROM {kind.table}"
                " WHERE revoked_at IS NOT NULL"
            ).fetchall()
        return {int(r[0]): datetime.fromtimestamp(r[1], UTC) for r in rows}

    def _count(self, kind: _Kind[Any]) -> int:
        with self._reading() as execute:
            return int(execute(f"SELECT COUNT(*) FROM {kind.table}").fetchone()[0])

    # -- rentals --------------------------------------------------------------------

    def reserve_rental(self, record: RentalRecord) -> tuple[RentalRecord, bool]:
        return self._reserve(_RENTALS, record, record.rental_id)

    def complete_rental(
        self, rental_id: int, bundle: bytes, certificate_not_after: datetime
    ) -> RentalRecord:
        return self._complete(_RENTALS, rental_id, bundle, certificate_not_after)

    def rental(self, rental_id: int) -> RentalRecord | None:
        return self._get(_RENTALS, rental_id)

    def rentals(
        self, *, shop_key_id: str | None, limit: int, after: int | None
    ) -> Sequence[RentalRecord]:
        clauses, params = [], []
        if shop_key_id is not None:
            clauses.append("shop_key_id = ?")
            params.append(shop_key_id)
        if after is not None:
            clauses.append("rental_id > ?")
            params.append(str(after))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reading() as execute:
            rows = execute(
                f"SELECT {_RENTALS.columns} FROM rentals{where} ORDER BY rental_id LIMIT ?",
                *params, limit,
            )
            return [_rental(r) for r in rows.fetchall()]

    def revoke_rental(self, rental_id: int, *, now: datetime, reason: str) -> RentalRecord | None:
        return self._revoke(_RENTALS, rental_id, now=now, reason=reason)

    def revoked_rentals(self) -> Mapping[int, datetime]:
        return self._revoked(_RENTALS)

    def count_rentals(self) -> int:
        return self._count(_RENTALS)

    # -- hostings (migration 2) ---------------------------------------------------------

    def reserve_hosting(self, record: HostingRecord) -> tuple[HostingRecord, bool]:
        return self._reserve(_HOSTINGS, record, record.hosting_id)

    def complete_hosting(
        self, hosting_id: int, credential: bytes, certificate_not_after: datetime
    ) -> HostingRecord:
        return self._complete(_HOSTINGS, hosting_id, credential, certificate_not_after)

    def hosting(self, hosting_id: int) -> HostingRecord | None:
        return self._get(_HOSTINGS, hosting_id)

    def revoke_hosting(
        self, hosting_id: int, *, now: datetime, reason: str
    ) -> HostingRecord | None:
        return self._revoke(_HOSTINGS, hosting_id, now=now, reason=reason)

    def revoked_hostings(self) -> Mapping[int, datetime]:
        return self._revoked(_HOSTINGS)

    def count_hostings(self) -> int:
        return self._count(_HOSTINGS)
