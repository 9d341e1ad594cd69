"""The operator's certificate authority: one P-256 key that issues every credential.

Shaped like trustme's `CA`: building certificates is pure (time is a parameter),
and only `CA.load` / `CA.save` touch the disk. Three kinds of leaf are issued:

- tracker **server** certificates (SAN = the tracker's host names / IPs),
- origin **seeder** certificates (SAN DNSName ``*``, which libtorrent accepts for any torrent),
- **rental** certificates (SAN DNSName = film id, validity = rental window, the node's own key),
- **hosting** certificates: a rental's twin with the hosting policy and no content key
  (`certs.hosting`), for nodes that carry a film's ciphertext before its release.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.clock import as_utc, resolve_now
from certs.errors import CertsError, KeyFileError
from certs.file_reading import read_file, read_private
from certs.hosting import HOSTING_POLICY_OID
from certs.identifiers import validate_film_id, validate_serial
from support.atomic_write import write_atomic, write_private

__all__ = [
    "CA",
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CLOCK_SKEW",
    "CRL_FILE",
    "SEEDER_SAN",
    "IssuedCert",
]

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
CRL_FILE = "crl.pem"

# Origin seeders serve every film: libtorrent accepts a SAN of "*" for any torrent name.
SEEDER_SAN = "*"

# Server, seeder and CA certificates start this long before "now" so that a machine
# whose clock lags the operator's still accepts a certificate issued a moment ago.
# Rental certificates are exact: their validity *is* the paid window.
CLOCK_SKEW = timedelta(minutes=5)

_CURVE = ec.SECP256R1
_HASH = hashes.SHA256


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and, unless it is a rental, the private key generated for it."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None  # None for rentals: the node keeps its own key

    @property
    def cert_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM; `CertsError` if there is none (rentals)."""
        if self.key is None:
            raise CertsError("this certificate was issued without a private key (a rental)")
        return _key_pem(self.key)

    def save(self, out_dir: str | os.PathLike[str], stem: str) -> tuple[Path, Path]:
        """Write ``out_dir/stem.pem`` (0644) and ``out_dir/stem.key`` (0600), atomically.

        Refuses (`CertsError`) to overwrite either file: an issued key is replaced on purpose only.
        """
        out = Path(out_dir)
        cert_path, key_path = out / f"{stem}.pem", out / f"{stem}.key"
        for path in (cert_path, key_path):
            if path.exists():
                raise CertsError(f"{path} already exists; remove it first to replace it")
        key_pem = self.key_pem  # first: a rental (no key) fails before anything is written
        write_private(key_path, key_pem)
        write_atomic(cert_path, self.cert_pem)
        return cert_path, key_path


