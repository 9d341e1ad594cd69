"""Nodes renew their rental certificates by themselves (the trio shell).

A bundle of the rental service names the service and the rental window
(`certs.RentalTerms`). While a download runs, `keep_renewing` asks the service for
a fresh certificate at about two thirds of the current one's lifetime
(`peernode.runtime.renewal_schedule`), retries with backoff when the service cannot
be reached, and sets each new certificate on the libtorrent handle: connections go
on, new ones present the new certificate. When the service refuses (revoked, ended)
it stops asking; the download stops sharing when its certificate expires, and its
``renewal`` status says why. Every renewed bundle is kept beside the resume data
(``<save dir>/.peernode/<film>.pvr``), so a restart uses the newest certificate;
`open_current_rental` renews at start a certificate that expired while the node was
offline, if the rental's window is still open; when the service cannot be reached it
raises `RenewalUnavailableError`, whose `~RenewalUnavailableError.retry_at` says when to
try again with the running renewal's backoff (the daemon does).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs import (
    CertsError,
    Rental,
    RentalExpired,
    RentalTerms,
    open_rental,
    private_key_pem,
    read_rental_terms,
    rental_identity,
)
from peernode.runtime.renewal_client import (
    RenewalAnswer,
    RenewalRefused,
    RenewalUnavailable,
    request_renewal,
)
from peernode.runtime.renewal_schedule import RenewalStatus, next_attempt
from support.atomic_write import write_atomic

if TYPE_CHECKING:
    from peernode.runtime.download import Download

__all__ = [
    "RenewalRefusedError",
    "RenewalUnavailableError",
    "RequestRenewal",
    "keep_renewing",
    "open_current_rental",
    "renewed_bundle_path",
]

log = logging.getLogger(__name__)

# How long a start-up renewal may take before the node gives up (the service is down).
START_RENEWAL_TIMEOUT_S = 30.0


class RequestRenewal(Protocol):
    """`request_renewal`'s shape (tests pass a failing one)."""

    def __call__(self, service_url: str, rental_id: int, *, cert_pem: bytes, key_pem: bytes,
                 ca_pem: bytes, timeout_s: float = ...) -> Awaitable[RenewalAnswer]: ...


class RenewalRefusedError(RentalExpired):
    """The certificate expired and the rental service refused a new one (``reason``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RenewalUnavailableError(RentalExpired):
    """The certificate expired and the rental service could not give a new one (not
    reachable, a 5xx, a garbled answer): worth trying again while the window is open."""

    def __init__(self, message: str, *, held_since: datetime, not_after: datetime,
                 rental_ends: datetime) -> None:
        super().__init__(message)
        self.held_since, self.not_after, self.rental_ends = held_since, not_after, rental_ends

    def retry_at(self, failures: int, *, now: datetime, jitter: float) -> datetime | None:
        """When to try again after ``failures`` (>= 1) failed start-up renewals in a row:
        the running renewal's backoff (`renewal_schedule.next_attempt`) over the expired
        certificate's span; None once the rental's window has ended."""
        return next_attempt(held_since=self.held_since, not_after=self.not_after,
                            rental_ends=self.rental_ends, failures=max(1, failures), now=now,
                            jitter=jitter)


def renewed_bundle_path(save_dir: Path, film_id: str) -> Path:
    """Where the newest bundle of a film downloaded into ``save_dir`` is kept."""
    return save_dir / ".peernode" / f"{film_id}.pvr"


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _saved_terms(path: Path) -> tuple[bytes, RentalTerms] | None:
    try:
        data = path.read_bytes()
        return data, read_rental_terms(data)
    except (OSError, CertsError):
        return None


def _newest(bundle: bytes, save_dir: Path) -> bytes:
    """``bundle``, or the renewed bundle of the same rental kept in ``save_dir`` if that
    one's certificate lasts longer (a bundle of another rental is never picked)."""
    terms = read_rental_terms(bundle)
    film_id, serial = rental_identity(terms.certificate)
    saved = _saved_terms(renewed_bundle_path(save_dir, film_id))
    if saved is None:
        return bundle
    data, kept = saved
    if kept.certificate.serial_number != serial or \
            kept.certificate.public_key() != terms.certificate.public_key():
        return bundle
    if kept.certificate.not_valid_after_utc > terms.certificate.not_valid_after_utc:
        return data
    return bundle


def _check_same_rental(new: Rental, old_serial: int, old_film: str) -> None:
    if new.serial != old_serial or new.film_id != old_film:
        raise RenewalUnavailable(
            f"the rental service answered with rental {new.serial} of {new.film_id!r},"
            f" not {old_serial} of {old_film!r}"
        )


def _keep(save_dir: Path, rental: Rental, bundle: bytes) -> None:
    try:
        write_atomic(renewed_bundle_path(save_dir, rental.film_id), bundle)
    except OSError as e:
        log.error("%s: renewed rental not saved (%s); a restart renews again",
                  rental.film_id, e.strerror or e)


