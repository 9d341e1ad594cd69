"""Rental bundles: round trip, and every way a bundle must be refused, with its exact type."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from certs import (
    BundleError,
    CertsError,
    Rental,
    RentalExpired,
    RentalNotThisNode,
    RentalNotYetValid,
    RentalOtherCA,
    RentalTampered,
    generate_node_key,
    open_rental,
    read_rental_certificate,
    read_rental_file,
)
from certs.authority import CA, issue_rental_bundle, make_rental_bundle, save_content_key

WINDOW = timedelta(hours=48)


@pytest.fixture(scope="module")
def rental_cert(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> x509.Certificate:
    """A 48-hour rental of `film` starting at t0, for `node_key`."""
    return ca.issue_rental(film, node_key.public_key(), not_before=t0, not_after=t0 + WINDOW)


@pytest.fixture(scope="module")
def bundle(rental_cert: x509.Certificate, content_key: bytes) -> bytes:
    return make_rental_bundle(rental_cert, content_key)


def _fields(bundle: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = msgpack.unpackb(bundle, raw=False)
    return fields


def _repack(bundle: bytes, **changes: Any) -> bytes:
    """The bundle with some fields replaced (None removes the field)."""
    fields = _fields(bundle)
    for name, value in changes.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_round_trip(
    bundle: bytes,
    rental_cert: x509.Certificate,
    node_key: ec.EllipticCurvePrivateKey,
    ca: CA,
    t0: datetime,
    film: str,
    content_key: bytes,
) -> None:
    rental = open_rental(bundle, node_key, ca.cert, now=t0 + timedelta(hours=1))
    assert rental == Rental(
        certificate=rental_cert,
        film_id=film,
        serial=rental_cert.serial_number,
        not_before=t0,
        not_after=t0 + WINDOW,
        content_key=content_key,
    )
    assert rental.cert_pem == rental_cert.public_bytes(serialization.Encoding.PEM)
    assert read_rental_certificate(bundle) == rental_cert
    assert _fields(bundle)["version"] == 1


def test_window_boundaries(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    """Valid from notBefore inclusive to notAfter exclusive."""
    assert open_rental(bundle, node_key, ca.cert, now=t0).film_id
    last = t0 + WINDOW - timedelta(microseconds=1)
    assert open_rental(bundle, node_key, ca.cert, now=last).film_id
    with pytest.raises(RentalExpired, match="ended at"):
        open_rental(bundle, node_key, ca.cert, now=t0 + WINDOW)
    with pytest.raises(RentalNotYetValid, match="starts at"):
        open_rental(bundle, node_key, ca.cert, now=t0 - timedelta(seconds=1))


def test_bundles_are_fresh_each_time_but_deterministic_with_injected_randomness(
    rental_cert: x509.Certificate, content_key: bytes
) -> None:
    assert make_rental_bundle(rental_cert, content_key) != make_rental_bundle(
        rental_cert, content_key
    )
    first = make_rental_bundle(rental_cert, content_key, rng_bytes=random.Random(1).randbytes)
    again = make_rental_bundle(rental_cert, content_key, rng_bytes=random.Random(1).randbytes)
    assert first == again


def test_content_key_is_not_in_the_clear(bundle: bytes, content_key: bytes) -> None:
    assert content_key not in bundle


def test_tampered_wrapped_key(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    wrapped = _fields(bundle)["wrapped_key"]
    for index in (0, len(wrapped) - 1):  # ciphertext and tag
        tampered = _repack(bundle, wrapped_key=_flip(wrapped, index))
        with pytest.raises(RentalTampered, match="does not verify"):
            open_rental(tampered, node_key, ca.cert, now=t0)


def test_tampered_nonce(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    tampered = _repack(bundle, nonce=_flip(_fields(bundle)["nonce"], 3))
    with pytest.raises(RentalTampered):
        open_rental(tampered, node_key, ca.cert, now=t0)


def test_tampered_ephemeral_key(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    off_curve = _repack(bundle, ephemeral_key=_flip(_fields(bundle)["ephemeral_key"], 64))
    with pytest.raises(RentalTampered, match="bad point"):
        open_rental(off_curve, node_key, ca.cert, now=t0)
    another_point = (
        generate_node_key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    with pytest.raises(RentalTampered, match="does not verify"):
        open_rental(_repack(bundle, ephemeral_key=another_point), node_key, ca.cert, now=t0)


def test_tampered_certificate_bytes(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime, film: str
) -> None:
    der = _fields(bundle)["certificate"]
    # Rewrite the SAN to another film of the same length: still a parseable certificate.
    assert der.count(film.encode()) == 2  # subject CN and SAN
    forged = der.replace(film.encode(), b"big-buck-bunnz")
    assert x509.load_der_x509_certificate(forged)
    with pytest.raises(RentalTampered, match="signature does not verify"):
        open_rental(_repack(bundle, certificate=forged), node_key, ca.cert, now=t0)
    signature_byte = len(der) - 5
    flipped = _repack(bundle, certificate=_flip(der, signature_byte))
    with pytest.raises(RentalTampered):
        open_rental(flipped, node_key, ca.cert, now=t0)


def test_signature_bit_string_padding_is_refused(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, content_key: bytes
) -> None:
    """Found by mutating every byte: 'unused bits = 1' still parses if the dropped bit is 0."""
    while True:  # half of all ECDSA signatures end in an even byte
        cert = ca.issue_rental(
            "a-film", node_key.public_key(), not_before=t0, not_after=t0 + WINDOW
        )
        if cert.signature[-1] & 1 == 0:
            break
    der = bytearray(_der(cert))
    der[-len(cert.signature) - 1] = 1  # the BIT STRING's unused-bits count
    bundle = make_rental_bundle(cert, content_key)
    with pytest.raises(RentalTampered, match="canonically"):
        open_rental(_repack(bundle, certificate=bytes(der)), node_key, ca.cert, now=t0)


def test_certificate_with_an_invalid_x509_version_is_a_bundle_error(bundle: bytes) -> None:
    der = _fields(bundle)["certificate"]
    version_at = der.index(b"\xa0\x03\x02\x01\x02") + 4  # [0] EXPLICIT INTEGER 2 (v3)
    bad = der[:version_at] + b"\x07" + der[version_at + 1 :]
    with pytest.raises(BundleError, match="no valid certificate"):
        read_rental_certificate(_repack(bundle, certificate=bad))


def test_wrapped_key_cannot_be_moved_to_another_rental(
    bundle: bytes, ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    """A genuine certificate for the same node, but another rental: the AAD binding fails."""
    other = ca.issue_rental(film, node_key.public_key(), not_before=t0, not_after=t0 + WINDOW)
    swapped = _repack(bundle, certificate=_der(other))
    with pytest.raises(RentalTampered, match="does not verify"):
        open_rental(swapped, node_key, ca.cert, now=t0)


def test_other_ca_with_the_same_name(
    other_ca: CA, ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    assert other_ca.cert.subject == ca.cert.subject
    cert = other_ca.issue_rental(film, node_key.public_key(), not_before=t0, not_after=t0 + WINDOW)
    foreign = make_rental_bundle(cert, bytes(32))
    with pytest.raises(RentalOtherCA, match="another CA key"):
        open_rental(foreign, node_key, ca.cert, now=t0)


def test_other_ca_with_another_name(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    pirate = CA.create("pirate CA", now=t0 - timedelta(days=1))
    cert = pirate.issue_rental(film, node_key.public_key(), not_before=t0, not_after=t0 + WINDOW)
    with pytest.raises(RentalOtherCA, match="pirate CA"):
        open_rental(make_rental_bundle(cert, bytes(32)), node_key, ca.cert, now=t0)


def test_other_node_key(
    bundle: bytes, other_node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    with pytest.raises(RentalNotThisNode, match="another node"):
        open_rental(bundle, other_node_key, ca.cert, now=t0)


def test_expired_and_not_yet_valid(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    with pytest.raises(RentalExpired):
        open_rental(bundle, node_key, ca.cert, now=t0 + timedelta(days=30))
    with pytest.raises(RentalNotYetValid):
        open_rental(bundle, node_key, ca.cert, now=t0 - timedelta(days=1))


def test_a_seeder_certificate_is_not_a_rental(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime
) -> None:
    seeder = ca.issue_seeder(now=t0).cert
    with pytest.raises(CertsError, match="not a rental certificate"):
        make_rental_bundle(seeder, bytes(32))


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", b"hello world", b"\xc1", msgpack.packb([1, 2, 3]), b"\x81\xa1a" * 1000],
)
def test_garbage_bytes(
    garbage: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    with pytest.raises(BundleError) as raised:
        open_rental(garbage, node_key, ca.cert, now=t0)
    assert type(raised.value) is BundleError
    with pytest.raises(BundleError) as raised:
        read_rental_certificate(garbage)
    assert type(raised.value) is BundleError


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_unknown_version(
    bundle: bytes, version: object, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    fields = _fields(bundle)
    if version is None:
        del fields["version"]
    else:
        fields["version"] = version
    changed = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(BundleError, match="version") as raised:
        open_rental(changed, node_key, ca.cert, now=t0)
    assert type(raised.value) is BundleError
    with pytest.raises(BundleError, match="version"):
        read_rental_certificate(changed)


@pytest.mark.parametrize("field", ["certificate", "ephemeral_key", "nonce", "wrapped_key"])
def test_missing_or_mistyped_fields(bundle: bytes, field: str) -> None:
    with pytest.raises(BundleError, match="missing") as raised:
        read_rental_certificate(_repack(bundle, **{field: None}))
    assert type(raised.value) is BundleError
    with pytest.raises(BundleError, match="wrong type"):
        read_rental_certificate(_repack(bundle, **{field: "text"}))
    with pytest.raises(BundleError):
        read_rental_certificate(_repack(bundle, **{field: b"\x30\x03\x02\x01\x01"}))


def test_unknown_fields_and_oversized_bundles(bundle: bytes) -> None:
    with pytest.raises(BundleError, match="unknown fields: extra"):
        read_rental_certificate(_repack(bundle, extra=b"x"))
    with pytest.raises(BundleError, match="too large"):
        read_rental_certificate(bundle + b"\x00" * 70_000)


def test_issue_rental_bundle_uses_the_key_store(
    ca: CA, ca_dir: Path, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    content_key = bytes(range(100, 132))
    save_content_key(ca_dir, "sintel", content_key)
    bundle, cert = issue_rental_bundle(
        ca, ca_dir, "sintel", node_key.public_key(), not_before=t0, not_after=t0 + WINDOW
    )
    rental = open_rental(bundle, node_key, ca.cert, now=t0)
    assert (rental.film_id, rental.content_key, rental.serial) == (
        "sintel",
        content_key,
        cert.serial_number,
    )
    with pytest.raises(CertsError, match="no content key"):
        issue_rental_bundle(
            ca, ca_dir, "unpackaged", node_key.public_key(), not_before=t0, not_after=t0 + WINDOW
        )


def test_make_rental_bundle_refuses_a_short_content_key(rental_cert: x509.Certificate) -> None:
    with pytest.raises(CertsError, match="32 bytes"):
        make_rental_bundle(rental_cert, b"short")


def test_read_rental_file(tmp_path: Path, bundle: bytes) -> None:
    with pytest.raises(CertsError, match="does not exist"):
        read_rental_file(tmp_path / "r.pvr")
    with pytest.raises(CertsError, match="is a directory"):
        read_rental_file(tmp_path)
    (tmp_path / "r.pvr").write_bytes(bundle)
    assert read_rental_file(tmp_path / "r.pvr") == bundle


# --- properties: nothing but BundleError (subclasses) ever escapes -----------------------------

_MSGPACK_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_FIELD_VALUES = st.one_of(
    st.binary(max_size=80),
    _MSGPACK_INTS,
    st.text(max_size=10),
    st.none(),
    st.booleans(),
    st.lists(_MSGPACK_INTS, max_size=3),
)


# Only session/module-scoped fixtures here: Hypothesis reruns the body, not the fixtures.


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_bundle_errors(
    data: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime
) -> None:
    with pytest.raises(BundleError):
        open_rental(data, node_key, ca.cert, now=t0)
    with pytest.raises(BundleError):
        read_rental_certificate(data)


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(
        st.sampled_from(["version", "certificate", "ephemeral_key", "nonce", "wrapped_key"]),
        _FIELD_VALUES,
    ),
    version_one=st.booleans(),
)
def test_arbitrary_records_raise_only_bundle_errors(
    record: dict[str, object],
    version_one: bool,
    node_key: ec.EllipticCurvePrivateKey,
    ca: CA,
    t0: datetime,
) -> None:
    if version_one:
        record["version"] = 1
    data = msgpack.packb(record, use_bin_type=True)
    with pytest.raises(BundleError):
        open_rental(data, node_key, ca.cert, now=t0)


@settings(max_examples=400, deadline=None)
@given(position=st.floats(min_value=0, max_value=1, exclude_max=True), mask=st.integers(1, 255))
def test_every_single_byte_change_of_a_bundle_is_refused(
    position: float,
    mask: int,
    bundle: bytes,
    node_key: ec.EllipticCurvePrivateKey,
    ca: CA,
    t0: datetime,
) -> None:
    """No byte of a bundle can change and still open: everything is signed or authenticated."""
    assert open_rental(bundle, node_key, ca.cert, now=t0)
    data = bytearray(bundle)
    data[int(position * len(bundle))] ^= mask
    with pytest.raises(BundleError):
        open_rental(bytes(data), node_key, ca.cert, now=t0)


def test_an_opened_rental_never_shows_its_content_key(
    bundle: bytes, node_key: ec.EllipticCurvePrivateKey, ca: CA, t0: datetime, content_key: bytes
) -> None:
    """The content key is a secret: not in the repr (logs, tracebacks, debuggers print it)."""
    rental = open_rental(bundle, node_key, ca.cert, now=t0 + timedelta(hours=1))
    shown = repr(rental) + str(rental) + f"{rental!r}"
    for form in (repr(content_key), content_key.hex(), content_key.hex().upper()):
        assert form not in shown
    assert "content_key" not in shown
