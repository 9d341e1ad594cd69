"""The tracker's TLS server context: mutual TLS against the operator CA.

Chain verification stays with OpenSSL (``CERT_REQUIRED`` against the CA, TLS 1.3 only),
but the *time* check is left to `tracker.admission`: a rental outside its window
then gets a ``failure reason`` the client can show and a log line with reason,
film and serial, instead of an anonymous handshake failure.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from certs import read_private
from tracker.errors import TlsSetupError

__all__ = ["load_ca_certificate", "server_ssl_context"]

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the ssl module passes any flag bits through.
_NO_CHECK_TIME = ssl.VerifyFlags(0x200000)


def load_ca_certificate(path: Path) -> x509.Certificate:
    """Read the operator CA certificate (PEM); raises `TlsSetupError` if unusable."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as e:
        raise TlsSetupError(f"CA certificate {path} cannot be read: {e.strerror}") from None
    except ValueError:
        raise TlsSetupError(f"CA certificate {path} is not a PEM certificate") from None


def server_ssl_context(
    ca_path: Path, cert_path: Path, key_path: Path, *, session_tickets: int = 0
) -> ssl.SSLContext:
    """A server context requiring a client certificate issued by the CA at ``ca_path``.

    ``session_tickets`` is the number of TLS 1.3 tickets sent per handshake (0: none,
    see `TrackerConfig.tls_session_tickets`). Raises `TlsSetupError` if a file is
    unreadable or the key does not match the certificate, and `certs.KeyFileError`
    if the key file is readable by other users.
    """
    read_private(key_path, what="tracker key")  # refuses a key other users can read
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # TLS 1.3 only: under 1.2 the client certificate (SAN = film id) is sent in clear,
    # and 1.2 still negotiates CBC suites. libtorrent speaks 1.3 to its trackers.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= _NO_CHECK_TIME
    ctx.num_tickets = session_tickets
    if not session_tickets:
        ctx.options |= ssl.OP_NO_TICKET  # TLS 1.2 tickets too
    try:
        ctx.load_verify_locations(cafile=str(ca_path))
    except OSError as e:
        raise TlsSetupError(f"CA certificate {ca_path} cannot be loaded: {_why(e)}") from None
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except OSError as e:
        raise TlsSetupError(
            f"server certificate {cert_path} with key {key_path} cannot be loaded: {_why(e)}"
        ) from None
    return ctx


def _why(e: OSError) -> str:
    # ssl.SSLError is an OSError whose useful part is OpenSSL's reason
    if isinstance(e, ssl.SSLError):
        return str(e.reason or e).lower().replace("_", " ")
    return str(e.strerror or e)
