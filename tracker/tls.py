"""The tracker's TLS server context: mutual TLS against the operator CA.

Chain verification stays with OpenSSL (``CERT_REQUIRED`` against the CA, TLS 1.3 only),
but the *time* check is left to `tracker.admission`: a rental outside its window
then gets a ``failure reason`` the client can show and a log line with reason,
film and serial, instead of an anonymous handshake failure.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from certs import read_private
from support.tls_server import mutual_tls_server_context
from tracker.errors import TlsSetupError
from tracker.tls_engine import SystemTlsServer, TlsServer

if TYPE_CHECKING:
    from tracker.config import TrackerConfig

__all__ = ["load_ca_certificate", "server_ssl_context", "server_tls"]


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
    ctx = mutual_tls_server_context(ca_path, cert_path, key_path,
                                    verify_mode=ssl.CERT_REQUIRED,
                                    cert_what="server certificate", error=TlsSetupError)
    ctx.num_tickets = session_tickets
    if not session_tickets:
        ctx.options |= ssl.OP_NO_TICKET  # TLS 1.2 tickets too
    return ctx


def server_tls(config: TrackerConfig) -> TlsServer:
    """The TLS server the configuration asks for (``tls_library``); raises as
    `server_ssl_context` does."""
    if config.tls_library == "bundled":
        from tracker.tls_bundled import BundledTlsServer  # pyOpenSSL loads only if used

        return BundledTlsServer(config.ca_path, config.cert_path, config.key_path)
    return SystemTlsServer(server_ssl_context(
        config.ca_path, config.cert_path, config.key_path,
        session_tickets=config.tls_session_tickets,
    ))
