"""The CA's certificate revocation list as its readers see it: parse, verify, list, staleness.

The tracker refuses a revoked rental at once; libtorrent peers do not read CRLs
(see DESIGN.md, "Known limit"), so a revoked rental still lasts at peers until it expires.
"""

from __future__ import annotations

import os
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.clock import resolve_now
from certs.errors import CertsError
from certs.file_reading import read_file

__all__ = [
    "crl_is_stale",
    "crl_pem",
    "load_crl",
    "read_crl_file",
    "revoked_serials",
    "verify_crl",
]


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL as PEM, the form written to ``crl.pem``."""
    return crl.public_bytes(serialization.Encoding.PEM)


def load_crl(pem: bytes) -> x509.CertificateRevocationList:
    """Parse a PEM CRL, entries included; raises `CertsError` on anything malformed.

    Entries and extensions are parsed here, eagerly, so that a bad CRL fails on
    load and not later inside the tracker's admission check.
    """
    try:
        crl = x509.load_pem_x509_crl(pem)
        for entry in crl:
            _ = entry.serial_number, entry.revocation_date_utc, entry.extensions
        _ = crl.extensions
    except ValueError as e:
        raise CertsError(f"not a valid PEM CRL ({e})") from None
    return crl


def read_crl_file(path: str | os.PathLike[str]) -> x509.CertificateRevocationList:
    """Read and parse a CRL file; raises `CertsError` if missing, unreadable or malformed."""
    data = read_file(path, what="CRL")
    try:
        return load_crl(data)
    except CertsError:
        raise CertsError(f"CRL {path} is not a valid PEM CRL") from None


def revoked_serials(crl: x509.CertificateRevocationList) -> frozenset[int]:
    """The serial numbers (rental ids) the CRL revokes."""
    return frozenset(entry.serial_number for entry in crl)


def verify_crl(crl: x509.CertificateRevocationList, ca_cert: x509.Certificate) -> None:
    """Check that ``ca_cert`` issued and signed ``crl``; raises `CertsError` otherwise."""
    if crl.issuer != ca_cert.subject:
        raise CertsError(f"CRL issuer {crl.issuer.rfc4514_string()} is not the CA")
    public_key = ca_cert.public_key()
    # Our CAs are P-256; any other key type cannot have signed one of our CRLs.
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(
        public_key
    ):
        raise CertsError("CRL signature does not verify with the CA's key")


def crl_is_stale(crl: x509.CertificateRevocationList, *, now: datetime | None = None) -> bool:
    """True if ``now`` is at or past the CRL's next update (or it announces none)."""
    next_update = crl.next_update_utc
    return next_update is None or resolve_now(now) >= next_update
