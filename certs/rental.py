"""The rental bundle (``.pvr``): a rental certificate plus the film's content key, wrapped.

A bundle is one msgpack map::

    {"version": 1,
     "certificate": DER rental certificate,
     "ephemeral_key": uncompressed P-256 point (65 bytes),
     "nonce": 12 bytes,
     "wrapped_key": AES-256-GCM ciphertext + tag of the 32-byte content key,
     # optional (bundles of the rental service; older bundles have none of them):
     "service_url": "https://HOST:PORT" where the node renews its certificate,
     "rental_not_before": the rental window's start, Unix seconds (UTC),
     "rental_not_after": the rental window's end, Unix seconds (UTC)}

A bundle of the rental service holds a *short-lived* certificate (hours) inside a
longer rental window: the node renews it at the service before it expires
(`peernode.runtime.renewal`). A bundle without the optional fields is a rental whose
certificate spans the whole window (``peernode ca rent``).

The content key is wrapped to the certificate's public key by `certs.keywrap`
(ECDH-ES + HKDF + AES-GCM, bound to film id and serial). `open_rental` checks the
certificate against the CA and the node, and refuses to unwrap outside the window.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.clock import resolve_now
from certs.errors import (
    BundleError,
    RentalExpired,
    RentalNotThisNode,
    RentalNotYetValid,
    RentalOtherCA,
    RentalTampered,
)
from certs.file_reading import read_file
from certs.identifiers import FILM_ID_PATTERN, MAX_SERIAL
from certs.keywrap import (
    NONCE_BYTES,
    POINT_BYTES,
    WRAPPED_BYTES,
    WrappedKey,
    unwrap_content_key,
)

__all__ = [
    "BUNDLE_VERSION",
    "MAX_BUNDLE_BYTES",
    "Rental",
    "RentalTerms",
    "open_rental",
    "read_rental_certificate",
    "read_rental_file",
    "read_rental_terms",
    "rental_identity",
    "rental_public_key",
    "verify_rental_certificate",
]

BUNDLE_VERSION = 1
# A real bundle is well under 1 KiB; the cap keeps a hostile file from costing memory.
MAX_BUNDLE_BYTES = 64 * 1024

_FIELDS = {
    "version": int,
    "certificate": bytes,
    "ephemeral_key": bytes,
    "nonce": bytes,
    "wrapped_key": bytes,
}
# Optional fields, added compatibly: a bundle without them still opens.
_OPTIONAL_FIELDS = {
    "service_url": str,
    "rental_not_before": int,
    "rental_not_after": int,
}
MAX_SERVICE_URL_CHARS = 2048


@dataclass(frozen=True)
class Rental:
    """An opened rental: verified certificate, its window, and the unwrapped content key."""

    certificate: x509.Certificate
    film_id: str
    serial: int
    not_before: datetime
    not_after: datetime
    content_key: bytes = field(repr=False)  # a secret: never in a repr, a log or a traceback
    service_url: str | None = None
    """Where the node renews this rental's certificate (None: it cannot be renewed)."""
    window_not_before: datetime | None = None
    """The rental window's start (None: the certificate's own window is the rental's)."""
    window_not_after: datetime | None = None
    """The rental window's end: no certificate of this rental is valid past it."""

    @property
    def rental_ends(self) -> datetime:
        """When the rental ends: its window's end, else the certificate's notAfter."""
        return self.window_not_after or self.not_after

    @property
    def renewable(self) -> bool:
        """True if a later certificate may be had: a service URL, and the window ends
        after this certificate does."""
        return self.service_url is not None and self.rental_ends > self.not_after

    @property
    def cert_pem(self) -> bytes:
        """The rental certificate as PEM (for libtorrent's set_ssl_certificate_buffer)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class RentalTerms:
    """What a bundle says besides its key, read without unwrapping anything: the
    certificate (not verified), and the service and window of a renewable rental."""

    certificate: x509.Certificate
    service_url: str | None = None
    window_not_before: datetime | None = None
    window_not_after: datetime | None = None


@dataclass(frozen=True)
class _Fields:
    certificate: x509.Certificate
    wrapped: WrappedKey
    terms: RentalTerms


def rental_identity(certificate: x509.Certificate) -> tuple[str, int]:
    """The (film id, serial) of a rental certificate.

    Raises `BundleError` if the certificate is not shaped like a rental: exactly one
    SAN, a DNSName that is a valid film id, and a serial in range.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = list(san)
    except (ValueError, x509.ExtensionNotFound, x509.DuplicateExtension):
        raise BundleError("the certificate has no readable subject alternative name") from None
    except x509.UnsupportedGeneralNameType:
        raise BundleError("the certificate has an unsupported subject alternative name") from None
    if len(names) != 1 or not isinstance(names[0], x509.DNSName):
        raise BundleError("the certificate is not a rental certificate (SAN is not one film id)")
    film_id = names[0].value
    if not FILM_ID_PATTERN.fullmatch(film_id):
        raise BundleError(f"the certificate is not a rental certificate (SAN {film_id!r})")
    serial = certificate.serial_number
    if not 0 < serial <= MAX_SERIAL:
        raise BundleError("the rental certificate's serial is out of range")
    return film_id, serial


