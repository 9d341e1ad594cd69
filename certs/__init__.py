"""The operator's PKI: CA, tracker/seeder/rental certificates, CRL, rental bundles."""

from __future__ import annotations

from .ca import CA, IssuedCert
from .crl import (
    crl_is_stale,
    crl_pem,
    load_crl,
    read_crl_file,
    refresh_crl,
    revoke,
    revoked_serials,
    verify_crl,
)
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
from .nodekey import (
    generate_node_key,
    load_node_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    save_node_key,
)

__all__ = [
    "CA",
    "BundleError",
    "CertsError",
    "IssuedCert",
    "KeyFileError",
    "RentalExpired",
    "RentalNotThisNode",
    "RentalNotYetValid",
    "RentalOtherCA",
    "RentalTampered",
    "crl_is_stale",
    "crl_pem",
    "generate_node_key",
    "load_content_key",
    "load_crl",
    "load_node_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "read_crl_file",
    "read_private",
    "refresh_crl",
    "revoke",
    "revoked_serials",
    "save_content_key",
    "save_node_key",
    "validate_film_id",
    "verify_crl",
    "write_atomic",
    "write_private",
]
