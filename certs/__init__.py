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
from .keywrap import WrappedKey, unwrap_content_key, wrap_content_key
from .nodekey import (
    generate_node_key,
    load_node_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    save_node_key,
)
from .rental import (
    Rental,
    issue_rental_bundle,
    make_rental_bundle,
    open_rental,
    read_rental_certificate,
    read_rental_file,
    rental_identity,
    verify_rental_certificate,
)

__all__ = [
    "CA",
    "BundleError",
    "CertsError",
    "IssuedCert",
    "KeyFileError",
    "Rental",
    "RentalExpired",
    "RentalNotThisNode",
    "RentalNotYetValid",
    "RentalOtherCA",
    "RentalTampered",
    "WrappedKey",
    "crl_is_stale",
    "crl_pem",
    "generate_node_key",
    "issue_rental_bundle",
    "load_content_key",
    "load_crl",
    "load_node_key",
    "load_public_key",
    "make_rental_bundle",
    "open_rental",
    "private_key_pem",
    "public_key_pem",
    "read_crl_file",
    "read_private",
    "read_rental_certificate",
    "read_rental_file",
    "refresh_crl",
    "rental_identity",
    "revoke",
    "revoked_serials",
    "save_content_key",
    "save_node_key",
    "unwrap_content_key",
    "validate_film_id",
    "verify_crl",
    "verify_rental_certificate",
    "wrap_content_key",
    "write_atomic",
    "write_private",
]
