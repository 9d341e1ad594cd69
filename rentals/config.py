"""The rental service's configuration: a frozen dataclass loaded from TOML.

Keys: ``listen`` (HOST:PORT), ``ca_dir``, ``library``, ``database``
(``sqlite:///PATH``, the default, or ``postgresql://...``), ``cert_lifetime_s``,
``tls_cert``, ``tls_key``, ``crl`` and the few limits below. Unknown keys and
values of the wrong type are refused with one line; relative paths (the SQLite
file too) are taken from the file's directory.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

from rentals.database_url import DEFAULT_DATABASE, validate_database_url
from rentals.errors import RentalsError, StoreError
from support.errors import InputError
from support.hostport import parse_hostport

__all__ = ["ConfigError", "RentalServiceConfig"]


class ConfigError(RentalsError):
    """The configuration file is missing, malformed, or has an unknown or bad key."""


_PATHS = ("ca_dir", "library", "tls_cert", "tls_key", "crl")
_NUMBERS = (
    "cert_lifetime_s", "crl_next_update_s", "max_rental_hours", "shutdown_grace_s",
    "handshake_timeout_s",
)
_STRINGS = ("listen", "database", "public_url")


@dataclass(frozen=True)
class RentalServiceConfig:
    """Everything `serve_rental_service` needs."""

    listen_host: str
    listen_port: int
    ca_dir: Path
    """The operator CA (``ca.pem``, ``ca.key`` 0600, ``keys/``): the issuing key."""
    library: Path
    """The films that may be rented: ``<film id>.torrent`` (content keys in ``ca_dir``)."""
    tls_cert: Path
    """The service's server certificate (``peernode ca issue-server``)."""
    tls_key: Path
    database: str = DEFAULT_DATABASE
    base_dir: Path = Path()
    """Where relative paths of the file were taken from (the SQLite file too)."""
    cert_lifetime_s: float = 7200.0
    """Lifetime of each rental certificate; nodes renew before it passes."""
    crl: Path | None = None
    """Where the CRL is published for the trackers (default ``ca_dir/crl.pem``)."""
    crl_next_update_s: float = 86400.0
    """The CRL's nextUpdate from its signing; it is re-signed at half of it."""
    max_rental_hours: float = 720.0
    """The longest window a shop may sell."""
    public_url: str | None = None
    """The URL nodes renew at (default ``https://LISTEN``), returned with each rental."""
    shutdown_grace_s: float = 5.0
    handshake_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in _NUMBERS:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.cert_lifetime_s < 10:
            raise ConfigError("cert_lifetime_s must be at least 10")
        if not 0 <= self.listen_port <= 65535:
            raise ConfigError("listen: the port must be in 0..65535")
        try:
            validate_database_url(self.database)
        except StoreError as e:
            raise ConfigError(str(e)) from None

    @property
    def lifetime(self) -> timedelta:
        """``cert_lifetime_s`` as a timedelta."""
        return timedelta(seconds=self.cert_lifetime_s)

    @property
    def crl_path(self) -> Path:
        """Where the CRL is written."""
        return self.crl if self.crl is not None else self.ca_dir / "crl.pem"

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, base_dir: Path) -> Self:
        """Build from a TOML table; `ConfigError` for an unknown, missing or bad key."""
        known = set(_PATHS) | set(_NUMBERS) | set(_STRINGS)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r} in the rental service configuration"
                f" (known: {', '.join(sorted(known))})"
            )
        fields: dict[str, Any] = {"base_dir": base_dir}
        for name, value in values.items():
            if name in _PATHS:
                if not isinstance(value, str) or not value:
                    raise ConfigError(f"{name} must be a path (a string)")
                fields[name] = base_dir / value
            elif name in _NUMBERS:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{name} must be a number")
                fields[name] = float(value)
            else:
                if not isinstance(value, str):
                    raise ConfigError(f"{name} must be a string")
                fields[name] = value
        missing = [n for n in ("listen", "ca_dir", "library", "tls_cert", "tls_key")
                   if n not in values]
        if missing:
            raise ConfigError(f"the rental service configuration needs {', '.join(missing)}")
        try:
            host, port = parse_hostport(fields.pop("listen"))
        except InputError as e:
            raise ConfigError(f"listen: {e}") from None
        return cls(listen_host=host, listen_port=port, **fields)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read the TOML file at ``path``."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"configuration {path} cannot be read: {e}") from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"configuration {path} is not valid TOML: {e}") from None
        return cls.from_mapping(values, base_dir=path.resolve().parent)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (tests)."""
        return dataclasses.replace(self, **changes)
