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

__all__ = ["server_ssl_context"]

_NO_CHECK_TIME = ssl.VerifyFlags(0x200000)  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME


def _why(e: OSError) -> str:
    if isinstance(e, ssl.SSLError):
        return str(e.reason or e).lower().replace("_", " ")
    return str(e.strerror or e)


def server_ssl_context(ca_path: Path, cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context presenting ``cert_path`` and accepting CA-issued client certificates."""
    read_private(key_path, what="service TLS key")  # refuses a key other users can read
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.verify_flags |= _NO_CHECK_TIME
    try:
        ctx.load_verify_locations(cafile=str(ca_path))
    except OSError as e:
        raise ConfigError(f"CA certificate {ca_path} cannot be loaded: {_why(e)}") from None
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except OSError as e:
        raise ConfigError(
            f"TLS certificate {cert_path} with key {key_path} cannot be loaded: {_why(e)}"
        ) from None
    return ctx
