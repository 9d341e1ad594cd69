"""Watch while downloading: a local HTTP server of a download's decrypted film.

    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve_playback, download)
        # give url to the player: http://127.0.0.1:PORT/<token>/<film_id>

The server binds a loopback address only, and the URL carries a random token,
so other local users (who can reach 127.0.0.1 too) cannot read the film. It
answers GET and HEAD, with RFC 9110 single byte ranges (206, 416, or 200 for
the whole film), several concurrent connections and keep-alive. Bytes are
decrypted on the fly from the container while libtorrent fetches the pieces
a player needs first (`peernode.playback.source`). A segment that does not
authenticate cuts the response short, never sending a wrong byte; after the
rental's notAfter every request is refused with 403.

The container's MIME type is served only if it is a media type
(`peernode.playback.headers`); every response says ``nosniff`` and
``Content-Security-Policy: sandbox``; request targets reach logs with the
token redacted.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from types import MappingProxyType
from urllib.parse import quote

import trio

from peernode.errors import ContainerError, PeernodeError
from peernode.playback.headers import SECURITY_HEADERS, redact_target, served_mime_type
from peernode.playback.plan import DEFAULT_READ_AHEAD, ReadAheadPolicy
from peernode.playback.ranges import UNSATISFIABLE, ByteRange, FilmLayout, parse_range
from peernode.playback.source import FilmSource
from peernode.runtime.download import Download, RentalExpiredError
from peernode.runtime.node import Node
from support.hostport import format_hostport
from support.http import (
    AbortResponse,
    BodyStream,
    BodyWriter,
    HttpLimits,
    Request,
    Response,
    serve_http_connection,
    text_response,
)

__all__ = [
    "DEFAULT_PLAYBACK_LIMITS",
    "PLAYBACK_SESSION_SETTINGS",
    "PlaybackServer",
    "serve_playback",
    "start_playback",
]

log = logging.getLogger(__name__)

# libtorrent settings a node that plays adds to the defaults: none any more. The
# 100 ms tick it used to add (pacing connection attempts and the rate limiter's
# quanta) is now every customer node's, seeding ones too, whose limiters pace
# what reaches a new player (`private_swarm_settings`).
PLAYBACK_SESSION_SETTINGS: Mapping[str, object] = MappingProxyType({})

# Players send small GET/HEAD requests and may pause long between requests on a
# kept-alive connection; a response may wait for pieces (unbounded).
DEFAULT_PLAYBACK_LIMITS = HttpLimits(
    max_head_bytes=16 * 1024, max_body_bytes=16 * 1024, idle_timeout_s=75.0, request_timeout_s=10.0
)

_TOKEN_BYTES = 32  # 256 bits: not guessable, even by a local user trying for the rental's life


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PeernodeError(f"playback listens on a loopback address only, not {host!r}")


class PlaybackServer:
    """Answers the requests of one film's playback URL (create through `serve_playback`)."""

    def __init__(
        self,
        source: FilmSource,
        *,
        token: str,
        max_connections: int,
        limits: HttpLimits,
    ) -> None:
        self._source = source
        self.path = f"/{token}/{quote(source.film_id)}"
        self._slots = trio.Semaphore(max_connections)
        self._limits = limits

    async def serve_connection(self, stream: trio.abc.Stream) -> None:
        """Serve one accepted connection (503 to every request when all slots are taken)."""
        async with stream:
            try:
                self._slots.acquire_nowait()
            except trio.WouldBlock:
                await serve_http_connection(stream, _busy, self._limits, log=log,
                                            always_headers=SECURITY_HEADERS,
                                            loggable_target=redact_target)
                return
            try:
                # a player that seeks closes its connection: what its response asked
                # of libtorrent is withdrawn at once, not when the pieces arrive
                await serve_http_connection(stream, self._logged_respond, self._limits,
                                            log=log, cancel_when_client_leaves=True,
                                            always_headers=SECURITY_HEADERS,
                                            loggable_target=redact_target)
            finally:
                self._slots.release()

    async def warm_up(self) -> None:
        """Fetch the header and the film's first pieces before the player asks for them."""
        self._source.warm_up()
        try:
            await self._source.open()
        except (ContainerError, RentalExpiredError) as e:
            log.error("%s: cannot prepare playback: %s", self._source.film_id, e)

    async def _logged_respond(self, request: Request) -> Response:
        response = await self.respond(request)
        log.debug("%s %s %d", request.method, redact_target(request.target), response.status)
        return response

    async def respond(self, request: Request) -> Response:
        """Answer one request of the playback URL."""
        if not secrets.compare_digest(request.path.encode("latin-1"), self.path.encode()):
            return text_response(404, "not found")
        if request.method not in ("GET", "HEAD"):
            return text_response(405, "only GET and HEAD", [("Allow", "GET, HEAD")])
        refusal = self._source.rental_refusal()
        if refusal is not None:
            return text_response(403, refusal)
        try:
            layout = await self._source.open()
        except ContainerError as e:
            log.error("%s: cannot decrypt the film: %s", self._source.film_id, e)
            return text_response(500, f"the film cannot be decrypted: {e}")
        except RentalExpiredError as e:
            return text_response(403, str(e))
        return self._film_response(request, layout)

    def _film_response(self, request: Request, layout: FilmLayout) -> Response:
        total = layout.plaintext_bytes
        header = layout.header
        etag = f'"{header.digest.hex()[:32]}"'
        headers = [
            ("Content-Type", served_mime_type(header.mime_type)),
            ("Accept-Ranges", "bytes"),
            ("ETag", etag),
            ("Cache-Control", "no-store"),  # decrypted rental content: no caches
        ]
        range_header = request.header("range")
        # RFC 9110 13.1.5: with a validator other than ours, send the whole film.
        if request.header("if-range") not in (None, etag):
            range_header = None
        answer = parse_range(range_header, total)
        if answer is UNSATISFIABLE:
            return text_response(416, "range not satisfiable",
                                 [("Content-Range", UNSATISFIABLE.content_range(total))])
        wanted: ByteRange | None = answer if isinstance(answer, ByteRange) else None
        if wanted is not None:
            status = 206
            headers.append(("Content-Range", wanted.content_range(total)))
        else:
            status = 200
            wanted = ByteRange(0, total - 1) if total else None
        headers.append(("Content-Length", str(wanted.length if wanted else 0)))
        return Response(status, headers, self._film_bytes(wanted))

    def _film_bytes(self, wanted: ByteRange | None) -> BodyStream:
        """The body: ``wanted`` decrypted as its pieces arrive (never run for HEAD)."""

        async def send(write: BodyWriter) -> None:
            if wanted is not None:
                await self._stream(wanted, write)

        return send

    async def _stream(self, wanted: ByteRange, write: BodyWriter) -> None:
        try:
            await self._source.stream(wanted.start, wanted.stop, write)
        except ContainerError as e:
            log.error("%s: bytes %d-%d: %s; response cut short",
                      self._source.film_id, wanted.start, wanted.end, e)
            raise AbortResponse from None
        except RentalExpiredError as e:
            log.warning("%s: %s; response cut short", self._source.film_id, e)
            raise AbortResponse from None


