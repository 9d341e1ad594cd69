"""The alert table: every alert class in it converts to its event; others give None.

libtorrent's alert classes cannot be built from Python, so each converter is fed
a stand-in carrying the attributes the binding exposes (checked against the
real class); one real session then shows the lookup works on real alerts.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import libtorrent as lt
import pytest

from peernode.runtime.events import (
    ALERT_CONVERTERS,
    CacheFlushed,
    Event,
    ExternalAddressLearned,
    FileFailed,
    HashFailed,
    PeerBanned,
    PieceVerified,
    PortMapFailed,
    PortMapped,
    ResumeDataFailed,
    ResumeDataSaved,
    TorrentFailed,
    TorrentFinished,
    TorrentRemoved,
    TrackerFailed,
    TrackerReplied,
    alert_to_event,
    peer_sample,
)
from peernode.runtime.offload import PeerSample
from peernode.runtime.session_settings import (
    CLIENT_PEER_ID_PREFIX,
    ORIGIN_PEER_ID_PREFIX,
    make_session,
)


def _error(message: str, value: int = 111, category: str = "system") -> SimpleNamespace:
    return SimpleNamespace(message=lambda: message, value=lambda: value,
                           category=lambda: SimpleNamespace(name=lambda: category))


_PARAMS = lt.add_torrent_params()
_NAME = {"torrent_name": "film"}

# alert class -> (stand-in attributes, expected event)
CASES: dict[type[Any], tuple[dict[str, Any], Event]] = {
    lt.piece_finished_alert: ({"piece_index": 4}, PieceVerified("film", 4)),
    lt.torrent_finished_alert: ({}, TorrentFinished("film")),
    lt.cache_flushed_alert: ({}, CacheFlushed("film")),
    lt.save_resume_data_alert: (
        {"params": _PARAMS}, ResumeDataSaved("film", lt.write_resume_data_buf(_PARAMS))),
    lt.save_resume_data_failed_alert: (
        {"message": lambda: "no metadata"}, ResumeDataFailed("film", "no metadata")),
    lt.hash_failed_alert: ({"piece_index": 5}, HashFailed("film", 5)),
    lt.peer_ban_alert: ({"endpoint": ("::1", 6881)}, PeerBanned("film", "[::1]:6881")),
    lt.tracker_reply_alert: ({"num_peers": 7}, TrackerReplied("film", 7)),
    lt.tracker_error_alert: (
        {"failure_reason": lambda: "", "error": _error("connection refused"), "times_in_row": 2},
        TrackerFailed("film", "connection refused", 2)),
    lt.file_error_alert: (
        {"filename": lambda: "/out/film", "error": _error("No space left on device")},
        FileFailed("film", "/out/film: No space left on device")),
    lt.torrent_error_alert: ({"error": _error("bad")},
                             TorrentFailed("film", "bad")),
    lt.torrent_removed_alert: ({}, TorrentRemoved("film")),
    lt.portmap_alert: (
        {"map_transport": "natpmp", "map_protocol": "tcp", "external_port": 40123},
        PortMapped("natpmp", "tcp", 40123)),
    lt.portmap_error_alert: (
        {"map_transport": "upnp", "error": _error("no router")},
        PortMapFailed("upnp", "no router")),
    lt.external_ip_alert: ({"external_address": "203.0.113.7"},
                           ExternalAddressLearned("203.0.113.7")),
}


SESSION_ALERTS = {lt.portmap_alert, lt.portmap_error_alert, lt.external_ip_alert}


def test_an_announce_skipped_on_one_listen_socket_is_no_failure() -> None:
    """libtorrent error 180: a socket that cannot route to the tracker is skipped while
    another announces (a node on every interface); reporting it would cry wolf."""
    stand_in = SimpleNamespace(torrent_name="film", failure_reason=lambda: "",
                               error=_error("announce skipped", 180, "libtorrent"),
                               times_in_row=1)
    assert ALERT_CONVERTERS[lt.tracker_error_alert](stand_in) is None


def test_every_alert_in_the_table_has_a_case() -> None:
    assert set(CASES) == set(ALERT_CONVERTERS)


@pytest.mark.parametrize("alert_class", list(CASES), ids=lambda c: c.__name__)
def test_every_alert_in_the_table_converts(alert_class: type[Any]) -> None:
    attributes, expected = CASES[alert_class]
    session_wide = alert_class in SESSION_ALERTS  # no torrent: no torrent_name
    for name in (*attributes, *(() if session_wide else ("torrent_name",))):
        assert hasattr(alert_class, name), f"{alert_class.__name__} has no {name}"
    stand_in = SimpleNamespace(**_NAME, **attributes)
    assert ALERT_CONVERTERS[alert_class](stand_in) == expected


def test_the_tracker_s_own_reason_comes_first() -> None:
    tracker = SimpleNamespace(**_NAME, failure_reason=lambda: "rental has expired",
                              error=_error("x"), times_in_row=1)
    assert ALERT_CONVERTERS[lt.tracker_error_alert](tracker) == \
        TrackerFailed("film", "rental has expired", 1)
    ipv4 = SimpleNamespace(**_NAME, endpoint=("127.0.0.9", 1))
    assert ALERT_CONVERTERS[lt.peer_ban_alert](ipv4) == PeerBanned("film", "127.0.0.9:1")


def test_a_peer_sample_names_both_ends_and_tells_the_origin_apart() -> None:
    attributes = {"ip": ("::ffff:10.0.0.9", 6881), "total_download": 123,
                  "pid": lt.sha1_hash(ORIGIN_PEER_ID_PREFIX + b"x" * 12)}
    for name in attributes:
        assert hasattr(lt.peer_info, name), f"peer_info has no {name}"
    assert callable(lt.peer_info.local_endpoint)
    origin = SimpleNamespace(**attributes, local_endpoint=lambda: ("::1", 40000))
    assert peer_sample(origin) == PeerSample(  # type: ignore[arg-type]
        "[::ffff:10.0.0.9]:6881", "[::1]:40000", "10.0.0.9", True, 123)
    client = SimpleNamespace(ip=("2001:db8::7", 1), total_download=0,
                             pid=lt.sha1_hash(CLIENT_PEER_ID_PREFIX + b"y" * 12),
                             local_endpoint=lambda: ("10.0.0.1", 2))
    assert peer_sample(client) == PeerSample(  # type: ignore[arg-type]
        "[2001:db8::7]:1", "10.0.0.1:2", "2001:db8::7", False, 0)


def test_the_alert_mask_leaves_block_alerts_out() -> None:
    """Offload comes from per-peer counters: block alerts (one per 16 KiB) stay off, also
    through the deprecated progress category that would turn them back on."""
    mask = make_session("127.0.0.1").get_settings()["alert_mask"]
    category = lt.alert.category_t
    assert not mask & int(category.block_progress_notification)
    assert not mask & int(category.progress_notification)
    assert mask & int(category.piece_progress_notification)


def test_unknown_alerts_give_none() -> None:
    assert alert_to_event(SimpleNamespace(**_NAME)) is None  # type: ignore[arg-type]


def test_real_alerts_are_looked_up_by_their_class(tmp_path: Path) -> None:
    """A plain torrent in a real session: resume data and removal convert, the rest is None."""
    (tmp_path / "film").write_bytes(b"\0" * 40_000)
    fs = lt.file_storage()
    lt.add_files(fs, str(tmp_path / "film"))
    ct = lt.create_torrent(fs, 16 * 1024, flags=lt.create_torrent.v2_only)
    lt.set_piece_hashes(ct, str(tmp_path))
    ti = lt.torrent_info(lt.bencode(ct.generate()))
    session = make_session("127.0.0.1")
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(tmp_path / "out")
    handle = session.add_torrent(atp)
    handle.save_resume_data(lt.save_resume_flags_t.save_info_dict)
    events: list[Event] = []
    unknown: list[str] = []

    def pump_until(kind: type[Any]) -> None:
        for _ in range(100):
            session.wait_for_alert(100)
            for alert in session.pop_alerts():
                event = alert_to_event(alert)
                if event is None:
                    unknown.append(type(alert).__name__)
                else:
                    events.append(event)
            if any(isinstance(e, kind) for e in events):
                return
        raise AssertionError(f"no {kind.__name__} in {events}")

    pump_until(ResumeDataSaved)
    handle.flush_cache()  # what Download.complete asks before a reader opens the file
    pump_until(CacheFlushed)
    session.remove_torrent(handle)
    pump_until(TorrentRemoved)
    assert "add_torrent_alert" in unknown
    [saved] = [e for e in events if isinstance(e, ResumeDataSaved)]
    assert saved.film_id == "film"
    assert lt.read_resume_data(saved.resume_data).save_path == str(tmp_path / "out")
