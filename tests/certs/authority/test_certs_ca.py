"""The CA and the certificates it issues: every extension, its criticality, and refusals."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from certs import CertsError, KeyFileError
from certs.authority import CA, IssuedCert
from certs.authority.ca import CLOCK_SKEW
from certs.identifiers import MAX_SERIAL

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


def _critical(cert: x509.Certificate) -> dict[x509.ObjectIdentifier, bool]:
    """Each extension's OID -> its critical flag."""
    return {ext.oid: ext.critical for ext in cert.extensions}


def _key_usage(cert: x509.Certificate) -> set[str]:
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment"]
    names += ["key_agreement", "key_cert_sign", "crl_sign"]
    return {n for n in names if getattr(ku, n)}


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


LEAF_EXTENSIONS = {
    ExtensionOID.BASIC_CONSTRAINTS: True,
    ExtensionOID.KEY_USAGE: True,
    ExtensionOID.EXTENDED_KEY_USAGE: False,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: False,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: False,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
}


def _assert_leaf_profile(cert: x509.Certificate, ca: CA) -> None:
    """What every end-entity certificate shares: extensions, chain link, algorithm."""
    assert _critical(cert) == LEAF_EXTENSIONS
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca is False
    assert bc.path_length is None
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.key_identifier
    assert cert.issuer == ca.cert.subject
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    cert.verify_directly_issued_by(ca.cert)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_ca_certificate_profile(ca: CA, t0: datetime) -> None:
    cert = ca.cert
    assert _critical(cert) == {
        ExtensionOID.BASIC_CONSTRAINTS: True,
        ExtensionOID.KEY_USAGE: True,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER: False,
    }
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca is True
    assert bc.path_length == 0  # leaves only: no sub-CA can be minted from it
    assert _key_usage(cert) == {"key_cert_sign", "crl_sign"}
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key())
    assert cert.subject == cert.issuer
    assert _cn(cert) == ca.name == "peernode operator CA"
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert isinstance(ca.key.curve, ec.SECP256R1)
    assert cert.not_valid_before_utc == t0 - timedelta(days=1) - CLOCK_SKEW
    assert cert.not_valid_after_utc == t0 - timedelta(days=1) + timedelta(days=3650)


def test_server_certificate_profile(ca: CA, t0: datetime) -> None:
    issued = ca.issue_server(["tracker.example", "127.0.0.1", "::1", "Alt.Example"], now=t0)
    cert = issued.cert
    _assert_leaf_profile(cert, ca)
    assert _key_usage(cert) == {"digital_signature"}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [SERVER_AUTH]
    assert _sans(cert) == [
        x509.DNSName("tracker.example"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("alt.example"),  # DNS names are case-insensitive; stored lower-case
    ]
    assert _cn(cert) == "tracker.example"
    assert cert.not_valid_before_utc == t0 - CLOCK_SKEW
    assert cert.not_valid_after_utc == t0 + timedelta(days=825)
    assert issued.key is not None
    assert issued.key.public_key() == cert.public_key()


def test_seeder_certificate_profile(ca: CA, t0: datetime) -> None:
    cert = ca.issue_seeder(now=t0, valid_days=30).cert
    _assert_leaf_profile(cert, ca)
    assert _key_usage(cert) == {"digital_signature"}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {SERVER_AUTH, CLIENT_AUTH}
    assert _sans(cert) == [x509.DNSName("*")]
    assert _cn(cert) == "origin seeder"
    assert cert.not_valid_after_utc == t0 + timedelta(days=30)


def test_rental_certificate_profile(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    start, end = t0, t0 + timedelta(hours=48)
    cert = ca.issue_rental(film, node_key.public_key(), not_before=start, not_after=end)
    _assert_leaf_profile(cert, ca)
    assert _key_usage(cert) == {"digital_signature", "key_agreement"}
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {SERVER_AUTH, CLIENT_AUTH}
    assert _sans(cert) == [x509.DNSName(film)]
    assert _cn(cert) == film
    assert cert.public_key() == node_key.public_key()
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (start, end)  # exact window
    assert 0 < cert.serial_number <= MAX_SERIAL


def test_rental_serials_are_random_and_159_bits(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    serials = {
        ca.issue_rental(
            film, node_key.public_key(), not_before=t0, not_after=t0 + timedelta(hours=1)
        ).serial_number
        for _ in range(20)
    }
    assert len(serials) == 20
    assert max(s.bit_length() for s in serials) > 150
    assert all(s.bit_length() <= 159 for s in serials)


def test_rental_window_given_in_another_timezone_is_stored_in_utc(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    cet = t0.astimezone(timezone(timedelta(hours=1)))
    assert cet.hour == 13
    cert = ca.issue_rental(
        film, node_key.public_key(), not_before=cet, not_after=cet + timedelta(hours=2), serial=7
    )
    assert cert.not_valid_before_utc == t0
    assert cert.serial_number == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"film_id": "Not A Film"}, "invalid film id"),
        ({"film_id": "*"}, "invalid film id"),  # a rental must never get the seeder's wildcard
        ({"not_before": "naive"}, "no timezone"),
        ({"not_after": timedelta(0)}, "before it starts"),
        ({"not_after": timedelta(days=4000)}, "after the CA certificate expires"),
        ({"serial": 0}, "out of range"),
        ({"serial": MAX_SERIAL + 1}, "out of range"),
    ],
)
def test_issue_rental_refuses_bad_input(
    ca: CA,
    node_key: ec.EllipticCurvePrivateKey,
    t0: datetime,
    change: dict[str, object],
    message: str,
) -> None:
    args: dict[str, object] = {"film_id": "film", "not_before": t0, "not_after": t0 + timedelta(1)}
    for name, value in change.items():
        if value == "naive":
            value = t0.replace(tzinfo=None)
        elif isinstance(value, timedelta):
            value = t0 + value
        args[name] = value
    with pytest.raises(CertsError, match=message):
        ca.issue_rental(node_public_key=node_key.public_key(), **args)  # type: ignore[arg-type]


