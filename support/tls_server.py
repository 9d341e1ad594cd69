"""TLS 1.3 server contexts that check client certificates against one CA.

The tracker and the rental service both serve mutual TLS against the operator CA and
leave the certificate's *time* to their own policy (a rental outside its window gets a
reason it can show, a node whose certificate expired offline may still renew), so
OpenSSL checks the chain but not the validity period.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["NO_CHECK_TIME", "mutual_tls_server_context", "ssl_reason"]

NO_CHECK_TIME = ssl.VerifyFlags(0x200000)
"""OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the ssl module passes any flag bits through."""


def ssl_reason(e: OSError) -> str:
    """The useful part of a failed load: OpenSSL's reason, or the OS error's text."""
    if isinstance(e, ssl.SSLError):
        return str(e.reason or e).lower().replace("_", " ")
    return str(e.strerror or e)


def mutual_tls_server_context(
    ca_path: Path, cert_path: Path, key_path: Path, *, verify_mode: ssl.VerifyMode,
    cert_what: str, error: type[Exception],
) -> ssl.SSLContext:
    """A TLS 1.3-only server context presenting ``cert_path`` (``cert_what`` names it in
    messages) and verifying client certificates against ``ca_path`` without the time
    check; ``error`` (one line) if a file cannot be loaded or the key does not match."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # TLS 1.3 only: under 1.2 a client certificate (a rental's SAN names the film) is
    # sent in clear, and 1.2 still negotiates CBC suites. libtorrent speaks 1.3.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = verify_mode
    ctx.verify_flags |= NO_CHECK_TIME
    try:
        ctx.load_verify_locations(cafile=str(ca_path))
    except OSError as e:
        raise error(f"CA certificate {ca_path} cannot be loaded: {ssl_reason(e)}") from None
    try:
        ctx.load_cert_chain(str(cert_path), str(key_path))
    except OSError as e:
        raise error(f"{cert_what} {cert_path} with key {key_path} cannot be loaded: "
                    f"{ssl_reason(e)}") from None
    return ctx
