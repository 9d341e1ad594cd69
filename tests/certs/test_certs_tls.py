"""Real TLS handshakes on loopback: the issued certificates do what they are for, and no more.

A stdlib `ssl` server in a thread requires a client certificate from the operator CA
(as the tracker does); the client verifies the server certificate against the CA and
its host name. OpenSSL checks validity against the real clock, so these tests use
windows relative to the wall clock, issued through the injectable ``now``/window.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs import CertsError, private_key_pem
from certs.authority import CA, IssuedCert, crl_pem

HANDSHAKE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Outcome:
    """What each side saw: None on success, else the exception."""

    server_error: BaseException | None
    client_error: BaseException | None
    client_cert_cn: str | None

    @property
    def ok(self) -> bool:
        return self.server_error is None and self.client_error is None


@pytest.fixture(scope="module")
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def live_ca(now: datetime) -> CA:
    """A CA created ten days ago, so that it can issue windows that are already over."""
    return CA.create(now=now - timedelta(days=10))


@pytest.fixture(scope="module")
def tracker_cert(live_ca: CA, now: datetime) -> IssuedCert:
    return live_ca.issue_server(["127.0.0.1", "tracker.localhost"], now=now)


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(private_key_pem(key))
    return str(cert_path), str(key_path)


def _server_context(
    directory: Path,
    ca: CA,
    server: IssuedCert,
    *,
    crl: x509.CertificateRevocationList | None = None,
) -> ssl.SSLContext:
    """Like the tracker: present the server certificate, require a client cert from the CA."""
    assert server.key is not None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*_write(directory, "server", server.cert, server.key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca.cert_pem.decode())
    if crl is not None:
        # cadata takes certificates only; a CRL has to come from a file (as the tracker's does).
        crl_path = directory / "crl.pem"
        crl_path.write_bytes(crl_pem(crl))
        ctx.load_verify_locations(cafile=str(crl_path))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def _client_context(
    directory: Path, ca: CA, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> ssl.SSLContext:
    """Like a node: present the rental certificate, trust only the CA, check the host name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(*_write(directory, "client", cert, key))
    ctx.load_verify_locations(cadata=ca.cert_pem.decode())
    return ctx


def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str = "127.0.0.1"
) -> Outcome:
    """One connection on loopback; the server answers b"ok" once the handshake is done."""
    result: dict[str, object] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(HANDSHAKE_TIMEOUT_S)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(HANDSHAKE_TIMEOUT_S)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    peer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
                    result["cn"] = peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
                    tls.sendall(b"ok")
                result["server"] = None
            except (ssl.SSLError, OSError) as e:
                result["server"] = e

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client_error: BaseException | None = None
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=HANDSHAKE_TIMEOUT_S) as raw,
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                # TLS 1.3: a refused client certificate shows up on the first read.
                if tls.recv(2) != b"ok":
                    client_error = ConnectionError("server closed without answering")
        except (ssl.SSLError, OSError) as e:
            client_error = e
        thread.join(HANDSHAKE_TIMEOUT_S)
        assert not thread.is_alive()
    server_error = result["server"]
    assert server_error is None or isinstance(server_error, BaseException)
    cn = result.get("cn")
    return Outcome(server_error, client_error, cn if isinstance(cn, str) else None)


def _rental(
    ca: CA, node_key: ec.EllipticCurvePrivateKey, start: datetime, end: datetime
) -> x509.Certificate:
    return ca.issue_rental("a-film", node_key.public_key(), not_before=start, not_after=end)