async def _busy(_request: Request) -> Response:
    return text_response(503, "too many playback connections", close=True)


async def start_playback(node: Node, download: Download) -> str:
    """Serve ``download`` on loopback for as long as ``node`` runs; return its URL.

    The URL is also kept in ``download.playback_url``.
    """
    url: str = await node.start_service(
        partial(serve_playback, download, wall_clock=node.config.wall_clock)
    )
    download.playback_url = url
    return url


async def serve_playback(
    download: Download,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    wall_clock: Callable[[], datetime] = _utc_now,
    policy: ReadAheadPolicy = DEFAULT_READ_AHEAD,
    limits: HttpLimits = DEFAULT_PLAYBACK_LIMITS,
    max_connections: int = 16,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``download``'s film over HTTP on ``host:port`` until cancelled.

    ``task_status.started(url)`` once listening, with the playback URL
    ``http://HOST:PORT/<token>/<film_id>``. ``wall_clock`` is the time the
    rental's window is checked against (UTC, aware). Raises `PeernodeError` if
    ``host`` is not a loopback address or the torrent is not a film, `OSError`
    if the port cannot be bound.
    """
    _check_loopback(host)
    source = FilmSource(download, wall_clock=wall_clock, policy=policy)
    server = PlaybackServer(
        source, token=secrets.token_urlsafe(_TOKEN_BYTES),
        max_connections=max_connections, limits=limits,
    )
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    url = f"http://{format_hostport(host, bound)}{server.path}"
    log.info("%s: playback at http://%s/...", download.film_id, format_hostport(host, bound))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.warm_up)
        await nursery.start(trio.serve_listeners, server.serve_connection, listeners)
        task_status.started(url)
