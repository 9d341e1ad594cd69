"""The hosting credential: SAN = film id, the hosting policy, no content key, its own window."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from certs import CertsError, generate_node_key, load_node_key
from certs.authority import CA, make_rental_bundle
from certs.errors import RentalExpired, RentalNotThisNode, RentalNotYetValid, RentalOtherCA
from certs.hosting import (
    HOSTING_POLICY_OID,
    NotAHostingCredential,
    is_hosting_certificate,
    open_hosting_credential,
    read_hosting_file,
)

from .authority.test_certs_cli import fails, ok

DAY = timedelta(days=1)


def _issue(
    ca: CA, t0: datetime, film_id: str = "film-a"
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = generate_node_key()
    cert = ca.issue_hosting(film_id, key.public_key(), not_before=t0, not_after=t0 + 10 * DAY)
    return cert.public_bytes(Encoding.PEM), key


def test_a_hosting_certificate_is_a_rental_twin_with_the_policy_and_no_key_agreement(
    ca: CA, t0: datetime
) -> None:
    key = generate_node_key()
    cert = ca.issue_hosting("film-a", key.public_key(), not_before=t0, not_after=t0 + DAY)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["film-a"]
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    assert not policies.critical  # libtorrent's OpenSSL must accept it unchanged
    assert [p.policy_identifier for p in policies.value] == [HOSTING_POLICY_OID]
    assert not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_agreement
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (t0, t0 + DAY)
    assert is_hosting_certificate(cert)
    rental = ca.issue_rental("film-a", key.public_key(), not_before=t0, not_after=t0 + DAY)
    assert not is_hosting_certificate(rental)


def test_opening_checks_issuer_node_window_and_marker(ca: CA, other_ca: CA, t0: datetime) -> None:
    pem, key = _issue(ca, t0)
    opened = open_hosting_credential(pem, key, ca.cert, now=t0 + DAY)
    assert opened.film_id == "film-a"
    assert not hasattr(opened, "content_key")
    with pytest.raises(RentalNotThisNode):
        open_hosting_credential(pem, generate_node_key(), ca.cert, now=t0 + DAY)
    with pytest.raises(RentalOtherCA):
        open_hosting_credential(pem, key, other_ca.cert, now=t0 + DAY)
    with pytest.raises(RentalNotYetValid):
        open_hosting_credential(pem, key, ca.cert, now=t0 - DAY)
    with pytest.raises(RentalExpired):
        open_hosting_credential(pem, key, ca.cert, now=t0 + 11 * DAY)
    rental_key = generate_node_key()
    rental = ca.issue_rental("film-a", rental_key.public_key(), not_before=t0,
                             not_after=t0 + DAY)
    with pytest.raises(NotAHostingCredential, match="no hosting policy"):
        open_hosting_credential(rental.public_bytes(Encoding.PEM), rental_key, ca.cert, now=t0)
    with pytest.raises(NotAHostingCredential, match="no PEM"):
        open_hosting_credential(b"garbage", rental_key, ca.cert, now=t0)


def test_no_content_key_is_ever_wrapped_to_a_hosting_certificate(ca: CA, t0: datetime) -> None:
    key = generate_node_key()
    cert = ca.issue_hosting("film-a", key.public_key(), not_before=t0, not_after=t0 + DAY)
    with pytest.raises(CertsError, match="never gets a content key"):
        make_rental_bundle(cert, os.urandom(32))


def test_ca_host_command_writes_a_keyless_credential(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    ok("ca", "init", "--dir", ca_dir)
    ok("keygen", "--out", tmp_path / "node")
    out = tmp_path / "film-a.pvh"
    serial = ok("ca", "host", "--ca-dir", ca_dir, "--film-id", "film-a",
                "--node-pub", tmp_path / "node" / "node.pub", "--hours", "240",
                "--out", out).strip()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = read_hosting_file(out)
    key = load_node_key(tmp_path / "node" / "node.key")
    opened = open_hosting_credential(data, key, CA.load(ca_dir).cert)
    assert str(opened.serial) == serial
    assert opened.not_after - opened.not_before == timedelta(hours=240)
    fails("ca", "host", "--ca-dir", ca_dir, "--film-id", "film-a",
          "--node-pub", tmp_path / "node" / "node.pub", "--hours", "1", "--out", out,
          match="already exists")
    fails("ca", "host", "--ca-dir", ca_dir, "--film-id", "Bad Film",
          "--node-pub", tmp_path / "node" / "node.pub", "--hours", "1",
          "--out", tmp_path / "x.pvh", match="film")
