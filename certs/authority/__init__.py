"""The operator's signing side of the PKI: the CA, issuing rentals, signing the CRL,
the content-key store. Needs the CA key; customer nodes never import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

# Every public name loads on first use (PEP 562): importing one module of this
# package, or the package itself, loads nothing else.
_LAZY = {
    "CA": "certs.authority.ca",
    "crl_pem": "certs.crl",
    "issue_rental_bundle": "certs.authority.renting",
    "IssuedCert": "certs.authority.ca",
    "load_content_key": "certs.authority.keystore",
    "make_rental_bundle": "certs.authority.renting",
    "refresh_crl": "certs.authority.crl_signing",
    "revoke": "certs.authority.crl_signing",
    "save_content_key": "certs.authority.keystore",
    "wrap_content_key": "certs.keywrap",
}

if TYPE_CHECKING:
    from certs.authority.ca import CA, IssuedCert
    from certs.authority.crl_signing import refresh_crl, revoke
    from certs.authority.keystore import load_content_key, save_content_key
    from certs.authority.renting import issue_rental_bundle, make_rental_bundle
    from certs.crl import crl_pem
    from certs.keywrap import wrap_content_key

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "CA",
    "IssuedCert",
    "crl_pem",
    "issue_rental_bundle",
    "load_content_key",
    "make_rental_bundle",
    "refresh_crl",
    "revoke",
    "save_content_key",
    "wrap_content_key",
]
