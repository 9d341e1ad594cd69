"""The schema, as numbered migrations applied in order by both databases.

Only portable SQL: TEXT and BIGINT columns (times are whole seconds since the epoch,
rental ids are decimal text because a serial has up to 159 bits, bundles base64
text). A database records each applied version in ``schema_migrations``; a database
at a newer version than this code knows is refused.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_TABLE"]

SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    applied_at BIGINT NOT NULL
)"""

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE shop_keys (
                key_id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                salt TEXT NOT NULL,
                digest TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT
            )""",
            """CREATE TABLE rentals (
                rental_id TEXT PRIMARY KEY,
                film_id TEXT NOT NULL,
                node_public_key TEXT NOT NULL,
                not_before BIGINT NOT NULL,
                not_after BIGINT NOT NULL,
                shop_key_id TEXT NOT NULL REFERENCES shop_keys (key_id),
                idempotency_key TEXT,
                fingerprint TEXT NOT NULL,
                state TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                bundle TEXT,
                certificate_not_after BIGINT,
                revoked_at BIGINT,
                revoke_reason TEXT,
                UNIQUE (shop_key_id, idempotency_key)
            )""",
            "CREATE INDEX rentals_revoked ON rentals (revoked_at)",
        ),
    ),
    (
        2,
        (
            # hostings (pre-positioning): a rental's twin without a content key
            """CREATE TABLE hostings (
                hosting_id TEXT PRIMARY KEY,
                film_id TEXT NOT NULL,
                node_public_key TEXT NOT NULL,
                not_before BIGINT NOT NULL,
                not_after BIGINT NOT NULL,
                shop_key_id TEXT NOT NULL REFERENCES shop_keys (key_id),
                idempotency_key TEXT,
                fingerprint TEXT NOT NULL,
                state TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                credential TEXT,
                certificate_not_after BIGINT,
                revoked_at BIGINT,
                revoke_reason TEXT,
                UNIQUE (shop_key_id, idempotency_key)
            )""",
            "CREATE INDEX hostings_revoked ON hostings (revoked_at)",
        ),
    ),
)