def test_valid_rental_is_admitted(
    tmp_path: Path,
    live_ca: CA,
    tracker_cert: IssuedCert,
    node_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> None:
    rental = _rental(live_ca, node_key, now - timedelta(minutes=1), now + timedelta(hours=2))
    outcome = _handshake(
        _server_context(tmp_path, live_ca, tracker_cert),
        _client_context(tmp_path, live_ca, rental, node_key),
    )
    assert outcome.ok, outcome
    assert outcome.client_cert_cn == "a-film"


def test_seeder_certificate_works_as_client_and_server(
    tmp_path: Path, live_ca: CA, now: datetime
) -> None:
    seeder = live_ca.issue_seeder(now=now)
    assert seeder.key is not None
    # SAN "*" is libtorrent's "any torrent" marker, not a host wildcard: check_hostname off.
    client_ctx = _client_context(tmp_path, live_ca, seeder.cert, seeder.key)
    client_ctx.check_hostname = False
    outcome = _handshake(_server_context(tmp_path, live_ca, seeder), client_ctx)
    assert outcome.ok, outcome


def _assert_refused_by_server(outcome: Outcome, reason: str) -> None:
    assert isinstance(outcome.server_error, ssl.SSLError), outcome
    assert reason in str(outcome.server_error)
    assert outcome.client_error is not None  # and the client got no answer


@pytest.mark.parametrize(
    ("issuer", "start", "end", "reason"),
    [
        # Same name, other key: names do not identify a CA.
        ("other CA", timedelta(minutes=-1), timedelta(hours=2), "unable to get local issuer"),
        ("our CA", timedelta(days=-3), timedelta(days=-1), "certificate has expired"),
        ("our CA", timedelta(days=1), timedelta(days=2), "certificate is not yet valid"),
    ],
)
def test_invalid_rental_is_refused(
    tmp_path: Path,
    live_ca: CA,
    tracker_cert: IssuedCert,
    node_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    issuer: str,
    start: timedelta,
    end: timedelta,
    reason: str,
) -> None:
    ca = live_ca if issuer == "our CA" else CA.create(now=now - timedelta(days=10))
    rental = _rental(ca, node_key, now + start, now + end)
    outcome = _handshake(
        _server_context(tmp_path, live_ca, tracker_cert),
        _client_context(tmp_path, live_ca, rental, node_key),
    )
    _assert_refused_by_server(outcome, reason)


def test_revoked_rental_is_refused_with_the_crl(
    tmp_path: Path,
    live_ca: CA,
    tracker_cert: IssuedCert,
    node_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> None:
    """OpenSSL reads our CRL: a revoked serial fails, another one still passes."""
    rental = _rental(live_ca, node_key, now - timedelta(minutes=1), now + timedelta(hours=2))
    kept = _rental(live_ca, node_key, now - timedelta(minutes=1), now + timedelta(hours=2))
    crl = live_ca.sign_crl({rental.serial_number: now}, now=now - timedelta(seconds=5))
    server_ctx = _server_context(tmp_path, live_ca, tracker_cert, crl=crl)
    refused = _handshake(server_ctx, _client_context(tmp_path, live_ca, rental, node_key))
    _assert_refused_by_server(refused, "certificate revoked")
    admitted = _handshake(server_ctx, _client_context(tmp_path, live_ca, kept, node_key))
    assert admitted.ok, admitted


def test_client_refuses_a_tracker_certificate_from_another_ca(
    tmp_path: Path, live_ca: CA, node_key: ec.EllipticCurvePrivateKey, now: datetime
) -> None:
    impostor = CA.create(now=now - timedelta(days=1))
    fake_tracker = impostor.issue_server(["127.0.0.1"], now=now)
    rental = _rental(live_ca, node_key, now - timedelta(minutes=1), now + timedelta(hours=2))
    outcome = _handshake(
        _server_context(tmp_path, impostor, fake_tracker),
        _client_context(tmp_path, live_ca, rental, node_key),
    )
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError), outcome


def test_client_refuses_a_tracker_certificate_for_another_host(
    tmp_path: Path, live_ca: CA, node_key: ec.EllipticCurvePrivateKey, now: datetime
) -> None:
    elsewhere = live_ca.issue_server(["tracker.example", "10.0.0.7"], now=now)
    rental = _rental(live_ca, node_key, now - timedelta(minutes=1), now + timedelta(hours=2))
    outcome = _handshake(
        _server_context(tmp_path, live_ca, elsewhere),
        _client_context(tmp_path, live_ca, rental, node_key),
    )
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError), outcome
    assert "IP address mismatch" in str(outcome.client_error)


def test_a_renter_cannot_pose_as_a_tracker(
    tmp_path: Path, live_ca: CA, node_key: ec.EllipticCurvePrivateKey, now: datetime
) -> None:
    """A rental certificate has serverAuth and SAN = film id; tracker names have a dot and
    film ids never do, so a renter of film "tracker" fails a client's host name check."""
    window = (now - timedelta(minutes=1), now + timedelta(hours=2))
    posing = live_ca.issue_rental("tracker", node_key.public_key(),
                                  not_before=window[0], not_after=window[1])
    as_server = IssuedCert(posing, node_key)
    with pytest.raises(CertsError, match="needs a dot"):
        live_ca.issue_server(["tracker"], now=now)
    client_rental = _rental(live_ca, node_key, *window)
    outcome = _handshake(
        _server_context(tmp_path, live_ca, as_server),
        _client_context(tmp_path, live_ca, client_rental, node_key),
        server_hostname="tracker.example",
    )
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError), outcome
    assert "mismatch" in str(outcome.client_error)
    # the same rental *would* pass for a single-label name, which is why neither a
    # tracker certificate nor a packaged torrent may use one
    # (tests/peernode/operations/test_package_torrent.py refuses such tracker URLs)
    control = _handshake(
        _server_context(tmp_path, live_ca, as_server),
        _client_context(tmp_path, live_ca, client_rental, node_key),
        server_hostname="tracker",
    )
    assert control.ok, control


def test_rental_certificate_cannot_act_as_a_ca(
    tmp_path: Path,
    live_ca: CA,
    tracker_cert: IssuedCert,
    node_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> None:
    """A node signing its own 'rental' with its rental key is refused (CA:FALSE, pathlen 0)."""
    from cryptography.hazmat.primitives import hashes

    genuine = _rental(live_ca, node_key, now - timedelta(minutes=1), now + timedelta(hours=2))
    forged_key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other-film")]))
        .issuer_name(genuine.subject)
        .public_key(forged_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("other-film")]), critical=False)
        .sign(node_key, hashes.SHA256())
    )
    chain_dir = tmp_path / "chain"
    chain_dir.mkdir()
    cert_path, key_path = _write(chain_dir, "forged", forged, forged_key)
    with open(cert_path, "ab") as chain:
        chain.write(genuine.public_bytes(serialization.Encoding.PEM))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(cert_path, key_path)
    client_ctx.load_verify_locations(cadata=live_ca.cert_pem.decode())
    outcome = _handshake(_server_context(tmp_path, live_ca, tracker_cert), client_ctx)
    _assert_refused_by_server(outcome, "invalid CA certificate")
