"""The operator's PKI: CA, tracker/seeder/rental certificates, CRL, rental bundles."""

from __future__ import annotations

from .errors import (
    BundleError,
    CertsError,
    KeyFileError,
    RentalExpired,
    RentalNotThisNode,
    RentalNotYetValid,
    RentalOtherCA,
    RentalTampered,
)
from .files import read_private, write_atomic, write_private
from .films import validate_film_id
from .keystore import load_content_key, save_content_key

__all__ = [
    "BundleError",
    "CertsError",
    "KeyFileError",
    "RentalExpired",
    "RentalNotThisNode",
    "RentalNotYetValid",
    "RentalOtherCA",
    "RentalTampered",
    "load_content_key",
    "read_private",
    "save_content_key",
    "validate_film_id",
    "write_atomic",
    "write_private",
]
