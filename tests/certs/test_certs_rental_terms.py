"""The renewable rental's bundle fields (service URL, rental window), added compatibly:
a bundle without them opens as before; a bundle with them says where and until when
its node renews; a bad value is refused with `BundleError`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgpack
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certs import BundleError, open_rental, read_rental_terms
from certs.authority import CA, make_rental_bundle

LIFETIME = timedelta(hours=2)
WINDOW = timedelta(hours=48)
URL = "https://rentals.example:8443"


@pytest.fixture(scope="module")
def short_cert(ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
               ) -> x509.Certificate:
    return ca.issue_rental(film, node_key.public_key(), not_before=t0, not_after=t0 + LIFETIME)


def _repack(bundle: bytes, **changes: Any) -> bytes:
    fields: dict[str, Any] = msgpack.unpackb(bundle, raw=False)
    fields.update(changes)
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def test_an_old_bundle_has_no_service_and_its_certificate_is_the_rental(
    short_cert: x509.Certificate, content_key: bytes, node_key: ec.EllipticCurvePrivateKey,
    ca: CA, t0: datetime,
) -> None:
    bundle = make_rental_bundle(short_cert, content_key)
    assert set(msgpack.unpackb(bundle)) == {"version", "certificate", "ephemeral_key", "nonce",
                                            "wrapped_key"}
    rental = open_rental(bundle, node_key, ca.cert, now=t0)
    assert rental.service_url is None
    assert rental.window_not_after is None
    assert rental.rental_ends == rental.not_after
    assert not rental.renewable


def test_a_service_bundle_names_its_service_and_window(
    short_cert: x509.Certificate, content_key: bytes, node_key: ec.EllipticCurvePrivateKey,
    ca: CA, t0: datetime,
) -> None:
    window = (t0 + timedelta(microseconds=900), t0 + WINDOW + timedelta(microseconds=900))
    bundle = make_rental_bundle(short_cert, content_key, service_url=URL, window=window)
    terms = read_rental_terms(bundle)
    assert terms.service_url == URL
    assert terms.window_not_before == t0
    assert terms.window_not_after == t0 + WINDOW
    rental = open_rental(bundle, node_key, ca.cert, now=t0)
    assert rental.service_url == URL
    assert rental.rental_ends == t0 + WINDOW
    assert rental.not_after == t0 + LIFETIME
    assert rental.renewable


@pytest.mark.parametrize(("changes", "message"), [
    ({"service_url": b"https://x"}, "wrong type"),
    ({"service_url": "http://plain.example"}, "not an https URL"),
    ({"service_url": "https://a b"}, "not an https URL"),
    ({"service_url": "https://" + "a" * 3000}, "not an https URL"),
    ({"rental_not_after": "tomorrow"}, "wrong type"),
    ({"rental_not_after": 2**62}, "out of range"),
])
def test_bad_renewal_fields_are_refused(
    short_cert: x509.Certificate, content_key: bytes, t0: datetime,
    changes: dict[str, Any], message: str,
) -> None:
    bundle = make_rental_bundle(short_cert, content_key, service_url=URL,
                                window=(t0, t0 + WINDOW))
    with pytest.raises(BundleError, match=message):
        read_rental_terms(_repack(bundle, **changes))


def test_half_a_window_or_a_certificate_outside_it_is_refused(
    short_cert: x509.Certificate, content_key: bytes, t0: datetime,
) -> None:
    bundle = make_rental_bundle(short_cert, content_key)
    with pytest.raises(BundleError, match="half a rental window"):
        read_rental_terms(_repack(bundle, rental_not_after=int((t0 + WINDOW).timestamp())))
    outside = make_rental_bundle(short_cert, content_key,
                                 window=(t0, t0 + timedelta(hours=1)))
    with pytest.raises(BundleError, match="outside its rental window"):
        read_rental_terms(outside)
