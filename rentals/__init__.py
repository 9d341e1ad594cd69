"""The rental service a shop's backend calls: rentals, renewals, revocation, the CRL.

Pure core (request checks, shop keys, renewal policy, the service's operations over
a store interface) and a trio shell (`rentals.server`, HTTPS on the shared HTTP
core). Imports `support` and the PKI (`certs`, `certs.authority`) only. Every name
loads on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

_LAZY = {
    "RentalService": "rentals.service",
    "RentalServiceConfig": "rentals.config",
    "RentalsError": "rentals.errors",
    "RunningRentalService": "rentals.server",
    "open_store": "rentals.database",
    "serve_rental_service": "rentals.server",
}

if TYPE_CHECKING:
    from rentals.config import RentalServiceConfig
    from rentals.database import open_store
    from rentals.errors import RentalsError
    from rentals.server import RunningRentalService, serve_rental_service
    from rentals.service import RentalService

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "RentalService",
    "RentalServiceConfig",
    "RentalsError",
    "RunningRentalService",
    "open_store",
    "serve_rental_service",
]
