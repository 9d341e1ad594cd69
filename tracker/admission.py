"""Admission: may the holder of a verified client certificate announce this torrent? (pure)

The TLS layer has already checked that the certificate chains to the operator CA. The
rental rules are decided here so that each refusal has a reason a log line and a
metric can carry: the validity window (the TLS layer is told not to check it, see
`tracker.tls`), the CRL, and the film named by the certificate's SAN DNSName against
the film the info-hash belongs to. SAN ``*`` marks an origin seeder, admitted for
every film. A certificate with the hosting policy (`certs.hosting`) is a host carrying
the film's ciphertext before its release: admitted like a renter, for its film only,
and told apart (`Reason.ADMITTED_HOST`) so that its bytes are counted separately.
"""

from __future__ import annotations

import enum
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certs.hosting import is_hosting_certificate
from tracker.catalog import Catalog
from tracker.errors import TrackerError

__all__ = [
    "NOT_SERVED_TEXT",
    "ORIGIN_SAN",
    "CertInfo",
    "Decision",
    "Reason",
    "admit",
    "admit_scrape",
]

ORIGIN_SAN = "*"


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What admission needs from a client certificate (never the certificate itself)."""

    serial: int
    dns_names: tuple[str, ...]
    not_before: datetime
    """Start of the validity window (timezone-aware UTC)."""
    not_after: datetime
    """End of the validity window (timezone-aware UTC); valid while ``now < not_after``."""
    is_host: bool = False
    """The certificate carries the hosting policy (a pre-positioning host, no key)."""

    @classmethod
    def from_der(cls, der: bytes) -> CertInfo:
        """Extract serial, SAN DNS names and validity window from a DER certificate.

        Raises `TrackerError` if the bytes are not a certificate.
        """
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as e:
            raise TrackerError(f"client certificate cannot be parsed: {e}") from None
        return cls.from_certificate(cert)

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> CertInfo:
        """Extract serial, SAN DNS names and validity window from a certificate."""
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = tuple(san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        return cls(
            serial=cert.serial_number,
            dns_names=names,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            is_host=is_hosting_certificate(cert),
        )

    @property
    def is_origin(self) -> bool:
        """True for an origin seeder's certificate (SAN ``*``)."""
        return ORIGIN_SAN in self.dns_names


class Reason(enum.StrEnum):
    """Why a request was admitted or refused; the value is a metric label."""

    ADMITTED = "admitted"
    ADMITTED_ORIGIN = "admitted_origin"
    ADMITTED_HOST = "admitted_host"
    UNKNOWN_TORRENT = "unknown_torrent"
    FILM_MISMATCH = "film_mismatch"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    CRL_EXPIRED = "crl_expired"
    """The tracker's CRL is past nextUpdate + grace: it cannot tell who is revoked."""


NOT_SERVED_TEXT = "torrent not served for this rental"
"""One answer for "unknown torrent" and "rental for another film": two texts would be an
oracle telling a renter which info-hashes are films of this catalogue."""

_FAILURE_TEXT = {
    Reason.UNKNOWN_TORRENT: NOT_SERVED_TEXT,
    Reason.FILM_MISMATCH: NOT_SERVED_TEXT,
    Reason.EXPIRED: "rental has expired",
    Reason.NOT_YET_VALID: "rental is not valid yet",
    Reason.REVOKED: "rental has been revoked",
    Reason.CRL_EXPIRED: "the tracker's revocation list is out of date; retry later",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of admission, with what a log line needs (film, serial)."""

    reason: Reason
    film: str | None
    serial: int

    @property
    def admitted(self) -> bool:
        """True if the request may be served."""
        return self.reason in (Reason.ADMITTED, Reason.ADMITTED_ORIGIN, Reason.ADMITTED_HOST)

    @property
    def is_origin(self) -> bool:
        """True if the request comes from an origin seeder."""
        return self.reason is Reason.ADMITTED_ORIGIN

    @property
    def is_host(self) -> bool:
        """True if the request comes from a host (hosting credential, no content key)."""
        return self.reason is Reason.ADMITTED_HOST

    @property
    def failure_reason(self) -> str:
        """The text sent to a refused client (empty when admitted)."""
        return _FAILURE_TEXT.get(self.reason, "")


def _certificate_refusal(cert: CertInfo, revoked_serials: Set[int], now: datetime) -> Reason | None:
    if cert.serial in revoked_serials:
        return Reason.REVOKED
    if now < cert.not_before:
        return Reason.NOT_YET_VALID
    if now >= cert.not_after:
        return Reason.EXPIRED
    return None


def admit(
    cert: CertInfo,
    info_hash: bytes,
    catalog: Catalog,
    revoked_serials: Set[int],
    now: datetime,
) -> Decision:
    """Decide whether ``cert`` may announce ``info_hash`` at ``now`` (timezone-aware).

    Certificate-level refusals (revoked, then not yet valid, then expired) come
    before torrent-level ones (unknown torrent, then film mismatch).
    """
    film = catalog.get(info_hash)
    refusal = _certificate_refusal(cert, revoked_serials, now)
    if refusal is None:
        if film is None:
            refusal = Reason.UNKNOWN_TORRENT
        elif cert.is_origin:
            return Decision(Reason.ADMITTED_ORIGIN, film, cert.serial)
        elif film in cert.dns_names:
            reason = Reason.ADMITTED_HOST if cert.is_host else Reason.ADMITTED
            return Decision(reason, film, cert.serial)
        else:
            refusal = Reason.FILM_MISMATCH
    return Decision(refusal, film, cert.serial)


def admit_scrape(
    cert: CertInfo,
    info_hashes: tuple[bytes, ...],
    catalog: Catalog,
    revoked_serials: Set[int],
    now: datetime,
) -> tuple[Decision, tuple[bytes, ...]]:
    """Decide a scrape: the certificate-level decision and the info-hashes it may see.

    An empty ``info_hashes`` means every torrent the certificate admits (all of
    them for an origin). Hashes of other films and unknown hashes are left out
    rather than refused, so a scrape never tells which other films exist.
    """
    refusal = _certificate_refusal(cert, revoked_serials, now)
    if refusal is not None:
        return Decision(refusal, None, cert.serial), ()
    films = catalog.films() if cert.is_origin else frozenset(cert.dns_names)
    wanted = info_hashes or tuple(h for f in sorted(films) for h in catalog.hashes_of(f))
    allowed = tuple(h for h in wanted if catalog.get(h) in films)
    reason = Reason.ADMITTED_ORIGIN if cert.is_origin else Reason.ADMITTED
    if cert.is_host and not cert.is_origin:
        reason = Reason.ADMITTED_HOST
    return Decision(reason, None, cert.serial), allowed
