"""The CA's CRL: empty on init, revoke round trip, idempotence, signature, next update."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from certs import CertsError, crl_is_stale, load_crl, read_crl_file, revoked_serials, verify_crl
from certs.authority import CA, crl_pem, refresh_crl, revoke


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_init_writes_an_empty_crl_signed_by_the_ca(ca_dir: Path, ca: CA, t0: datetime) -> None:
    crl = read_crl_file(ca_dir / "crl.pem")
    verify_crl(crl, ca.cert)
    assert revoked_serials(crl) == frozenset()
    assert crl.issuer == ca.cert.subject
    assert crl.last_update_utc == t0 - timedelta(days=1)
    assert crl.next_update_utc == t0 - timedelta(days=1) + timedelta(hours=24)
    assert {e.oid: e.critical for e in crl.extensions} == {
        ExtensionOID.CRL_NUMBER: False,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER: False,
    }


def test_revoke_round_trip(ca_dir: Path, ca: CA, t0: datetime) -> None:
    crl = revoke(ca_dir, 1234, now=t0, next_update_hours=6)
    on_disk = read_crl_file(ca_dir / "crl.pem")
    assert on_disk == crl
    verify_crl(on_disk, ca.cert)
    assert revoked_serials(on_disk) == {1234}
    entry = on_disk.get_revoked_certificate_by_serial_number(1234)
    assert entry is not None
    assert entry.revocation_date_utc == t0
    assert on_disk.last_update_utc == t0
    assert on_disk.next_update_utc == t0 + timedelta(hours=6)


def test_revoke_is_idempotent_and_keeps_the_first_revocation_time(
    ca_dir: Path, t0: datetime
) -> None:
    revoke(ca_dir, 1234, now=t0)
    revoke(ca_dir, 99, now=t0 + timedelta(minutes=1))
    crl = revoke(ca_dir, 1234, now=t0 + timedelta(hours=1))
    assert revoked_serials(crl) == {1234, 99}
    assert len(list(crl)) == 2
    entry = crl.get_revoked_certificate_by_serial_number(1234)
    assert entry is not None
    assert entry.revocation_date_utc == t0
    # ... but the CRL itself is re-signed, fresh, with a growing number.
    assert crl.last_update_utc == t0 + timedelta(hours=1)
    assert _crl_number(crl) == 4


def test_refresh_keeps_entries_and_moves_next_update(ca_dir: Path, ca: CA, t0: datetime) -> None:
    revoke(ca_dir, 5, now=t0)
    later = t0 + timedelta(days=3)
    crl = refresh_crl(ca_dir, now=later, next_update_hours=48)
    verify_crl(crl, ca.cert)
    assert revoked_serials(crl) == {5}
    assert crl.next_update_utc == later + timedelta(hours=48)
    assert not crl_is_stale(crl, now=later + timedelta(hours=47))
    assert crl_is_stale(crl, now=later + timedelta(hours=48))


def test_verify_rejects_a_crl_of_another_ca_with_the_same_name(
    ca: CA, other_ca: CA, t0: datetime
) -> None:
    assert other_ca.cert.subject == ca.cert.subject
    forged = other_ca.sign_crl({}, now=t0)
    with pytest.raises(CertsError, match="signature does not verify"):
        verify_crl(forged, ca.cert)


def test_verify_rejects_a_crl_of_another_issuer(ca: CA, t0: datetime) -> None:
    foreign = CA.create("someone else", now=t0)
    with pytest.raises(CertsError, match="not the CA"):
        verify_crl(foreign.sign_crl({}, now=t0), ca.cert)


def test_revoke_refuses_a_crl_file_replaced_by_another_ca(
    ca_dir: Path, other_ca: CA, t0: datetime
) -> None:
    (ca_dir / "crl.pem").write_bytes(crl_pem(other_ca.sign_crl({7: t0}, now=t0)))
    with pytest.raises(CertsError, match="signature"):
        revoke(ca_dir, 1, now=t0)


def test_revoke_refuses_serials_out_of_range(ca_dir: Path, t0: datetime) -> None:
    for serial in (0, -1, 2**159):
        with pytest.raises(CertsError, match="out of range"):
            revoke(ca_dir, serial, now=t0)
    assert revoked_serials(read_crl_file(ca_dir / "crl.pem")) == frozenset()


def test_revoke_without_a_ca(tmp_path: Path) -> None:
    with pytest.raises(CertsError, match="does not exist"):
        revoke(tmp_path / "nowhere", 1)


def test_load_crl_rejects_garbage() -> None:
    with pytest.raises(CertsError, match="not a valid PEM CRL"):
        load_crl(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(CertsError):
        load_crl(b"\x00\x01")


def test_read_crl_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CertsError, match="does not exist"):
        read_crl_file(tmp_path / "crl.pem")
    (tmp_path / "crl.pem").write_text("garbage")
    with pytest.raises(CertsError, match="not a valid PEM CRL"):
        read_crl_file(tmp_path / "crl.pem")


def test_sign_crl_refuses_nonsense(ca: CA, t0: datetime) -> None:
    with pytest.raises(CertsError):
        ca.sign_crl({}, now=t0, next_update_hours=0)
    with pytest.raises(CertsError, match="no timezone"):
        ca.sign_crl({1: t0.replace(tzinfo=None)}, now=t0)
