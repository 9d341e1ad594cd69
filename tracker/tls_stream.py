"""A lean server-side TLS stream: `ssl.SSLObject` over a trio socket, nothing more.

trio's `SSLStream` is general (client and server, renegotiation, concurrent send and
receive, close_notify) and that generality costs: measured here, a bare mTLS
server on `SSLStream` spent ~190 us more CPU per new connection than the same
server pumping an `SSLObject` itself (~1,600 vs ~1,420 us), about 12% of an
announce. The tracker needs only this: one handshake, then strictly alternating
request reads and response writes, and an abrupt close (HTTPS servers send no
close_notify; every response carries its length). TLS itself stays OpenSSL's.
"""

from __future__ import annotations

import ssl

import trio

__all__ = ["ServerTlsStream"]

_RECEIVE_BYTES = 65536


class ServerTlsStream:
    """The server side of one TLS connection on an accepted trio socket.

    Not for concurrent use: one task does handshake, reads and writes in turn.
    Transport failures and TLS errors raise `trio.BrokenResourceError` (chained
    to the `ssl.SSLError`, if any).
    """

    def __init__(self, stream: trio.SocketStream, context: ssl.SSLContext) -> None:
        self.transport_stream = stream
        self._sock = stream.socket
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    async def _flush(self) -> None:
        data = self._outgoing.read()
        view = memoryview(data)
        try:
            while view:
                view = view[await self._sock.send(view) :]
        except OSError as e:
            raise trio.BrokenResourceError from e

    async def _fill(self) -> bool:
        """Read more ciphertext from the socket; False at end of stream."""
        try:
            data = await self._sock.recv(_RECEIVE_BYTES)
        except OSError as e:
            raise trio.BrokenResourceError from e
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    async def do_handshake(self) -> None:
        """Run the TLS handshake, sending our flights and any alert on failure."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    raise trio.BrokenResourceError("peer closed during the handshake") from None
            except ssl.SSLError as e:
                await self._flush()  # the alert telling the client why
                raise trio.BrokenResourceError from e
        await self._flush()

    def getpeercert(self, binary_form: bool = True) -> bytes | None:
        """The client certificate (DER) verified in the handshake."""
        return self._tls.getpeercert(binary_form=True) if binary_form else None

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` of plaintext; ``b""`` when the client is done."""
        while True:
            try:
                return self._tls.read(max_bytes or _RECEIVE_BYTES)
            except ssl.SSLWantReadError:
                if not await self._fill():
                    return b""  # a bare EOF ends an HTTPS request stream too
            except ssl.SSLZeroReturnError:
                return b""
            except ssl.SSLError as e:
                raise trio.BrokenResourceError from e

    async def send_all(self, data: bytes) -> None:
        """Encrypt ``data`` and send it all."""
        try:
            self._tls.write(data)
        except ssl.SSLError as e:
            raise trio.BrokenResourceError from e
        await self._flush()

    def close(self) -> None:
        """Close the socket at once (no close_notify, as HTTPS servers do)."""
        self._sock.close()
