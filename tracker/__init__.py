"""The private tracker: admits rental holders by mutual TLS (pure core + trio/h11 shell).

Pure core: `parse_request_target`, `admit`, `Swarms` (over a `SwarmStore`),
`TrackerService` and the `encode_*` responses. Shell: `serve_tracker`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from certs.lazy import lazy_attributes

from .admission import CertInfo, Decision, Reason, admit, admit_scrape
from .catalog import Catalog, announced_info_hashes
from .config import SwarmPolicy, TrackerConfig
from .errors import (
    ConfigError,
    CrlError,
    LibraryError,
    MalformedRequest,
    TlsSetupError,
    TrackerError,
    UnknownPath,
)
from .memory_store import MemoryStore
from .request import AnnounceRequest, Event, ScrapeRequest, parse_request_target
from .response import encode_announce, encode_failure, encode_scrape
from .service import Outcome, RequestKind, TrackerService
from .store import PeerChange, Role, StoreReply, SwarmCounts, SwarmStore
from .swarm import AnnounceResult, Swarms

# Heavy parts (servers, Redis, plots) load on first use, so `peernode --help`
# and every other command do not pay for them.
_LAZY = {
    "OutageTolerantService": "redis_outage",
    "RedisStore": "redis_store",
    "RedisUnavailable": "redis_store",
    "RunningTracker": "server",
    "STORE_UNAVAILABLE": "redis_outage",
    "TrackerMetrics": "metrics",
    "serve_tracker": "server",
}

if TYPE_CHECKING:
    from .metrics import TrackerMetrics
    from .redis_outage import STORE_UNAVAILABLE, OutageTolerantService
    from .redis_store import RedisStore, RedisUnavailable
    from .server import RunningTracker, serve_tracker


__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "STORE_UNAVAILABLE",
    "AnnounceRequest",
    "AnnounceResult",
    "Catalog",
    "CertInfo",
    "ConfigError",
    "CrlError",
    "Decision",
    "Event",
    "LibraryError",
    "MalformedRequest",
    "MemoryStore",
    "OutageTolerantService",
    "Outcome",
    "PeerChange",
    "Reason",
    "RedisStore",
    "RedisUnavailable",
    "RequestKind",
    "Role",
    "RunningTracker",
    "ScrapeRequest",
    "StoreReply",
    "SwarmCounts",
    "SwarmPolicy",
    "SwarmStore",
    "Swarms",
    "TlsSetupError",
    "TrackerConfig",
    "TrackerError",
    "TrackerMetrics",
    "TrackerService",
    "UnknownPath",
    "admit",
    "admit_scrape",
    "announced_info_hashes",
    "encode_announce",
    "encode_failure",
    "encode_scrape",
    "parse_request_target",
    "serve_tracker",
]
