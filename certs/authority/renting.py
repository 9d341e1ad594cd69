"""Issuing rentals: sign a rental certificate and wrap the film's content key to it.

Operator-side (needs the CA key and the content keys); nodes open bundles with
`certs.rental`, which defines the bundle format used here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import datetime

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.authority.ca import CA
from certs.authority.keystore import load_content_key
from certs.errors import CertsError
from certs.hosting import is_hosting_certificate
from certs.keywrap import wrap_content_key
from certs.rental import BUNDLE_VERSION, rental_identity, rental_public_key

__all__ = ["issue_rental_bundle", "make_rental_bundle"]


def make_rental_bundle(
    certificate: x509.Certificate,
    content_key: bytes,
    *,
    rng_bytes: Callable[[int], bytes] = os.urandom,
    service_url: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> bytes:
    """Build a rental bundle: ``certificate`` plus ``content_key`` wrapped to its public key.

    ``rng_bytes(n)`` supplies the ephemeral key and nonce (inject it for deterministic
    tests). A renewable rental's bundle also names the ``service_url`` where its node
    renews, and the rental ``window`` (start, end) its short-lived certificates lie in
    (stored in whole seconds). Raises `CertsError` if the certificate is not a P-256
    rental certificate or the content key is not 32 bytes, or if it is a hosting
    certificate.
    """
    film_id, serial = rental_identity(certificate)
    if is_hosting_certificate(certificate):
        raise CertsError("a hosting certificate never gets a content key (it is not a rental)")
    recipient = rental_public_key(certificate)
    if recipient is None:
        raise CertsError("the rental certificate's key is not a P-256 key")
    wrapped = wrap_content_key(
        content_key, recipient, film_id=film_id, serial=serial, rng_bytes=rng_bytes
    )
    record: dict[str, object] = {
        "version": BUNDLE_VERSION,
        "certificate": certificate.public_bytes(serialization.Encoding.DER),
        "ephemeral_key": wrapped.ephemeral_key,
        "nonce": wrapped.nonce,
        "wrapped_key": wrapped.ciphertext,
    }
    if service_url is not None:
        record["service_url"] = service_url
    if window is not None:
        # whole seconds, rounded down: certificates carry whole seconds too
        record["rental_not_before"] = math.floor(window[0].timestamp())
        record["rental_not_after"] = math.floor(window[1].timestamp())
    bundle: bytes = msgpack.packb(record, use_bin_type=True)
    return bundle


def issue_rental_bundle(
    ca: CA,
    ca_dir: str | os.PathLike[str],
    film_id: str,
    node_public_key: ec.EllipticCurvePublicKey,
    *,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    rng_bytes: Callable[[int], bytes] = os.urandom,
) -> tuple[bytes, x509.Certificate]:
    """Issue a rental certificate and wrap the film's content key (from ``ca_dir/keys``) to it.

    Returns (bundle bytes, rental certificate). Raises `CertsError` if the film has no
    content key in ``ca_dir`` or the rental cannot be issued (see `CA.issue_rental`).
    """
    content_key = load_content_key(ca_dir, film_id)
    certificate = ca.issue_rental(
        film_id, node_public_key, not_before=not_before, not_after=not_after, serial=serial
    )
    return make_rental_bundle(certificate, content_key, rng_bytes=rng_bytes), certificate