async def open_current_rental(
    bundle: bytes,
    node_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    save_dir: Path,
    now: datetime,
    request: RequestRenewal = request_renewal,
) -> Rental:
    """Open the newest certificate of this rental, renewing it first if it expired while
    the node was offline and the rental's window is still open.

    Raises what `certs.open_rental` raises; `RenewalRefusedError` (a `RentalExpired`)
    if the service refuses; `RenewalUnavailableError` (a `RentalExpired`) if the
    certificate expired and the service cannot be reached or answers uselessly.
    """
    best = _newest(bundle, save_dir)
    if best is not bundle:
        try:
            open_rental(best, node_key, ca_cert, now=now)
        except RentalExpired:
            pass  # renewed below, like the given one would be
        except CertsError as e:  # a damaged kept copy must not hide the good bundle
            log.warning("kept renewed rental ignored: %s", e)
            best = bundle
    try:
        return open_rental(best, node_key, ca_cert, now=now)
    except RentalExpired as expired:
        terms = read_rental_terms(best)
        ends = terms.window_not_after
        if terms.service_url is None or ends is None or now >= ends:
            raise
        film_id, serial = rental_identity(terms.certificate)
        log.info("%s: certificate expired at %s, rental open until %s: renewing", film_id,
                 terms.certificate.not_valid_after_utc.isoformat(), ends.isoformat())
        try:
            answer = await request(terms.service_url, serial, cert_pem=_pem(terms.certificate),
                                   key_pem=private_key_pem(node_key),
                                   ca_pem=_pem(ca_cert), timeout_s=START_RENEWAL_TIMEOUT_S)
            rental = open_rental(answer.bundle, node_key, ca_cert, now=now)
            _check_same_rental(rental, serial, film_id)
        except RenewalRefused as e:
            raise RenewalRefusedError(
                e.reason, f"rental {serial} for {film_id!r}: its certificate expired and the"
                          f" rental service refused a new one ({e.reason}: {e})"
            ) from None
        except (RenewalUnavailable, CertsError) as e:
            raise RenewalUnavailableError(
                f"{expired}; renewing it failed: {e}",
                held_since=terms.certificate.not_valid_before_utc,
                not_after=terms.certificate.not_valid_after_utc, rental_ends=ends) from None
        _keep(save_dir, rental, answer.bundle)
        return rental


async def keep_renewing(
    download: Download,
    node_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    wall_clock: Callable[[], datetime],
    request: RequestRenewal = request_renewal,
    jitter: Callable[[], float] = random.random,
) -> None:
    """Renew ``download``'s certificate for as long as its rental lasts (see the module).

    Runs in the node's nursery; returns when nothing is left to renew, the service
    refused, or the download was removed. Its progress is ``download.renewal``.
    """
    rental = download.rental
    status = RenewalStatus(
        "scheduled" if rental.renewable else "not_renewable",
        certificate_not_after=rental.not_after, rental_ends=rental.rental_ends,
    )
    download.renewal = status
    if rental.service_url is None:
        return
    key_pem, ca_pem = private_key_pem(node_key), _pem(ca_cert)
    held_since = max(rental.not_before, wall_clock())
    while download.handle.is_valid():
        now = wall_clock()
        at = next_attempt(held_since=held_since, not_after=rental.not_after,
                          rental_ends=rental.rental_ends, failures=status.failures, now=now,
                          jitter=jitter())
        if at is None:
            download.renewal = status = replace(status, state="complete", next_attempt_at=None)
            return
        download.renewal = status = replace(
            status, state="retrying" if status.failures else "scheduled", next_attempt_at=at)
        await trio.sleep(max(0.0, (at - now).total_seconds()))
        if not download.handle.is_valid():
            break
        try:
            answer = await request(rental.service_url, rental.serial, cert_pem=rental.cert_pem,
                                   key_pem=key_pem, ca_pem=ca_pem)
            renewed = open_rental(answer.bundle, node_key, ca_cert, now=wall_clock())
            _check_same_rental(renewed, rental.serial, rental.film_id)
        except RenewalRefused as e:
            download.renewal = status = replace(
                status, state="refused", next_attempt_at=None, refused_reason=e.reason,
                message=str(e))
            log.error("%s: renewal refused (%s: %s); sharing stops when the certificate"
                      " expires at %s", rental.film_id, e.reason, e,
                      rental.not_after.isoformat())
            return
        except (RenewalUnavailable, CertsError) as e:
            download.renewal = status = replace(status, failures=status.failures + 1,
                                                last_error=str(e))
            log.warning("%s: renewal failed (%d in a row): %s", rental.film_id,
                        status.failures, e)
            continue
        _keep(download.save_dir, renewed, answer.bundle)
        download.renew_certificate(renewed, key_pem)
        rental, held_since = renewed, max(renewed.not_before, wall_clock())
        download.renewal = status = replace(
            status, certificate_not_after=renewed.not_after, renewals=status.renewals + 1,
            failures=0, last_error=None)
        log.info("%s: certificate renewed until %s", rental.film_id,
                 renewed.not_after.isoformat())
    download.renewal = replace(status, state="stopped", next_attempt_at=None)
