"""The rental service's TLS server context.

TLS 1.3 only (as the tracker). A client certificate is *optional*: the shop's
backend has none (it shows an API key); a node renewing presents its rental
certificate, which must chain to the operator CA. As at the tracker, OpenSSL checks
the chain but not the time: a node whose certificate expired while it was offline
may still prove its key, and the renewal policy decides (window, revocation).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from certs.file_reading import read_private
from rentals.config import ConfigError
from support.tls_server import mutual_tls_server_context

__all__ = ["server_ssl_context"]


def server_ssl_context(ca_path: Path, cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context presenting ``cert_path`` and accepting CA-issued client certificates."""
    read_private(key_path, what="service TLS key")  # refuses a key other users can read
    return mutual_tls_server_context(ca_path, cert_path, key_path,
                                     verify_mode=ssl.CERT_OPTIONAL,
                                     cert_what="TLS certificate", error=ConfigError)
