"""libtorrent alerts -> typed events, by a table (like h11's state table).

The alert pump hands every alert to `alert_to_event`; the rest of the node
only sees the frozen dataclasses of `peernode.runtime.torrent_events` (re-exported
here), never libtorrent's alert classes. To handle another alert, write its
converter and add one row to `ALERT_CONVERTERS`. `peer_sample` converts the
per-peer counters the offload accounting samples (the binding cannot hand
out a ``peer_info_alert``'s list, so they are read with ``get_peer_info``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libtorrent as lt

from peernode.runtime.offload import PeerSample, normal_address
from peernode.runtime.session_events import (
    ExternalAddressLearned,
    PortMapFailed,
    PortMapped,
    SessionEvent,
)
from peernode.runtime.session_settings import is_origin_peer_id
from peernode.runtime.torrent_events import (
    CacheFlushed,
    FileFailed,
    HashFailed,
    PeerBanned,
    PieceVerified,
    ResumeDataFailed,
    ResumeDataSaved,
    TorrentEvent,
    TorrentFailed,
    TorrentFinished,
    TorrentRemoved,
    TrackerFailed,
    TrackerReplied,
)

__all__ = [
    "ALERT_CONVERTERS",
    "CacheFlushed",
    "Event",
    "ExternalAddressLearned",
    "FileFailed",
    "HashFailed",
    "PeerBanned",
    "PieceVerified",
    "PortMapFailed",
    "PortMapped",
    "ResumeDataFailed",
    "ResumeDataSaved",
    "TorrentFailed",
    "TorrentFinished",
    "TorrentRemoved",
    "TrackerFailed",
    "TrackerReplied",
    "alert_to_event",
    "peer_sample",
]

# Every event the node's dispatcher receives: a torrent's, or the session's.
Event = TorrentEvent | SessionEvent


def _endpoint(a: Any) -> str:
    ip, port = a.endpoint
    return _hostport(ip, port)


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def peer_sample(p: lt.peer_info) -> PeerSample:
    """The offload counter's copy of one connected peer (`torrent_handle.get_peer_info`)."""
    ip, port = p.ip
    local_ip, local_port = p.local_endpoint()
    return PeerSample(_hostport(ip, port), _hostport(local_ip, local_port), normal_address(ip),
                      is_origin_peer_id(p.pid.to_bytes()), int(p.total_download))


# libtorrent's errors::announce_skipped: a node listening on every interface
# announces from each listen socket, and one that cannot route to the tracker
# (an IPv6 socket and an IPv4 tracker, loopback and a remote one) is skipped
# while another announces; that is no failure to report.
_ANNOUNCE_SKIPPED = 180


def _tracker_failed(a: Any) -> Event | None:
    error = a.error
    if error.value() == _ANNOUNCE_SKIPPED and error.category().name() == "libtorrent":
        return None
    return TrackerFailed(a.torrent_name, a.failure_reason() or error.message(), a.times_in_row)


# Alert class -> its event. Looked up by the alert's exact class: the binding
# always hands out the most derived one, and a dict lookup costs less than a
# chain of isinstance checks.
ALERT_CONVERTERS: dict[type[Any], Callable[[Any], Event | None]] = {
    lt.piece_finished_alert: lambda a: PieceVerified(a.torrent_name, a.piece_index),
    lt.torrent_finished_alert: lambda a: TorrentFinished(a.torrent_name),
    lt.cache_flushed_alert: lambda a: CacheFlushed(a.torrent_name),
    lt.save_resume_data_alert:
        lambda a: ResumeDataSaved(a.torrent_name, lt.write_resume_data_buf(a.params)),
    lt.save_resume_data_failed_alert: lambda a: ResumeDataFailed(a.torrent_name, a.message()),
    lt.hash_failed_alert: lambda a: HashFailed(a.torrent_name, a.piece_index),
    lt.peer_ban_alert: lambda a: PeerBanned(a.torrent_name, _endpoint(a)),
    lt.tracker_reply_alert: lambda a: TrackerReplied(a.torrent_name, a.num_peers),
    lt.tracker_error_alert: _tracker_failed,
    lt.file_error_alert:
        lambda a: FileFailed(a.torrent_name, f"{a.filename()}: {a.error.message()}"),
    lt.torrent_error_alert: lambda a: TorrentFailed(a.torrent_name, a.error.message()),
    lt.torrent_removed_alert: lambda a: TorrentRemoved(a.torrent_name),
    # session-wide: libtorrent calls the NAT-PMP/UPnP choice map_transport, tcp/udp map_protocol
    lt.portmap_alert:
        lambda a: PortMapped(str(a.map_transport), str(a.map_protocol), a.external_port),
    lt.portmap_error_alert: lambda a: PortMapFailed(str(a.map_transport), a.error.message()),
    lt.external_ip_alert: lambda a: ExternalAddressLearned(str(a.external_address)),
}


def alert_to_event(a: lt.alert) -> Event | None:
    """The typed event for an alert the node cares about, else None."""
    convert = ALERT_CONVERTERS.get(type(a))
    return None if convert is None else convert(a)