def rental_public_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey | None:
    """The certificate's key if it is a P-256 key (the only kind a node holds), else None."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    return None


def _unpack(bundle: bytes) -> dict[str, Any]:
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise BundleError(f"not a rental bundle: {len(bundle)} bytes is too large")
    try:
        record = msgpack.unpackb(bundle, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise BundleError("not a rental bundle (not a msgpack record)") from None
    if not isinstance(record, dict):
        raise BundleError("not a rental bundle (not a msgpack map)")
    return record


def _parse(bundle: bytes) -> _Fields:
    """Check the bundle's shape and parse its certificate; `BundleError` otherwise."""
    record = _unpack(bundle)
    version = record.get("version")
    if version is None:
        raise BundleError("not a rental bundle (no version field)")
    if type(version) is not int or version != BUNDLE_VERSION:
        raise BundleError(f"unsupported rental bundle version {version!r} (this node reads 1)")
    unknown = sorted(str(k) for k in record.keys() - _FIELDS.keys() - _OPTIONAL_FIELDS.keys())
    if unknown:
        raise BundleError(f"rental bundle has unknown fields: {', '.join(unknown)}")
    for name, kind in _FIELDS.items():
        if name not in record:
            raise BundleError(f"rental bundle is missing the {name!r} field")
        if type(record[name]) is not kind:
            raise BundleError(f"rental bundle field {name!r} has the wrong type")
    sizes = {"ephemeral_key": POINT_BYTES, "nonce": NONCE_BYTES, "wrapped_key": WRAPPED_BYTES}
    for name, size in sizes.items():
        if len(record[name]) != size:
            raise BundleError(f"rental bundle field {name!r} is not {size} bytes")
    for name, kind in _OPTIONAL_FIELDS.items():
        if name in record and type(record[name]) is not kind:
            raise BundleError(f"rental bundle field {name!r} has the wrong type")
    certificate = _load_certificate(record["certificate"])
    return _Fields(
        certificate=certificate,
        wrapped=WrappedKey(record["ephemeral_key"], record["nonce"], record["wrapped_key"]),
        terms=_terms(record, certificate),
    )


def _terms(record: dict[str, Any], certificate: x509.Certificate) -> RentalTerms:
    url = record.get("service_url")
    if url is not None and (
        not url.startswith("https://") or len(url) > MAX_SERVICE_URL_CHARS
        or not url.isprintable() or " " in url
    ):
        raise BundleError("rental bundle field 'service_url' is not an https URL")
    start, end = record.get("rental_not_before"), record.get("rental_not_after")
    if (start is None) != (end is None):
        raise BundleError("rental bundle has half a rental window")
    window: tuple[datetime, datetime] | tuple[None, None] = (None, None)
    if start is not None and end is not None:
        try:
            window = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        except (OverflowError, OSError, ValueError):
            raise BundleError("rental bundle's rental window is out of range") from None
        # every certificate of the rental lies inside its window
        if not window[0] <= certificate.not_valid_before_utc \
                or not certificate.not_valid_after_utc <= window[1]:
            raise BundleError("rental bundle's certificate lies outside its rental window")
    return RentalTerms(certificate, url, window[0], window[1])


def _load_certificate(der: bytes) -> x509.Certificate:
    """Parse the bundle's certificate completely, or raise `BundleError`."""
    try:
        # cryptography only *warns* about some malformations (negative serial, odd
        # attribute lengths); our CA never issues such a certificate, so they are errors.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            certificate = x509.load_der_x509_certificate(der)
            # Names, validity and extensions are parsed lazily: touch them now so that a
            # malformed certificate fails here, not as a ValueError deep in a later check.
            _ = certificate.issuer, certificate.subject, certificate.extensions
            _ = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    except (
        ValueError,
        TypeError,
        Warning,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ):
        raise BundleError("rental bundle holds no valid certificate") from None
    return certificate


