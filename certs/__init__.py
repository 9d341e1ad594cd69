"""What a node needs of the PKI: open and verify rentals, node keys, CRLs as a reader.

Pure (no trio, no libtorrent, no sockets). The operator's signing side (the CA, issuing
rentals, signing CRLs, content keys) is `certs.authority`, which a node never imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

# Every public name loads on first use (PEP 562): importing one module of this
# package, or the package itself, loads nothing else.
_LAZY = {
    "BundleError": "certs.errors",
    "CertsError": "certs.errors",
    "crl_is_stale": "certs.crl",
    "generate_node_key": "certs.nodekey",
    "KeyFileError": "certs.errors",
    "load_crl": "certs.crl",
    "load_node_key": "certs.nodekey",
    "load_public_key": "certs.nodekey",
    "open_rental": "certs.rental",
    "private_key_pem": "certs.nodekey",
    "public_key_pem": "certs.nodekey",
    "read_crl_file": "certs.crl",
    "read_file": "certs.file_reading",
    "read_private": "certs.file_reading",
    "read_rental_certificate": "certs.rental",
    "read_rental_file": "certs.rental",
    "Rental": "certs.rental",
    "RentalTerms": "certs.rental",
    "read_rental_terms": "certs.rental",
    "rental_identity": "certs.rental",
    "RentalExpired": "certs.errors",
    "RentalNotThisNode": "certs.errors",
    "RentalNotYetValid": "certs.errors",
    "RentalOtherCA": "certs.errors",
    "RentalTampered": "certs.errors",
    "revoked_serials": "certs.crl",
    "save_node_key": "certs.nodekey",
    "unwrap_content_key": "certs.keywrap",
    "validate_film_id": "certs.identifiers",
    "validate_serial": "certs.identifiers",
    "verify_crl": "certs.crl",
    "verify_rental_certificate": "certs.rental",
    "WrappedKey": "certs.keywrap",
}

if TYPE_CHECKING:
    from certs.crl import crl_is_stale, load_crl, read_crl_file, revoked_serials, verify_crl
    from certs.errors import (
        BundleError,
        CertsError,
        KeyFileError,
        RentalExpired,
        RentalNotThisNode,
        RentalNotYetValid,
        RentalOtherCA,
        RentalTampered,
    )
    from certs.file_reading import read_file, read_private
    from certs.identifiers import validate_film_id, validate_serial
    from certs.keywrap import WrappedKey, unwrap_content_key
    from certs.nodekey import (
        generate_node_key,
        load_node_key,
        load_public_key,
        private_key_pem,
        public_key_pem,
        save_node_key,
    )
    from certs.rental import (
        Rental,
        RentalTerms,
        open_rental,
        read_rental_certificate,
        read_rental_file,
        read_rental_terms,
        rental_identity,
        verify_rental_certificate,
    )

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "BundleError",
    "CertsError",
    "KeyFileError",
    "Rental",
    "RentalExpired",
    "RentalNotThisNode",
    "RentalNotYetValid",
    "RentalOtherCA",
    "RentalTampered",
    "RentalTerms",
    "WrappedKey",
    "crl_is_stale",
    "generate_node_key",
    "load_crl",
    "load_node_key",
    "load_public_key",
    "open_rental",
    "private_key_pem",
    "public_key_pem",
    "read_crl_file",
    "read_file",
    "read_private",
    "read_rental_certificate",
    "read_rental_file",
    "read_rental_terms",
    "rental_identity",
    "revoked_serials",
    "save_node_key",
    "unwrap_content_key",
    "validate_film_id",
    "validate_serial",
    "verify_crl",
    "verify_rental_certificate",
]
