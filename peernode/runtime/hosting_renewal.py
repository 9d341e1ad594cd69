"""A host renews its hosting credential at the rental service, like a renter its rental.

``POST /v1/hostings/{id}/renew`` over mutual TLS with the current (possibly expired)
hosting certificate and the node key (the transport is the rental renewal client's,
`peernode.runtime.renewal_client`); the answer's PEM credential must be a hosting
credential of the same CA, film, serial and node key, and is then set on the hosted
film's handle (`HostedFilm.renew_credential`: connections go on, new ones present it).
`keep_hosting_renewed` does so at 2/3 of each certificate's lifetime until the hosting
window ends or the service refuses (revoked, ended), retrying while the service cannot
be reached.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import trio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from certs import private_key_pem
from certs.errors import CertsError, RentalExpired
from certs.hosting import HostingCredential, load_hosting_certificate, open_hosting_credential
from peernode.runtime.hosting import HostedFilm
from peernode.runtime.renewal_client import (
    RenewalRefused,
    RenewalUnavailable,
    post_with_certificate,
)
from peernode.runtime.renewal_schedule import renewal_due

__all__ = [
    "hosting_renewal_url",
    "keep_hosting_renewed",
    "open_current_hosting",
    "renew_hosted_film",
    "request_hosting_renewal",
]

log = logging.getLogger(__name__)

_REFUSALS = frozenset({400, 401, 403, 404, 410})
RETRY_S = 60.0


def hosting_renewal_url(service_url: str, hosting_id: int) -> str:
    """The renewal endpoint of hosting ``hosting_id`` at ``service_url``."""
    return f"{service_url.rstrip('/')}/v1/hostings/{hosting_id}/renew"


async def request_hosting_renewal(
    service_url: str,
    hosting_id: int,
    *,
    cert_pem: bytes,
    key_pem: bytes,
    ca_pem: bytes,
    timeout_s: float = 30.0,
) -> bytes:
    """The renewed credential (PEM) of hosting ``hosting_id``; `RenewalRefused` (final:
    ``revoked``, ``ended``, ``wrong_node_key``...) or `RenewalUnavailable` (try later)."""
    url = hosting_renewal_url(service_url, hosting_id)
    status, body = await post_with_certificate(url, what="hosting", cert_pem=cert_pem,
                                               key_pem=key_pem, ca_pem=ca_pem,
                                               timeout_s=timeout_s)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        value = None
    if status in _REFUSALS:
        code = value.get("code") if isinstance(value, dict) else None
        message = value.get("message") if isinstance(value, dict) else None
        raise RenewalRefused(str(code or f"http_{status}"),
                             str(message or f"the rental service answered {status}"))
    if status != 200 or not isinstance(value, dict) or not isinstance(
        value.get("credential"), str
    ):
        raise RenewalUnavailable(f"{url}: the rental service answered {status} without a"
                                 " credential")
    try:
        return str(value["credential"]).encode("ascii")
    except UnicodeEncodeError:
        raise RenewalUnavailable(f"{url}: the credential is not PEM text") from None


async def open_current_hosting(
    pem: bytes,
    node_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    service_url: str | None,
    now: datetime | None = None,
) -> tuple[HostingCredential, bytes]:
    """Open a hosting credential (PEM) for this node; one that expired while the node
    was off is renewed first at ``service_url`` (the service renews an expired
    certificate of a hosting still in its window). The credential and its PEM.

    Raises the `certs.BundleError` family as `open_hosting_credential` does (and
    `RentalExpired` when there is no service to renew at), `RenewalRefused` or
    `RenewalUnavailable` when the renewal at start fails.
    """
    try:
        return open_hosting_credential(pem, node_key, ca_cert, now=now), pem
    except RentalExpired:
        if service_url is None:
            raise
    certificate = load_hosting_certificate(pem)
    renewed = await request_hosting_renewal(
        service_url, certificate.serial_number, cert_pem=pem,
        key_pem=private_key_pem(node_key), ca_pem=ca_cert.public_bytes(Encoding.PEM),
    )
    try:
        credential = open_hosting_credential(renewed, node_key, ca_cert, now=now)
    except CertsError as e:
        raise RenewalUnavailable(f"the renewed hosting credential does not open: {e}") from None
    if credential.serial != certificate.serial_number:
        raise RenewalUnavailable("the renewed hosting credential is of another hosting")
    log.info("%s: expired hosting credential renewed at start, until %s", credential.film_id,
             credential.not_after.isoformat())
    return credential, renewed


async def renew_hosted_film(
    hosted: HostedFilm,
    node_key: ec.EllipticCurvePrivateKey,
    service_url: str,
    ca_cert: x509.Certificate,
    *,
    now: datetime | None = None,
) -> HostingCredential:
    """Renew ``hosted``'s credential once and set it on its handle; the new credential.

    Raises `RenewalRefused`, or `RenewalUnavailable` also for an answer that is not a
    hosting credential of this CA for the same film, hosting and node key.
    """
    current = hosted.credential
    key_pem = private_key_pem(node_key)
    pem = await request_hosting_renewal(
        service_url, current.serial, cert_pem=current.cert_pem, key_pem=key_pem,
        ca_pem=ca_cert.public_bytes(Encoding.PEM),
    )
    try:
        renewed = open_hosting_credential(pem, node_key, ca_cert, now=now)
    except CertsError as e:
        raise RenewalUnavailable(f"the renewed hosting credential does not open: {e}") from None
    if (renewed.film_id, renewed.serial) != (current.film_id, current.serial):
        raise RenewalUnavailable("the renewed hosting credential is of another hosting")
    hosted.renew_credential(renewed, key_pem)
    log.info("%s: hosting credential renewed until %s", renewed.film_id,
             renewed.not_after.isoformat())
    return renewed


async def keep_hosting_renewed(
    hosted: HostedFilm,
    node_key: ec.EllipticCurvePrivateKey,
    service_url: str,
    ca_cert: x509.Certificate,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    retry_s: float = RETRY_S,
    renew: Callable[..., Awaitable[HostingCredential]] = renew_hosted_film,
) -> str:
    """Renew at 2/3 of the time each certificate is held for (`renewal_due`: from the
    later of its notBefore and the moment it was got, since the service backdates
    notBefore); returns why it stopped: the service's refusal reason (``revoked``,
    ``ended``...) or ``window_end`` once a renewal no longer moves notAfter (the
    certificate reaches the hosting window's end). While the service is unreachable it
    retries every ``retry_s`` (sooner near the certificate's end). ``renew`` is
    `renew_hosted_film` (a stand-in in tests). ``hosted.renewing`` is true meanwhile."""
    hosted.renewing = True
    try:
        return await _keep_renewed(hosted, node_key, service_url, ca_cert, clock=clock,
                                   retry_s=retry_s, renew=renew)
    finally:
        hosted.renewing = False


async def _keep_renewed(
    hosted: HostedFilm,
    node_key: ec.EllipticCurvePrivateKey,
    service_url: str,
    ca_cert: x509.Certificate,
    *,
    clock: Callable[[], datetime],
    retry_s: float,
    renew: Callable[..., Awaitable[HostingCredential]],
) -> str:
    held_since = max(hosted.credential.not_before, clock())
    while True:
        current = hosted.credential
        due = renewal_due(held_since, current.not_after)
        await trio.sleep(max(0.0, (due - clock()).total_seconds()))
        while True:
            try:
                renewed = await renew(hosted, node_key, service_url, ca_cert, now=clock())
                break
            except RenewalRefused as e:
                log.warning("%s: hosting renewal refused (%s): %s", current.film_id,
                            e.reason, e)
                return e.reason
            except RenewalUnavailable as e:
                left = (current.not_after - clock()).total_seconds()
                log.warning("%s: hosting renewal failed (%s); retrying", current.film_id, e)
                await trio.sleep(max(1.0, min(retry_s, left / 4)))
        if renewed.not_after <= current.not_after:
            return "window_end"
        held_since = max(renewed.not_before, clock())
