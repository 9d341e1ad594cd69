"""The private tracker: admits rental holders by mutual TLS (pure core + trio/h11 shell).

Pure core: `parse_request_target`, `admit`, `Swarms` (over a `SwarmStore`),
`TrackerService` and the `encode_*` responses. Shell: `serve_tracker`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

# Every public name loads on first use (PEP 562): importing one module of this
# package, or the package itself, loads nothing else.
_LAZY = {
    "admit": "tracker.admission",
    "admit_scrape": "tracker.admission",
    "announced_info_hashes": "tracker.watched_files",
    "AnnounceRequest": "tracker.request",
    "AnnounceResult": "tracker.swarm",
    "Catalog": "tracker.catalog",
    "CertInfo": "tracker.admission",
    "ConfigError": "tracker.errors",
    "CrlError": "tracker.errors",
    "Decision": "tracker.admission",
    "encode_announce": "tracker.response",
    "encode_failure": "tracker.response",
    "encode_scrape": "tracker.response",
    "Event": "tracker.request",
    "LibraryError": "tracker.errors",
    "MalformedRequest": "tracker.errors",
    "MemoryStore": "tracker.memory_store",
    "NetworkMap": "tracker.locality",
    "OutageTolerantService": "tracker.redis_backend.outage",
    "Outcome": "tracker.service",
    "parse_request_target": "tracker.request",
    "PeerChange": "tracker.store",
    "ProbePolicy": "tracker.config",
    "ProbeRunner": "tracker.probe",
    "Reachability": "tracker.reachability",
    "ReachabilityTable": "tracker.reachability",
    "Reason": "tracker.admission",
    "RedisStore": "tracker.redis_backend.store",
    "RedisUnavailable": "tracker.redis_backend.store",
    "RequestKind": "tracker.service",
    "Role": "tracker.store",
    "RunningTracker": "tracker.server",
    "ScrapeRequest": "tracker.request",
    "serve_tracker": "tracker.server",
    "STORE_UNAVAILABLE": "tracker.redis_backend.outage",
    "StoreRefusal": "tracker.store",
    "StoreReply": "tracker.store",
    "SwarmCounts": "tracker.store",
    "SwarmPolicy": "tracker.config",
    "Swarms": "tracker.swarm",
    "SwarmStore": "tracker.store",
    "TlsSetupError": "tracker.errors",
    "TrackerConfig": "tracker.config",
    "TrackerError": "tracker.errors",
    "TrackerMetrics": "tracker.prometheus_metrics",
    "TrackerService": "tracker.service",
    "UnknownPath": "tracker.errors",
}

if TYPE_CHECKING:
    from tracker.admission import CertInfo, Decision, Reason, admit, admit_scrape
    from tracker.catalog import Catalog
    from tracker.config import ProbePolicy, SwarmPolicy, TrackerConfig
    from tracker.errors import (
        ConfigError,
        CrlError,
        LibraryError,
        MalformedRequest,
        TlsSetupError,
        TrackerError,
        UnknownPath,
    )
    from tracker.locality import NetworkMap
    from tracker.memory_store import MemoryStore
    from tracker.probe import ProbeRunner
    from tracker.prometheus_metrics import TrackerMetrics
    from tracker.reachability import Reachability, ReachabilityTable
    from tracker.redis_backend.outage import STORE_UNAVAILABLE, OutageTolerantService
    from tracker.redis_backend.store import RedisStore, RedisUnavailable
    from tracker.request import AnnounceRequest, Event, ScrapeRequest, parse_request_target
    from tracker.response import encode_announce, encode_failure, encode_scrape
    from tracker.server import RunningTracker, serve_tracker
    from tracker.service import Outcome, RequestKind, TrackerService
    from tracker.store import (
        PeerChange,
        Role,
        StoreRefusal,
        StoreReply,
        SwarmCounts,
        SwarmStore,
    )
    from tracker.swarm import AnnounceResult, Swarms
    from tracker.watched_files import announced_info_hashes

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
    "NetworkMap",
    "OutageTolerantService",
    "Outcome",
    "PeerChange",
    "ProbePolicy",
    "ProbeRunner",
    "Reachability",
    "ReachabilityTable",
    "Reason",
    "RedisStore",
    "RedisUnavailable",
    "RequestKind",
    "Role",
    "RunningTracker",
    "ScrapeRequest",
    "StoreRefusal",
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