def _key_usage(
    *,
    digital_signature: bool = False,
    key_agreement: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A KeyUsage with only the named bits set (the others our certificates never need)."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ski_of(cert: x509.Certificate) -> x509.SubjectKeyIdentifier:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value


def _general_name(host: str) -> x509.GeneralName:
    """An IP address SAN for an IP literal, a DNS name SAN otherwise.

    A DNS name must have a dot. Rental certificates carry serverAuth (a peer accepting a
    connection is the TLS server) and SAN = film id, and film ids never contain a dot
    (`certs.identifiers`): so no renter of a film can ever pose as a tracker, whose
    names always do.
    """
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or not host.isascii() or any(c.isspace() or c in "/:@" for c in host):
        raise CertsError(f"invalid host {host!r}: give a DNS name or an IP address")
    if "." not in host.strip("."):
        raise CertsError(
            f"invalid host {host!r}: a tracker name needs a dot (e.g. {host}.example.net) or use"
            " an IP address; single-label names could collide with film ids"
        )
    return x509.DNSName(host.lower())


@dataclass(frozen=True)
class CA:
    """The operator CA: a self-signed P-256 certificate (pathlen 0) and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(
        cls,
        name: str = "peernode operator CA",
        *,
        now: datetime | None = None,
        valid_days: int = 3650,
    ) -> CA:
        """Generate a CA key and self-signed certificate, valid ``valid_days`` days from now."""
        if not name.strip():
            raise CertsError("the CA name must not be empty")
        if valid_days <= 0:
            raise CertsError(f"valid_days must be positive, got {valid_days}")
        start = resolve_now(now)
        key = ec.generate_private_key(_CURVE())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - CLOCK_SKEW)
            .not_valid_after(start + timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, _HASH())
        )
        return cls(cert=cert, key=key)

    @classmethod
    def load(cls, ca_dir: str | os.PathLike[str]) -> CA:
        """Read ``ca_dir/ca.pem`` and ``ca_dir/ca.key``.

        Raises `CertsError` (one line) if the directory holds no CA or garbage, and
        `KeyFileError` if the key is missing, readable by others, malformed or not the
        certificate's key.
        """
        directory = Path(ca_dir)
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        if not directory.is_dir():
            raise CertsError(f"CA directory {directory} does not exist (run: peernode ca init)")
        cert_bytes = read_file(cert_path, what="CA certificate", hint=" (run: peernode ca init)")
        try:
            cert = x509.load_pem_x509_certificate(cert_bytes)
        except ValueError:
            raise CertsError(f"CA certificate {cert_path} is not a PEM certificate") from None
        key_bytes = read_private(key_path, what="CA key")
        try:
            key = serialization.load_pem_private_key(key_bytes, password=None)
        except (ValueError, TypeError):
            raise KeyFileError(f"CA key {key_path} is not an unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, _CURVE):
            raise KeyFileError(f"CA key {key_path} is not a P-256 key")
        if key.public_key() != cert.public_key():
            raise KeyFileError(f"CA key {key_path} does not belong to {cert_path}")
        return cls(cert=cert, key=key)

    def save(self, ca_dir: str | os.PathLike[str], *, now: datetime | None = None) -> None:
        """Write ``ca.pem`` (0644), ``ca.key`` (0600) and an empty signed ``crl.pem``.

        The directory is created 0700 if missing. Refuses (`CertsError`) to touch a
        directory that already holds a CA: replacing a CA orphans every credential.
        """
        directory = Path(ca_dir)
        paths = [directory / n for n in (CA_CERT_FILE, CA_KEY_FILE, CRL_FILE)]
        for path in paths:
            if path.exists():
                raise CertsError(f"{path} already exists: {directory} already holds a CA")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(directory / CA_KEY_FILE, _key_pem(self.key))
        write_atomic(directory / CA_CERT_FILE, self.cert_pem)
        empty_crl = self.sign_crl({}, now=now)
        write_atomic(directory / CRL_FILE, empty_crl.public_bytes(serialization.Encoding.PEM))

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM (what trackers, seeders and torrents trust)."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def name(self) -> str:
        """The CA's common name."""
        names = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.cert.subject.rfc4514_string()

    def _leaf(
        self,
        *,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey,
        sans: Sequence[x509.GeneralName],
        usages: Sequence[x509.ObjectIdentifier],
        not_before: datetime,
        not_after: datetime,
        serial: int,
        key_agreement: bool = False,
        extra: Sequence[x509.ExtensionType] = (),
    ) -> x509.Certificate:
        """Sign an end-entity certificate with the common extension profile (plus
        ``extra`` non-critical extensions)."""
        if not_after <= not_before:
            raise CertsError(
                f"validity ends ({not_after.isoformat()})"
                f" before it starts ({not_before.isoformat()})"
            )
        if not_after > self.cert.not_valid_after_utc:
            raise CertsError(
                f"validity ends after the CA certificate expires"
                f" ({self.cert.not_valid_after_utc.isoformat()})"
            )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(validate_serial(serial))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(digital_signature=True, key_agreement=key_agreement), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
            .add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski_of(self.cert)),
                critical=False,
            )
        )
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(self.key, _HASH())

    def issue_server(
        self, hosts: Sequence[str], *, now: datetime | None = None, valid_days: int = 825
    ) -> IssuedCert:
        """Issue a tracker TLS server certificate with a fresh P-256 key.

        Each host becomes an IPAddress SAN if it is an IP literal, else a DNSName SAN.
        Raises `CertsError` for no hosts, an invalid host or a non-positive lifetime.
        """
        if isinstance(hosts, str):
            hosts = [hosts]  # a lone string would otherwise be issued one SAN per character
        if not hosts:
            raise CertsError("a server certificate needs at least one host")
        if valid_days <= 0:
            raise CertsError(f"valid_days must be positive, got {valid_days}")
        sans = [_general_name(h) for h in hosts]
        start = resolve_now(now)
        key = ec.generate_private_key(_CURVE())
        cert = self._leaf(
            common_name=hosts[0],
            public_key=key.public_key(),
            sans=sans,
            usages=[ExtendedKeyUsageOID.SERVER_AUTH],
            not_before=start - CLOCK_SKEW,
            not_after=start + timedelta(days=valid_days),
            serial=x509.random_serial_number(),
        )
        return IssuedCert(cert=cert, key=key)

    def issue_seeder(self, *, now: datetime | None = None, valid_days: int = 365) -> IssuedCert:
        """Issue an origin seeder certificate (SAN DNSName ``*``: serves every film).

        It is both TLS server and client, because peer connections go both ways.
        """
        if valid_days <= 0:
            raise CertsError(f"valid_days must be positive, got {valid_days}")
        start = resolve_now(now)
        key = ec.generate_private_key(_CURVE())
        cert = self._leaf(
            common_name="origin seeder",
            public_key=key.public_key(),
            sans=[x509.DNSName(SEEDER_SAN)],
            usages=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            not_before=start - CLOCK_SKEW,
            not_after=start + timedelta(days=valid_days),
            serial=x509.random_serial_number(),
        )
        return IssuedCert(cert=cert, key=key)

    def issue_rental(
        self,
        film_id: str,
        node_public_key: ec.EllipticCurvePublicKey,
        *,
        not_before: datetime,
        not_after: datetime,
        serial: int | None = None,
    ) -> x509.Certificate:
        """Issue the rental certificate for ``film_id`` to the node's own P-256 public key.

        SAN DNSName = film id, validity = exactly [not_before, not_after) (aware datetimes),
        serial = the rental id (random 159-bit unless given). keyAgreement is set because
        the content key is wrapped to this key by ECDH. Raises `CertsError` for an invalid
        film id, a non-P-256 key, naive or empty window, or a serial out of range.
        """
        validate_film_id(film_id)
        if not isinstance(node_public_key, ec.EllipticCurvePublicKey) or not isinstance(
            node_public_key.curve, _CURVE
        ):
            raise CertsError("the node public key must be a P-256 (secp256r1) key")
        return self._leaf(
            common_name=film_id,
            public_key=node_public_key,
            sans=[x509.DNSName(film_id)],
            # Peers connect both ways: each side is TLS client and server in turn.
            usages=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
            not_before=as_utc(not_before, what="not_before"),
            not_after=as_utc(not_after, what="not_after"),
            serial=x509.random_serial_number() if serial is None else serial,
            key_agreement=True,
        )

    def issue_hosting(
        self,
        film_id: str,
        node_public_key: ec.EllipticCurvePublicKey,
        *,
        not_before: datetime,
        not_after: datetime,
        serial: int | None = None,
    ) -> x509.Certificate:
        """Issue a hosting certificate for ``film_id`` to an opted-in node's P-256 key.

        Like a rental certificate (SAN DNSName = film id, so peers and the tracker admit it
        to that film's swarm only), plus the hosting policy (`certs.hosting`), minus the
        keyAgreement bit: no content key is ever wrapped to it. Validity = exactly the
        hosting window. Raises `CertsError` as `issue_rental` does.
        """
        validate_film_id(film_id)
        if not isinstance(node_public_key, ec.EllipticCurvePublicKey) or not isinstance(
            node_public_key.curve, _CURVE
        ):
            raise CertsError("the node public key must be a P-256 (secp256r1) key")
        return self._leaf(
            common_name=f"hosting {film_id}",
            public_key=node_public_key,
            sans=[x509.DNSName(film_id)],
            usages=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
            not_before=as_utc(not_before, what="not_before"),
            not_after=as_utc(not_after, what="not_after"),
            serial=x509.random_serial_number() if serial is None else serial,
            extra=[x509.CertificatePolicies([x509.PolicyInformation(HOSTING_POLICY_OID, None)])],
        )

    def sign_crl(
        self,
        revoked: Mapping[int, datetime],
        *,
        now: datetime | None = None,
        next_update_hours: float = 24.0,
        crl_number: int = 1,
    ) -> x509.CertificateRevocationList:
        """Sign a CRL listing ``revoked`` (serial -> revocation time), valid from ``now``.

        ``next_update_hours`` is when relying parties should expect a fresher CRL;
        ``crl_number`` must grow with each CRL issued (RFC 5280 5.2.3).
        """
        if next_update_hours <= 0:
            raise CertsError(f"next_update_hours must be positive, got {next_update_hours}")
        if crl_number < 0:
            raise CertsError(f"crl_number must not be negative, got {crl_number}")
        issued = resolve_now(now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(issued)
            .next_update(issued + timedelta(hours=next_update_hours))
            .add_extension(x509.CRLNumber(crl_number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski_of(self.cert)),
                critical=False,
            )
        )
        for serial, when in sorted(revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(validate_serial(serial))
                .revocation_date(as_utc(when, what="revocation time"))
                .build()
            )
        return builder.sign(self.key, _HASH())
