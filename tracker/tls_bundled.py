"""The tracker's TLS on the OpenSSL bundled with ``cryptography`` (through pyOpenSSL).

The policy of `tracker.tls` (TLS 1.3 only, a client certificate chaining to the CA
required, its time left to admission), on the OpenSSL of the ``cryptography`` wheel
(3.5 or later) instead of the system's 3.0: measured here, a cheaper mutual-TLS server
handshake (docs/tracker.md). Key exchange X25519 (P-256 accepted), signatures ECDSA
P-256 with SHA-256 (the tracker's key), no session tickets and no session cache
(libtorrent never resumes a session).

Checking a client certificate's CA signature once per certificate (a cache by
fingerprint) was tried and left out: clients send their chain with the CA in it
(libtorrent and Python's ``ssl`` both do), and OpenSSL then checks the leaf's signature
against that copy of the CA whatever the verify callback answers; only
``SSL_CTX_set_cert_verify_callback``, which pyOpenSSL and ``cryptography`` do not
expose, could skip it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.bindings.openssl.binding import Binding
from OpenSSL import SSL, crypto

from certs import read_private
from tracker.errors import TlsSetupError
from tracker.tls import load_ca_certificate
from tracker.tls_engine import TlsEngine, TlsFailure

__all__ = ["BundledTlsServer", "bundled_openssl_version"]

_NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: the window is admission's
_READ_BYTES = 65536
_GROUPS = b"X25519:P-256"
_SIGALGS = b"ecdsa_secp256r1_sha256"  # the tracker's key is P-256 (certs/)
_lib = Binding.lib


def bundled_openssl_version() -> str:
    """The version text of the OpenSSL bundled with ``cryptography``."""
    return SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()


def _failure(e: Exception) -> TlsFailure:
    if isinstance(e, SSL.SysCallError):
        return TlsFailure("unexpected_eof")
    errors = e.args[0] if e.args and isinstance(e.args[0], list) else []
    reason = errors[0][2] if errors and len(errors[0]) == 3 else "ssl_error"
    return TlsFailure(str(reason or "ssl_error").lower().replace(" ", "_"))


class _BundledEngine:
    def __init__(self, context: SSL.Context) -> None:
        self._tls = SSL.Connection(context, None)
        self._tls.set_accept_state()

    def feed(self, data: bytes) -> None:
        self._tls.bio_write(data)

    def feed_eof(self) -> None:
        self._tls.bio_shutdown()

    def take_output(self) -> bytes:
        chunks = []
        while True:
            try:
                chunks.append(self._tls.bio_read(_READ_BYTES))
            except SSL.WantReadError:
                return b"".join(chunks)

    def do_handshake(self) -> bool:
        try:
            self._tls.do_handshake()
        except SSL.WantReadError:
            return False
        except SSL.Error as e:
            raise _failure(e) from e
        return True

    def read(self, max_bytes: int) -> bytes | None:
        try:
            return self._tls.recv(max_bytes)
        except SSL.WantReadError:
            return None
        except SSL.ZeroReturnError:
            return b""
        except SSL.Error as e:
            raise _failure(e) from e

    def write(self, data: bytes) -> None:
        try:
            self._tls.sendall(data)
        except SSL.Error as e:
            raise _failure(e) from e

    def peer_certificate(self) -> bytes | None:
        cert = self._tls.get_peer_certificate()
        return None if cert is None else crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)


class BundledTlsServer:
    """`TlsServer` on the bundled OpenSSL.

    Raises `TlsSetupError` if a file cannot be loaded or the key does not match the
    certificate, and `certs.KeyFileError` if the key file is readable by other users.
    """

    library = "bundled"

    def __init__(self, ca_path: Path, cert_path: Path, key_path: Path) -> None:
        read_private(key_path, what="tracker key")  # refuses a key other users can read
        load_ca_certificate(ca_path)  # one-line errors for a missing or broken CA file
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        # TLS 1.3 only, as `tracker.tls`: under 1.2 the client certificate goes in clear
        ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
        try:
            ctx.use_certificate_chain_file(str(cert_path))
            ctx.use_privatekey_file(str(key_path))
            ctx.check_privatekey()
        except SSL.Error as e:
            raise TlsSetupError(f"server certificate {cert_path} with key {key_path} cannot be"
                                f" loaded: {_failure(e).reason.replace('_', ' ')}") from None
        try:
            ctx.load_verify_locations(str(ca_path))
        except SSL.Error as e:
            raise TlsSetupError(f"CA certificate {ca_path} cannot be loaded:"
                                f" {_failure(e).reason.replace('_', ' ')}") from None
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
        store = ctx.get_cert_store()
        if store is None:
            raise TlsSetupError("the bundled OpenSSL has no certificate store")
        store.set_flags(_NO_CHECK_TIME)
        # libtorrent never resumes a session: no tickets, no server-side session cache
        ctx.set_options(SSL.OP_NO_TICKET)
        # An idle connection keeps no 16 KiB read and write buffers (Python's ssl module
        # sets this mode; pyOpenSSL does not): without it a flood of 20,000 hostile
        # connections grew the tracker 94 MiB instead of ~30 (bench/tracker_flood.py)
        ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
        ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        # pyOpenSSL has no call for these two; its context wraps an SSL_CTX pointer
        if not _lib.SSL_CTX_set1_curves_list(ctx._context, _GROUPS):
            raise TlsSetupError("the bundled OpenSSL refuses the groups X25519:P-256")
        if not _lib.SSL_CTX_set1_sigalgs_list(ctx._context, _SIGALGS):
            raise TlsSetupError("the bundled OpenSSL refuses ecdsa_secp256r1_sha256")
        self.context = ctx

    def new_engine(self) -> TlsEngine:
        return _BundledEngine(self.context)
