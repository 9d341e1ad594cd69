"""A lean server-side TLS stream: a `tracker.tls_engine.TlsEngine` over a trio socket.

trio's `SSLStream` is general (client and server, renegotiation, concurrent send and
receive, close_notify) and that generality costs: measured here, a bare mTLS
server on `SSLStream` spent ~190 us more CPU per new connection than the same
server pumping an `SSLObject` itself (~1,600 vs ~1,420 us), about 12% of an
announce. The tracker needs only this: one handshake, then strictly alternating
request reads and response writes, and an abrupt close (HTTPS servers send no
close_notify; every response carries its length). TLS itself stays OpenSSL's.

OpenSSL is given whole TLS records only. Handed part of a record, it allocates its
record buffers (~30 KiB) and keeps them until the record is complete, so a flood of
clients that each send three bytes of a ClientHello pinned ~40 KiB of C memory each
(measured here; freed, the memory stayed with the process). This stream keeps an
incomplete record itself, as the bytes that arrived (the 5-byte record header says
how many are to come), and creates the engine only once the first record is whole.
"""

from __future__ import annotations

import trio

from tracker.tls_engine import TlsEngine, TlsFailure, TlsServer

__all__ = ["ServerTlsStream"]

_RECEIVE_BYTES = 65536
_RECORD_HEADER = 5
_MAX_RECORD = 2**14 + 256  # TLS 1.3 ciphertext (RFC 8446 5.2); larger is not TLS
_RECORD_TYPES = frozenset({20, 21, 22, 23})  # change_cipher_spec, alert, handshake, data


class ServerTlsStream:
    """The server side of one TLS connection on an accepted trio socket.

    Not for concurrent use: one task does handshake, reads and writes in turn.
    Transport failures and TLS errors raise `trio.BrokenResourceError` (chained
    to the `tracker.tls_engine.TlsFailure`, if any).
    """

    def __init__(self, stream: trio.SocketStream, server: TlsServer) -> None:
        self.transport_stream = stream
        self._sock = stream.socket
        self._server = server
        self._partial = b""  # the start of a record not yet whole
        self._engine: TlsEngine | None = None
        self._fed = False  # whole records were handed to OpenSSL
        self._unread = b""  # plaintext given back by `unread`

    @property
    def _tls(self) -> TlsEngine:
        if self._engine is None:
            self._engine = self._server.new_engine()
        return self._engine

    async def _flush(self) -> None:
        data = self._tls.take_output() if self._engine is not None else b""
        view = memoryview(data)
        try:
            while view:
                view = view[await self._sock.send(view) :]
        except OSError as e:
            raise trio.BrokenResourceError from e

    async def _fill(self) -> bool:
        """Read ciphertext until at least one more whole record is OpenSSL's; False at
        the end of the stream."""
        while True:
            try:
                data = await self._sock.recv(_RECEIVE_BYTES)
            except OSError as e:
                raise trio.BrokenResourceError from e
            if not data:
                if self._engine is not None:  # OpenSSL says what is wrong with it
                    self._engine.feed(self._partial)
                    self._engine.feed_eof()
                self._partial = b""  # (before a first whole record: nothing to say)
                return False
            buffered = self._partial + data
            whole = _whole_records(buffered)
            self._partial = buffered[whole:]
            if whole:
                self._tls.feed(buffered[:whole])
                self._fed = True
                return True

    async def do_handshake(self) -> None:
        """Run the TLS handshake, sending our flights and any alert on failure."""
        if not self._fed and not await self._fill():
            raise trio.BrokenResourceError("peer closed before its first TLS record")
        while True:
            try:
                if self._tls.do_handshake():
                    break
            except TlsFailure as e:
                await self._flush()  # the alert telling the client why
                raise trio.BrokenResourceError from e
            await self._flush()
            if not await self._fill():
                raise trio.BrokenResourceError("peer closed during the handshake")
        await self._flush()

    def getpeercert(self, binary_form: bool = True) -> bytes | None:
        """The client certificate (DER) verified in the handshake."""
        return self._tls.peer_certificate() if binary_form else None

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` of plaintext; ``b""`` when the client is done."""
        if self._unread:
            limit = max_bytes or _RECEIVE_BYTES
            given, self._unread = self._unread[:limit], self._unread[limit:]
            return given
        while True:
            try:
                data = self._tls.read(max_bytes or _RECEIVE_BYTES)
            except TlsFailure as e:
                raise trio.BrokenResourceError from e
            if data is not None:
                return data
            if not await self._fill():
                return b""  # a bare EOF ends an HTTPS request stream too

    def unread(self, data: bytes) -> None:
        """Give plaintext back: the next `receive_some` returns it first."""
        self._unread = data + self._unread

    async def send_all(self, data: bytes) -> None:
        """Encrypt ``data`` and send it all."""
        try:
            self._tls.write(data)
        except TlsFailure as e:
            raise trio.BrokenResourceError from e
        await self._flush()

    def close(self) -> None:
        """Close the socket at once (no close_notify, as HTTPS servers do), and let go of
        the TLS state now, whoever still holds this stream."""
        self._sock.close()
        self._engine = None


def _whole_records(data: bytes) -> int:
    """How many leading bytes of ``data`` are whole TLS records (all of it, if framing
    is broken: OpenSSL then refuses it at once, with the right alert)."""
    end = 0
    while len(data) - end >= _RECORD_HEADER:
        length = int.from_bytes(data[end + 3 : end + 5], "big")
        if data[end] not in _RECORD_TYPES or data[end + 1] != 3 or length > _MAX_RECORD:
            return len(data)
        if len(data) - end - _RECORD_HEADER < length:
            break
        end += _RECORD_HEADER + length
    return end
