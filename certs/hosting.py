"""The hosting credential: a certificate that lets an opted-in node carry a film's ciphertext.

Pre-positioning places a film's encrypted container on customers' nodes that agreed to
host, before the film is released. A host needs to join the film's SSL swarm (peers and
the tracker check the SAN against the torrent name, exactly as for a rental) but must
never be able to decrypt it. So a hosting credential is a rental certificate's twin
with three differences:

- it carries a **certificate policy** `HOSTING_POLICY_OID` (non-critical, so libtorrent's
  OpenSSL handshake accepts it unchanged): the tracker reads it to count hosts apart;
- it comes **without a content key**: the file is a bare PEM certificate (``.pvh``), there
  is nothing to unwrap, and no keyAgreement bit (no key is ever wrapped to it);
- its window is the hosting window (from placement until some days after release),
  not a rental window.

Pure: no trio, no libtorrent, no sockets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.clock import resolve_now
from certs.errors import (
    BundleError,
    RentalExpired,
    RentalNotThisNode,
    RentalNotYetValid,
)
from certs.file_reading import read_file
from certs.rental import rental_public_key, verify_rental_certificate

__all__ = [
    "HOSTING_POLICY_OID",
    "MAX_HOSTING_FILE_BYTES",
    "HostingCredential",
    "NotAHostingCredential",
    "is_hosting_certificate",
    "load_hosting_certificate",
    "open_hosting_credential",
    "read_hosting_file",
]

# A UUID-derived OID (ITU-T X.667, arc 2.25): private to this project, needs no
# registration, collides with nobody. Defined here once; the CA, the tracker and the
# node all read it from this module.
HOSTING_POLICY_OID = x509.ObjectIdentifier("2.25.132107177748813557817854005387140987360")

MAX_HOSTING_FILE_BYTES = 16 * 1024


class NotAHostingCredential(BundleError):
    """The certificate is not a hosting credential (no hosting policy, or not one film)."""


def is_hosting_certificate(certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` carries the hosting policy (does not verify anything else)."""
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return False
    return any(p.policy_identifier == HOSTING_POLICY_OID for p in policies)


@dataclass(frozen=True)
class HostingCredential:
    """A verified hosting credential: which film, which serial, its window. Holds no key."""

    certificate: x509.Certificate
    film_id: str
    serial: int
    not_before: datetime
    not_after: datetime

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM (for libtorrent's set_ssl_certificate_buffer)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def load_hosting_certificate(data: bytes) -> x509.Certificate:
    """Parse a ``.pvh`` file (one PEM certificate); `NotAHostingCredential` otherwise."""
    try:
        certificate = x509.load_pem_x509_certificate(data)
        _ = certificate.extensions, certificate.not_valid_after_utc
    except ValueError:
        raise NotAHostingCredential("not a hosting credential (no PEM certificate)") from None
    if not is_hosting_certificate(certificate):
        raise NotAHostingCredential("the certificate carries no hosting policy")
    return certificate


def open_hosting_credential(
    data: bytes,
    node_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    now: datetime | None = None,
) -> HostingCredential:
    """Verify a hosting credential for this node: shape, issuer, signature, key, window.

    Raises `NotAHostingCredential` for a certificate without the hosting policy (a
    rental certificate too), the rental errors for another CA or a tampered certificate
    (`RentalOtherCA`, `RentalTampered`), `RentalNotThisNode` for another node's key,
    `RentalNotYetValid` / `RentalExpired` outside the window.
    """
    certificate = load_hosting_certificate(data)
    film_id, serial = verify_rental_certificate(certificate, ca_cert)
    holder = rental_public_key(certificate)
    if holder is None or holder != node_key.public_key():
        raise RentalNotThisNode(f"hosting credential for {film_id!r} is for another node's key")
    moment = resolve_now(now)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if moment < not_before:
        raise RentalNotYetValid(f"hosting of {film_id!r} starts at {not_before.isoformat()}")
    if moment >= not_after:
        raise RentalExpired(f"hosting of {film_id!r} ended at {not_after.isoformat()}")
    return HostingCredential(certificate, film_id, serial, not_before, not_after)


def read_hosting_file(path: str | os.PathLike[str]) -> bytes:
    """Read a ``.pvh`` file; `CertsError` if missing, unreadable or oversized."""
    return read_file(path, what="hosting credential", max_bytes=MAX_HOSTING_FILE_BYTES)