def read_rental_certificate(bundle: bytes) -> x509.Certificate:
    """The rental certificate inside a bundle, without unwrapping or verifying anything.

    For `ca revoke --rental` and for peeking at the film id. Raises `BundleError` on
    garbage, an unknown version or missing fields.
    """
    return _parse(bundle).certificate


def read_rental_terms(bundle: bytes) -> RentalTerms:
    """The certificate, service URL and rental window of a bundle, without unwrapping or
    verifying anything (a node decides from them whether to renew before opening it).

    Raises `BundleError` on garbage, an unknown version or missing or bad fields.
    """
    return _parse(bundle).terms


def verify_rental_certificate(
    certificate: x509.Certificate, ca_cert: x509.Certificate
) -> tuple[str, int]:
    """Check that ``ca_cert`` issued this rental certificate; return its (film id, serial).

    Raises `RentalOtherCA` if another CA issued it, `RentalTampered` if the CA's
    signature does not verify, `BundleError` if it is not shaped like a rental.
    Does not look at the validity window.
    """
    if certificate.issuer != ca_cert.subject:
        raise RentalOtherCA(
            f"rental was issued by {certificate.issuer.rfc4514_string()},"
            f" not by {ca_cert.subject.rfc4514_string()}"
        )
    # Same name is not same CA (every default CA is "peernode operator CA"): the AKI,
    # which our CA always sets, tells another CA apart from a tampered certificate.
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except (ValueError, x509.ExtensionNotFound, x509.DuplicateExtension):
        raise RentalOtherCA("rental certificate does not name its issuing CA key") from None
    if aki.key_identifier != ski.key_identifier:
        raise RentalOtherCA("rental was issued by another CA key than the one this node trusts")
    try:
        certificate.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        raise RentalTampered("rental certificate signature does not verify (altered)") from None
    # The signature BIT STRING (the certificate's last field) lies outside what is
    # signed; a nonzero unused-bits count still parses when the dropped bit is zero.
    # Insist on the encoding our CA emits so that no byte of a certificate is malleable.
    der = certificate.public_bytes(serialization.Encoding.DER)
    if der[-len(certificate.signature) - 1] != 0:
        raise RentalTampered("rental certificate signature is not canonically encoded (altered)")
    return rental_identity(certificate)


def open_rental(
    bundle: bytes,
    node_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    now: datetime | None = None,
) -> Rental:
    """Verify a rental bundle for this node and unwrap the film's content key.

    Checks, in order: shape (`BundleError`), issuer (`RentalOtherCA`), CA signature
    (`RentalTampered`), that the certificate is for ``node_key`` (`RentalNotThisNode`),
    the window (`RentalNotYetValid` if now < notBefore, `RentalExpired` if now >=
    notAfter), then the wrapped key (`RentalTampered`). The key is never unwrapped
    outside the window.
    """
    fields = _parse(bundle)
    certificate = fields.certificate
    film_id, serial = verify_rental_certificate(certificate, ca_cert)
    holder = rental_public_key(certificate)
    if holder is None or holder != node_key.public_key():
        raise RentalNotThisNode(f"rental {serial} for {film_id!r} was issued to another node's key")
    moment = resolve_now(now)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if moment < not_before:
        raise RentalNotYetValid(f"rental for {film_id!r} starts at {not_before.isoformat()}")
    if moment >= not_after:
        raise RentalExpired(f"rental for {film_id!r} ended at {not_after.isoformat()}")
    content_key = unwrap_content_key(fields.wrapped, node_key, film_id=film_id, serial=serial)
    return Rental(
        certificate=certificate,
        film_id=film_id,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        content_key=content_key,
        service_url=fields.terms.service_url,
        window_not_before=fields.terms.window_not_before,
        window_not_after=fields.terms.window_not_after,
    )


def read_rental_file(path: str | os.PathLike[str]) -> bytes:
    """Read a ``.pvr`` file's bytes; raises `CertsError` if missing, unreadable or oversized."""
    return read_file(path, what="rental bundle", max_bytes=MAX_BUNDLE_BYTES)
