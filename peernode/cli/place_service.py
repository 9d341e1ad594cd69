"""`peernode place --service URL`: hosting credentials issued and revoked by the rental
service (``POST /v1/hostings``, ``POST /v1/hostings/{id}/revoke``) instead of the CA on
disk, so that they live in its store, renew over mutual TLS and reach its CRL.

Blocking HTTPS (stdlib), TLS verified against the operator CA's certificate; the shop
(operator) key is read from a file, never from the command line. Every refusal becomes
a one-line `PeernodeError` with the service's code and message.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from peernode.errors import PeernodeError

__all__ = ["ServiceIssuer"]

_TIMEOUT_S = 30.0


class ServiceIssuer:
    """Issues and revokes hosting credentials through a rental service."""

    def __init__(self, url: str, key_file: Path, ca_file: Path) -> None:
        if not url.startswith("https://"):
            raise PeernodeError(f"--service {url!r}: give the rental service's https:// URL")
        self.url = url.rstrip("/")
        try:
            key = key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise PeernodeError(f"cannot read the service key file {key_file}: {e}") from None
        if not key or any(c.isspace() for c in key):
            raise PeernodeError(f"service key file {key_file} holds no key")
        self._key = key
        try:
            self._context = ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as e:
            raise PeernodeError(f"cannot use {ca_file} to check the service: {e}") from None

    def _post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None
              ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(  # noqa: S310 (https only, checked above)
            self.url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=_TIMEOUT_S, context=self._context
            ) as reply:
                value = json.loads(reply.read())
        except urllib.error.HTTPError as e:
            raise PeernodeError(f"rental service refused {path}: {_refusal(e)}") from None
        except (OSError, ValueError) as e:
            raise PeernodeError(f"cannot reach the rental service at {self.url}: {e}") from None
        if not isinstance(value, dict):
            raise PeernodeError(f"rental service answered {path} with no JSON object")
        return value

    def issue(self, film_id: str, name: str, node_pub_pem: str, hours: float,
              generation: int) -> tuple[int, bytes]:
        """A hosting for ``name``'s key; (hosting id = serial, credential PEM).

        The Idempotency-Key names the film, the host, its key and how many of its
        hostings of this film were dropped before: a rerun after a failure gets the
        same hosting back, a host placed again after a drop gets a new one.
        """
        digest = hashlib.sha256(
            f"{film_id}\n{name}\n{node_pub_pem}\n{generation}".encode()
        ).hexdigest()[:32]
        value = self._post(
            "/v1/hostings",
            {"film_id": film_id, "node_public_key": node_pub_pem, "days": hours / 24},
            idempotency_key=f"place-{digest}",
        )
        try:
            return int(value["hosting_id"]), str(value["credential"]).encode("ascii")
        except (KeyError, ValueError, UnicodeEncodeError):
            raise PeernodeError("rental service answered a hosting without its credential"
                                ) from None

    def revoke(self, hosting_id: int, reason: str) -> None:
        """Revoke a hosting (the service puts it on its CRL before answering)."""
        self._post(f"/v1/hostings/{hosting_id}/revoke", {"reason": reason})


def _refusal(error: urllib.error.HTTPError) -> str:
    try:
        value = json.loads(error.read())
        return f"{error.code} {value['code']}: {value['message']}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{error.code} {error.reason}"
