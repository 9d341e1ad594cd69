"""The server side of one TLS connection as a byte pump, over either OpenSSL.

`tracker.tls_stream` moves ciphertext between a socket and a `TlsEngine`; the engine
is OpenSSL in memory-BIO mode. Two are offered (`TrackerConfig.tls_library`):

- ``system``: Python's `ssl` module, linked to the system's OpenSSL (3.0 on Debian 12);
- ``bundled``: the OpenSSL that ships inside the ``cryptography`` wheel (3.5 or later),
  through pyOpenSSL (`tracker.tls_bundled`). Measured here, its mutual-TLS server
  handshake costs less CPU than 3.0's (docs/tracker.md).

Both refuse in the handshake what the other refuses; the reasons (metric labels) are
OpenSSL's own, spelled alike (``certificate_verify_failed``).
"""

from __future__ import annotations

import ssl
from typing import Protocol

__all__ = ["SystemTlsServer", "TlsEngine", "TlsFailure", "TlsServer"]


class TlsFailure(Exception):
    """TLS refused the peer or its bytes; ``reason`` is OpenSSL's, lower_case_with_underscores."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TlsEngine(Protocol):
    """One server-side TLS connection, fed and drained by the caller."""

    def feed(self, data: bytes) -> None:
        """Ciphertext from the client (whole records)."""

    def feed_eof(self) -> None:
        """The client closed its side."""

    def take_output(self) -> bytes:
        """Ciphertext to send to the client (may be empty)."""

    def do_handshake(self) -> bool:
        """Advance the handshake: True once done, False if it needs more input.

        Raises `TlsFailure` if the handshake fails (the alert is in `take_output`).
        """

    def read(self, max_bytes: int) -> bytes | None:
        """Plaintext; ``None`` if more input is needed; ``b""`` at a close_notify.

        Raises `TlsFailure` for bad records.
        """

    def write(self, data: bytes) -> None:
        """Encrypt ``data`` (then `take_output`). Raises `TlsFailure`."""

    def peer_certificate(self) -> bytes | None:
        """The client's certificate (DER) once the handshake is done."""


class TlsServer(Protocol):
    """What makes a `TlsEngine` per accepted connection."""

    library: str
    """``system`` or ``bundled`` (see the module docstring)."""

    def new_engine(self) -> TlsEngine:
        """A fresh server-side engine."""


def _reason(e: ssl.SSLError) -> str:
    return str(e.reason or "ssl_error").lower()


class _SystemEngine:
    def __init__(self, context: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_side=True)

    def feed(self, data: bytes) -> None:
        self._in.write(data)

    def feed_eof(self) -> None:
        self._in.write_eof()

    def take_output(self) -> bytes:
        return self._out.read()

    def do_handshake(self) -> bool:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as e:
            raise TlsFailure(_reason(e)) from e
        return True

    def read(self, max_bytes: int) -> bytes | None:
        try:
            return self._tls.read(max_bytes)
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLZeroReturnError:
            return b""
        except ssl.SSLError as e:
            raise TlsFailure(_reason(e)) from e

    def write(self, data: bytes) -> None:
        try:
            self._tls.write(data)
        except ssl.SSLError as e:
            raise TlsFailure(_reason(e)) from e

    def peer_certificate(self) -> bytes | None:
        return self._tls.getpeercert(binary_form=True)


class SystemTlsServer:
    """`TlsServer` on Python's `ssl` module (the system's OpenSSL)."""

    library = "system"

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    def new_engine(self) -> TlsEngine:
        return _SystemEngine(self.context)