def test_issue_rental_refuses_a_non_p256_key(ca: CA, t0: datetime, film: str) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(CertsError, match="P-256"):
        ca.issue_rental(film, p384, not_before=t0, not_after=t0 + timedelta(hours=1))


@pytest.mark.parametrize(
    "hosts",
    [[], [""], ["bad host"], ["http://x"], ["tracker.é.example"], ["tracker"], ["localhost"],
     ["127.0.0.1", "tracker"], ["."], ["tracker."]],
)
def test_issue_server_refuses_bad_hosts(ca: CA, hosts: list[str], t0: datetime) -> None:
    with pytest.raises(CertsError):
        ca.issue_server(hosts, now=t0)


def test_issue_server_accepts_a_lone_string_as_one_host(ca: CA, t0: datetime) -> None:
    cert = ca.issue_server("tracker.example", now=t0).cert
    assert _sans(cert) == [x509.DNSName("tracker.example")]


def test_naive_now_is_refused(ca: CA) -> None:
    with pytest.raises(CertsError, match="no timezone"):
        ca.issue_seeder(now=datetime(2026, 3, 1))


def test_rental_issued_cert_has_no_key_pem(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, t0: datetime, film: str
) -> None:
    cert = ca.issue_rental(film, node_key.public_key(), not_before=t0, not_after=t0 + timedelta(1))
    with pytest.raises(CertsError, match="without a private key"):
        _ = IssuedCert(cert=cert, key=None).key_pem


def test_issued_key_pem_is_unencrypted_pkcs8(ca: CA, t0: datetime) -> None:
    issued = ca.issue_seeder(now=t0)
    assert issued.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert loaded.public_key() == issued.cert.public_key()
    assert issued.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_issued_cert_save_writes_private_key_0600_and_refuses_overwrite(
    ca: CA, tmp_path: Path, t0: datetime
) -> None:
    issued = ca.issue_seeder(now=t0)
    cert_path, key_path = issued.save(tmp_path / "out", "seeder")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == issued.cert
    with pytest.raises(CertsError, match="already exists"):
        ca.issue_seeder(now=t0).save(tmp_path / "out", "seeder")
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == issued.cert


def test_save_and_load_round_trip(ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path / "ca", now=t0)
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca" / "ca.pem").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    assert (tmp_path / "ca" / "crl.pem").exists()
    loaded = CA.load(tmp_path / "ca")
    assert loaded.cert == ca.cert
    assert loaded.key.private_numbers() == ca.key.private_numbers()
    assert loaded.cert_pem == ca.cert_pem


def test_save_refuses_to_overwrite_a_ca(ca: CA, other_ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path, now=t0)
    with pytest.raises(CertsError, match="already holds a CA"):
        other_ca.save(tmp_path, now=t0)
    assert CA.load(tmp_path).cert == ca.cert


def test_load_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CertsError, match="does not exist"):
        CA.load(tmp_path / "nope")


def test_load_directory_without_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CertsError, match=r"CA certificate .* does not exist"):
        CA.load(tmp_path)


def test_load_garbage_certificate(ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path, now=t0)
    (tmp_path / "ca.pem").write_bytes(b"not a certificate\n")
    with pytest.raises(CertsError, match="not a PEM certificate"):
        CA.load(tmp_path)


def test_load_refuses_a_group_readable_key(ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path, now=t0)
    os.chmod(tmp_path / "ca.key", 0o640)
    with pytest.raises(KeyFileError, match="accessible by other users"):
        CA.load(tmp_path)


def test_load_missing_key(ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path, now=t0)
    (tmp_path / "ca.key").unlink()
    with pytest.raises(KeyFileError, match="does not exist"):
        CA.load(tmp_path)


def test_load_garbage_key(ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path, now=t0)
    (tmp_path / "ca.key").write_bytes(b"garbage")
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        CA.load(tmp_path)


def test_load_key_of_another_ca(ca: CA, other_ca: CA, tmp_path: Path, t0: datetime) -> None:
    ca.save(tmp_path, now=t0)
    (tmp_path / "ca.key").write_bytes(
        other_ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="does not belong"):
        CA.load(tmp_path)


def test_create_refuses_nonsense(t0: datetime) -> None:
    with pytest.raises(CertsError):
        CA.create("  ", now=t0)
    with pytest.raises(CertsError):
        CA.create(now=t0, valid_days=0)


def test_create_with_name_and_wall_clock() -> None:
    before = datetime.now(UTC)
    ca = CA.create("Acme Films CA", valid_days=1)
    assert ca.name == "Acme Films CA"
    assert before - CLOCK_SKEW - timedelta(seconds=1) <= ca.cert.not_valid_before_utc <= before
