"""What the daemon keeps in its state directory, as bytes, without touching files.

Formats are JSON (readable by support staff, tiny): one `RentalRecord` per
download next to its torrent and rental bundle, and one settings object.
Decoding rejects unknown keys and wrong types with `PeernodeError`, so a
damaged file is reported, never half-applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certs import CertsError, validate_film_id
from peernode.daemon.api import ApiError, DaemonSettings, parse_settings_update
from peernode.errors import PeernodeError
from support.hostport import format_hostport, parse_hostport

__all__ = [
    "RentalRecord",
    "decode_record",
    "decode_settings",
    "encode_record",
    "encode_settings",
]


@dataclass(frozen=True)
class RentalRecord:
    """One download the daemon holds: enough to add it again after a restart.

    The node key stays where the client keeps it (``node_key_path``); the daemon
    never copies a private key.
    """

    download_id: str
    node_key_path: str
    peers: tuple[tuple[str, int], ...] = ()
    user_paused: bool = False
    added_at: datetime | None = None


def encode_record(record: RentalRecord) -> bytes:
    """The record as UTF-8 JSON."""
    return json.dumps({
        "download_id": record.download_id,
        "node_key_path": record.node_key_path,
        "peers": [format_hostport(h, p) for h, p in record.peers],
        "user_paused": record.user_paused,
        "added_at": record.added_at.isoformat() if record.added_at else None,
    }, indent=1).encode()


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PeernodeError(f"{what} is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise PeernodeError(f"{what} is not a JSON object")
    return obj


def decode_record(data: bytes) -> RentalRecord:
    """Parse `encode_record` output; `PeernodeError` if damaged."""
    obj = _load(data, "rental record")
    try:
        peers = [parse_hostport(str(text)) for text in obj["peers"]]
        added = obj.get("added_at")
        record = RentalRecord(
            download_id=str(obj["download_id"]),
            node_key_path=str(obj["node_key_path"]),
            peers=tuple(peers),
            user_paused=bool(obj["user_paused"]),
            added_at=datetime.fromisoformat(added) if added else None,
        )
    except (KeyError, TypeError, ValueError, PeernodeError) as e:
        raise PeernodeError(f"rental record is damaged: {e}") from None
    if set(obj) - {"download_id", "node_key_path", "peers", "user_paused", "added_at"}:
        raise PeernodeError("rental record has unknown keys")
    try:
        validate_film_id(record.download_id)
    except CertsError:
        raise PeernodeError(
            f"rental record has an invalid download id {record.download_id!r}"
        ) from None
    return record


def encode_settings(settings: DaemonSettings) -> bytes:
    """The settings as UTF-8 JSON."""
    return json.dumps(settings.to_json(), indent=1).encode()


def decode_settings(data: bytes) -> DaemonSettings:
    """Parse `encode_settings` output; `PeernodeError` if damaged."""
    try:
        return parse_settings_update(_load(data, "settings file"), DaemonSettings())
    except ApiError as e:
        raise PeernodeError(f"settings file: {e.message}") from None
