"""Parsing of announce and scrape request targets into typed requests (pure, no I/O).

The query string carries raw bytes (``info_hash``, ``peer_id``) percent-encoded, so
each ``key=value`` pair is decoded with `urllib.parse.unquote_to_bytes`, never as text.
Decoding follows application/x-www-form-urlencoded: ``+`` is a space, as Python's
``urlencode`` writes it; libtorrent percent-encodes every reserved byte, so a literal
``+`` never reaches us from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from tracker.errors import MalformedRequest, UnknownPath

__all__ = [
    "ANNOUNCE_PATH",
    "MAX_SCRAPE_HASHES",
    "SCRAPE_PATH",
    "AnnounceRequest",
    "Event",
    "ScrapeRequest",
    "parse_announce_query",
    "parse_request_target",
    "parse_scrape_query",
]

ANNOUNCE_PATH = b"/announce"
SCRAPE_PATH = b"/scrape"
MAX_SCRAPE_HASHES = 64

_HASH_LEN = 20
_MAX_COUNTER = 2**63 - 1  # the largest value that fits the swarm store's u64 counters
_MAX_DIGITS = 19
_MAX_KEY_LEN = 64


class Event(enum.Enum):
    """The ``event`` parameter; ``NONE`` is a regular interval announce."""

    NONE = ""
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"
    PAUSED = "paused"  # BEP 21: the peer is a partial seed (upload only)


_EVENTS = {e.value.encode(): e for e in Event} | {b"empty": Event.NONE}


@dataclass(frozen=True, slots=True)
class AnnounceRequest:
    """One BEP 3 announce.

    Byte counters are totals since the peer's ``started`` event. ``numwant`` is
    ``None`` when the client did not ask for a number of peers. The client's
    ``ip``/``ipv4``/``ipv6`` parameters are deliberately not kept: the peer's
    address is the connection's.
    """

    info_hash: bytes
    peer_id: bytes
    port: int
    uploaded: int
    downloaded: int
    left: int
    corrupt: int = 0
    event: Event = Event.NONE
    numwant: int | None = None
    compact: bool = True
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class ScrapeRequest:
    """One BEP 48 scrape; an empty ``info_hashes`` asks for every admitted torrent."""

    info_hashes: tuple[bytes, ...]


def _pairs(query: bytes) -> list[tuple[str, bytes]]:
    """Split a query string into decoded ``(name, raw value)`` pairs, in order."""
    out: list[tuple[str, bytes]] = []
    for part in query.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        try:
            key = _unquote(name).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedRequest("invalid query parameter name") from None
        out.append((key, _unquote(value)))
    return out


def _unquote(raw: bytes) -> bytes:
    # most names and values (numbers, events) need no decoding: skip the call for them
    if b"%" in raw or b"+" in raw:
        return unquote_to_bytes(raw.replace(b"+", b" "))
    return raw


def _hash20(name: str, value: bytes) -> bytes:
    if len(value) != _HASH_LEN:
        raise MalformedRequest(f"invalid {name}: must be 20 bytes", param=name)
    return value


def _count(name: str, value: bytes, *, low: int = 0, high: int = _MAX_COUNTER) -> int:
    # isdigit() on bytes is ASCII-only, so signs, spaces and non-ASCII digits are refused
    if not value.isdigit() or len(value) > _MAX_DIGITS:
        raise MalformedRequest(f"invalid {name}: must be a non-negative integer", param=name)
    n = int(value)
    if not low <= n <= high:
        raise MalformedRequest(f"invalid {name}: must be in {low}..{high}", param=name)
    return n


def _flag(name: str, value: bytes) -> bool:
    if value not in (b"0", b"1"):
        raise MalformedRequest(f"invalid {name}: must be 0 or 1", param=name)
    return value == b"1"


_REQUIRED = ("info_hash", "peer_id", "port", "uploaded", "downloaded", "left")
_KNOWN = frozenset((*_REQUIRED, "corrupt", "event", "numwant", "compact", "key"))


def parse_announce_query(query: bytes) -> AnnounceRequest:
    """Parse the query string of an announce (the part after ``?``).

    Unknown parameters (``ip``, ``ipv4``, ``ipv6``, ``no_peer_id``, ``supportcrypto``...)
    are ignored. Raises `MalformedRequest` naming the first bad, missing or repeated
    parameter.
    """
    raw: dict[str, bytes] = {}
    for name, value in _pairs(query):
        if name in _KNOWN:
            if name in raw:
                raise MalformedRequest(f"repeated parameter {name}", param=name)
            raw[name] = value
    for name in _REQUIRED:
        if name not in raw:
            raise MalformedRequest(f"missing parameter {name}", param=name)
    event = _EVENTS.get(raw.get("event", b""))
    if event is None:
        raise MalformedRequest(
            "invalid event: must be started, completed, stopped, paused or empty", param="event"
        )
    key = raw.get("key")
    if key is not None and len(key) > _MAX_KEY_LEN:
        raise MalformedRequest(f"invalid key: longer than {_MAX_KEY_LEN} bytes", param="key")
    numwant = raw.get("numwant")
    compact = raw.get("compact")
    return AnnounceRequest(
        info_hash=_hash20("info_hash", raw["info_hash"]),
        peer_id=_hash20("peer_id", raw["peer_id"]),
        port=_count("port", raw["port"], low=1, high=65535),
        uploaded=_count("uploaded", raw["uploaded"]),
        downloaded=_count("downloaded", raw["downloaded"]),
        left=_count("left", raw["left"]),
        corrupt=_count("corrupt", raw["corrupt"]) if "corrupt" in raw else 0,
        event=event,
        numwant=None if numwant is None else _count("numwant", numwant),
        compact=True if compact is None else _flag("compact", compact),
        key=key,
    )


def parse_scrape_query(query: bytes, *, max_hashes: int = MAX_SCRAPE_HASHES) -> ScrapeRequest:
    """Parse the query string of a scrape: zero or more ``info_hash`` parameters.

    Duplicates are dropped (first occurrence kept). Raises `MalformedRequest` for a
    hash that is not 20 bytes or for more than ``max_hashes`` distinct hashes.
    """
    hashes: dict[bytes, None] = {}
    for name, value in _pairs(query):
        if name == "info_hash":
            hashes[_hash20(name, value)] = None
            if len(hashes) > max_hashes:
                raise MalformedRequest(
                    f"too many info_hash parameters: at most {max_hashes}", param=name
                )
    return ScrapeRequest(tuple(hashes))


def parse_request_target(
    target: bytes, *, max_scrape_hashes: int = MAX_SCRAPE_HASHES
) -> AnnounceRequest | ScrapeRequest:
    """Parse an HTTP request target such as ``/announce?info_hash=...``.

    Raises `UnknownPath` for a path other than ``/announce`` or ``/scrape``, and
    `MalformedRequest` for a bad query.
    """
    path, _, query = target.partition(b"?")
    if path == ANNOUNCE_PATH:
        return parse_announce_query(query)
    if path == SCRAPE_PATH:
        return parse_scrape_query(query, max_hashes=max_scrape_hashes)
    raise UnknownPath("unknown path: use /announce or /scrape")
