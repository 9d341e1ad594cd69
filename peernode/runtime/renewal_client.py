"""The node's side of ``POST /v1/rentals/{id}/renew``: HTTPS with the rental certificate
as TLS client certificate (h11 over trio's TLS stream, like the project's servers).

The node proves it holds the rental's key by the TLS 1.3 handshake itself
(CertificateVerify); the service's certificate must be issued by the operator CA
(the one the torrent trusts) for the URL's host. A refusal (401/403/404, with the
service's reason) is final: `RenewalRefused`; anything else (no route, TLS failure,
a 5xx, a garbled answer, a timeout) may pass: `RenewalUnavailable`.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

from peernode.errors import PeernodeError
from support.atomic_write import write_private

__all__ = [
    "RenewalAnswer",
    "RenewalRefused",
    "RenewalUnavailable",
    "post_with_certificate",
    "renewal_url",
    "request_renewal",
]

MAX_ANSWER_BYTES = 256 * 1024
_REFUSALS = frozenset({400, 401, 403, 404, 410})


class RenewalUnavailable(PeernodeError):
    """The service could not be asked, or did not answer usefully: try again later."""


class RenewalRefused(PeernodeError):
    """The service refused the renewal (``reason``: ``revoked``, ``ended``,
    ``wrong_node_key``, ...): no later certificate will come for this rental."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RenewalAnswer:
    """A renewal's bundle (the same ``.pvr`` format as the first one)."""

    bundle: bytes


def renewal_url(service_url: str, rental_id: int) -> str:
    """The renewal endpoint of rental ``rental_id`` at ``service_url``."""
    return f"{service_url.rstrip('/')}/v1/rentals/{rental_id}/renew"


def _client_context(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    # The ssl module loads a client certificate from files only: a private directory
    # (0700), the key 0600, removed as soon as it is loaded.
    with tempfile.TemporaryDirectory(prefix="peernode-renew-") as private:
        cert_path, key_path = Path(private) / "cert.pem", Path(private) / "key.pem"
        cert_path.write_bytes(cert_pem)
        write_private(key_path, key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx


def _split(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise RenewalUnavailable(f"renewal URL {url!r} is not an https URL")
    try:
        port = parts.port or 443
    except ValueError:
        raise RenewalUnavailable(f"renewal URL {url!r} has a bad port") from None
    return parts.hostname, port, parts.path or "/"


async def _exchange(stream: trio.abc.Stream, request: h11.Request) -> tuple[int, bytes]:
    conn = h11.Connection(our_role=h11.CLIENT)
    await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
    status, body = 0, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(bytes(data))
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_ANSWER_BYTES:
                raise RenewalUnavailable("the rental service's answer is too large")
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, bytes(body)


async def post_with_certificate(
    url: str, *, what: str, cert_pem: bytes, key_pem: bytes, ca_pem: bytes, timeout_s: float,
) -> tuple[int, bytes]:
    """POST an empty request to ``url`` over mutual TLS with ``cert_pem``/``key_pem`` (the
    service's certificate must chain to ``ca_pem``): the answer's status and body.
    ``what`` names the certificate in errors. Raises `RenewalUnavailable`."""
    host, port, path = _split(url)
    try:
        ctx = _client_context(ca_pem, cert_pem, key_pem)
    except (ssl.SSLError, ValueError, OSError) as e:
        raise RenewalUnavailable(f"cannot present the {what} certificate: {e}") from None
    request = h11.Request(method="POST", target=path, headers=[
        ("Host", host if port == 443 else f"{host}:{port}"),
        ("Content-Length", "0"),
        ("Accept", "application/json"),
        ("Connection", "close"),
        ("User-Agent", "peernode/0.1"),
    ])
    try:
        with trio.fail_after(timeout_s):
            tcp = await trio.open_tcp_stream(host, port)
            tls = trio.SSLStream(tcp, ctx, server_hostname=host, https_compatible=True)
            try:
                return await _exchange(tls, request)
            finally:
                await trio.aclose_forcefully(tls)
    except trio.TooSlowError:
        raise RenewalUnavailable(f"{url}: no answer within {timeout_s:.0f} s") from None
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as e:
        cause = e.__cause__ if isinstance(e.__cause__, ssl.SSLError) else e
        raise RenewalUnavailable(f"{url}: {_describe(cause)}") from None
    except h11.ProtocolError as e:
        raise RenewalUnavailable(f"{url}: not an HTTP answer ({e})") from None


async def request_renewal(
    service_url: str,
    rental_id: int,
    *,
    cert_pem: bytes,
    key_pem: bytes,
    ca_pem: bytes,
    timeout_s: float = 30.0,
) -> RenewalAnswer:
    """Ask the service for a fresh certificate of rental ``rental_id``.

    ``cert_pem``/``key_pem``: the node's current (possibly expired) certificate of that
    rental and its key; ``ca_pem``: the operator CA the service's certificate must chain
    to. Raises `RenewalRefused` or `RenewalUnavailable` (see the module).
    """
    url = renewal_url(service_url, rental_id)
    status, body = await post_with_certificate(url, what="rental", cert_pem=cert_pem,
                                               key_pem=key_pem, ca_pem=ca_pem,
                                               timeout_s=timeout_s)
    return _answer(url, status, body)


def _describe(e: BaseException) -> str:
    if isinstance(e, ssl.SSLError):
        return f"TLS: {e.reason or e}".lower().replace("_", " ")
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _answer(url: str, status: int, body: bytes) -> RenewalAnswer:
    try:
        value: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        value = None
    if status in _REFUSALS:
        code = value.get("code") if isinstance(value, dict) else None
        message = value.get("message") if isinstance(value, dict) else None
        raise RenewalRefused(str(code or f"http_{status}"),
                             str(message or f"the rental service answered {status}"))
    if status != 200:
        raise RenewalUnavailable(f"{url}: the rental service answered {status}")
    if not isinstance(value, dict) or not isinstance(value.get("bundle"), str):
        raise RenewalUnavailable(f"{url}: the answer carries no bundle")
    try:
        return RenewalAnswer(base64.b64decode(value["bundle"], validate=True))
    except (binascii.Error, ValueError):
        raise RenewalUnavailable(f"{url}: the answer's bundle is not base64") from None
