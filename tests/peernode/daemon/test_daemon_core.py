"""The daemon's core: routes, request bodies, state formats, events, the operation table.

The operation table is driven through `Daemon.call` over a stand-in node (no
libtorrent session), with trio's MockClock for the time it reports.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from peernode.daemon import api
from peernode.daemon.api import (
    ERROR_STATUS,
    PUBLIC_OPERATIONS,
    ApiError,
    DaemonSettings,
    Route,
    parse_rental_request,
    parse_settings_update,
    route_request,
)
from peernode.daemon.controller import OPERATIONS, Daemon
from peernode.daemon.events import events_between, failed_view, format_sse, seeding_action
from peernode.daemon.openapi import openapi_document
from peernode.daemon.records import (
    RentalRecord,
    decode_record,
    decode_settings,
    encode_record,
    encode_settings,
)
from peernode.daemon.state_dir import StateStore
from peernode.errors import PeernodeError
from peernode.runtime.hosting_policy import HostingPolicy
from peernode.runtime.node import Node

HOSTING_OFF = {"enabled": False, "disk_quota_bytes": 0, "upload_rate_bps": 0,
               "download_rate_bps": 0, "hours": ""}


@pytest.mark.parametrize(("method", "target", "expected"), [
    ("GET", "/v1/health", Route("health")),
    ("POST", "/v1/rentals", Route("add_rental")),
    ("GET", "/v1/downloads/", Route("list_downloads")),
    ("GET", "/v1/downloads/film-1", Route("get_download", "film-1")),
    ("DELETE", "/v1/downloads/film-1?delete_files=true",
     Route("delete_download", "film-1", (("delete_files", "true"),))),
    ("POST", "/v1/downloads/film-1/pause", Route("pause", "film-1")),
    ("GET", "/v1/downloads/film-1/playback", Route("playback", "film-1")),
    ("PUT", "/v1/settings", Route("put_settings")),
    ("GET", "/openapi.json", Route("openapi")),
])
def test_routes(method: str, target: str, expected: Route) -> None:
    assert route_request(method, target) == expected


@pytest.mark.parametrize(("method", "target", "code"), [
    ("GET", "/v1/downloads/a/b/c", "not_found"),
    ("GET", "/", "not_found"),
    ("PATCH", "/v1/settings", "method_not_allowed"),
    ("GET", "/v1/rentals", "method_not_allowed"),
])
def test_bad_routes(method: str, target: str, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        route_request(method, target)
    assert caught.value.code == code
    assert caught.value.status == ERROR_STATUS[code]


def test_flag_accepts_only_booleans() -> None:
    assert Route("x", query=(("delete_files", "true"),)).flag("delete_files")
    assert not Route("x").flag("delete_files")
    with pytest.raises(ApiError) as caught:
        Route("x", query=(("delete_files", "maybe"),)).flag("delete_files")
    assert caught.value.field == "delete_files"


def _body(**fields: Any) -> bytes:
    base = {"torrent": base64.b64encode(b"t").decode(), "rental": base64.b64encode(b"r").decode(),
            "node_key_path": "/keys/node.key"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def test_rental_request_parses() -> None:
    request = parse_rental_request(_body(peers=["127.0.0.4:6881"]))
    assert request.torrent == b"t"
    assert request.rental == b"r"
    assert request.peers == (("127.0.0.4", 6881),)


@pytest.mark.parametrize(("fields", "field"), [
    ({"torrent": None}, "torrent"),
    ({"torrent": 5}, "torrent"),
    ({"rental": "not base64!"}, "rental"),
    ({"node_key_path": "relative/key"}, "node_key_path"),
    ({"peers": "127.0.0.1:1"}, "peers"),
    ({"peers": ["no-port"]}, "peers"),
    ({"extra": 1}, "extra"),
])
def test_rental_request_names_the_bad_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_rental_request(_body(**fields))
    assert caught.value.code == "invalid_field"
    assert caught.value.field == field


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe", b"null"])
def test_rental_request_not_a_json_object(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        parse_rental_request(body)
    assert caught.value.code == "invalid_json"


def test_settings_update_keeps_omitted_fields() -> None:
    current = DaemonSettings(upload_rate_bps=1, download_rate_bps=2, seed_when_complete=True)
    updated = parse_settings_update({"download_rate_bps": 5}, current)
    assert updated == DaemonSettings(1, 5, True)
    for bad in ({"upload_rate_bps": 2**31}, {"upload_rate_bps": 1.5}, {"x": 1},
                {"seed_when_complete": 1}):
        with pytest.raises(ApiError):
            parse_settings_update(bad, current)


@given(
    download_id=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
    key_path=st.text(min_size=1, max_size=40).map(lambda s: "/" + s),
    peers=st.lists(st.tuples(st.sampled_from(["127.0.0.1", "::1", "example.org"]),
                             st.integers(1, 65535)), max_size=4),
    paused=st.booleans(),
)
def test_record_round_trip(download_id: str, key_path: str, peers: list[tuple[str, int]],
                           paused: bool) -> None:
    record = RentalRecord(download_id, key_path, tuple(peers), paused,
                          datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert decode_record(encode_record(record)) == record


@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.booleans())
def test_settings_round_trip(up: int, down: int, seed: bool) -> None:
    settings = DaemonSettings(up, down, seed)
    assert decode_settings(encode_settings(settings)) == settings


@pytest.mark.parametrize("data", [b"", b"[]", b'{"download_id": "x"}',
                                  b'{"download_id": "x", "node_key_path": "/k", "peers": [],'
                                  b' "user_paused": false, "evil": 1}'])
def test_damaged_record_is_refused(data: bytes) -> None:
    with pytest.raises(PeernodeError):
        decode_record(data)


def test_damaged_settings_are_refused() -> None:
    with pytest.raises(PeernodeError, match="settings file"):
        decode_settings(b'{"upload_rate_bps": "fast"}')


def _view(state: str, *, complete: bool = False) -> dict[str, Any]:
    view = failed_view("film", state, "boom")
    view["complete"] = complete
    return view


def test_events_on_transitions_only() -> None:
    downloading = _view("downloading")
    assert [k for k, _ in events_between(None, downloading)] == ["progress"]
    assert [k for k, _ in events_between(downloading, downloading)] == ["progress"]
    seeding = _view("seeding", complete=True)
    assert [k for k, _ in events_between(downloading, seeding)] == ["completed"]
    assert events_between(seeding, seeding) == []
    error = _view("error")
    assert events_between(downloading, error) == [
        ("error", {"id": "film", "code": "download_failed", "message": "boom"})]
    assert events_between(error, error) == []
    expired = _view("expired")
    assert [k for k, _ in events_between(seeding, expired)] == ["rental-expired"]
    assert events_between(expired, expired) == []
    assert events_between(_view("paused"), _view("paused")) == []


def test_sse_frame() -> None:
    frame = format_sse("completed", {"id": "film"}, 7)
    assert frame == b'id: 7\nevent: completed\ndata: {"id":"film"}\n\n'


def test_openapi_names_every_error_code() -> None:
    document = openapi_document()
    codes = document["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert set(codes) == set(ERROR_STATUS)


def test_checked_in_openapi_json_matches_the_module() -> None:
    """peernode/openapi.json is for client code generators; it must not drift.

    Regenerate: .venv/bin/python -c "import json; from peernode.daemon.openapi import
    openapi_document as d; print(json.dumps(d(), indent=2, sort_keys=True))" > peernode/openapi.json
    """
    from pathlib import Path

    import peernode

    checked_in = Path(peernode.__file__).with_name("openapi.json").read_text()
    assert json.loads(checked_in) == openapi_document()


@pytest.mark.parametrize(("state", "complete", "seed", "user_paused", "action"), [
    ("downloading", False, False, False, None),
    ("seeding", True, False, False, "pause"),
    ("seeding", True, True, False, None),
    ("completed", True, True, False, "resume"),
    ("completed", True, True, True, None),  # the customer paused it: stays paused
    ("completed", True, False, False, None),
    ("expired", True, True, False, None),
])
def test_seeding_policy(state: str, complete: bool, seed: bool, user_paused: bool,
                        action: str | None) -> None:
    view = _view(state, complete=complete)
    assert seeding_action(view, seed_when_complete=seed, user_paused=user_paused) == action


# -- the operation table, over a stand-in node ------------------------------------------


class _Session:
    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    def apply_settings(self, pack: dict[str, Any]) -> None:
        self.applied.append(dict(pack))


class _Node:
    """What `Daemon` uses of a `Node` when it holds no download."""

    def __init__(self, ssl_port: int) -> None:
        self.ssl_port = ssl_port
        self.session = _Session()
        self.downloads: dict[str, object] = {}
        self.port_mapping: dict[str, object] = {"state": "disabled"}
        self._hosting = _Hosting()

    def set_port_mapping(self, enabled: bool) -> None:
        self.port_mapping = {"state": "pending" if enabled else "disabled"}

    @property
    def hosting(self) -> _Hosting:
        return self._hosting


class _Hosting:
    """What `Daemon` uses of `Node.hosting`: the owner's policy."""

    def __init__(self) -> None:
        self.policy = HostingPolicy()

    def set_policy(self, policy: HostingPolicy) -> None:
        self.policy = policy


def _daemon(tmp_path: Path, nursery: trio.Nursery, *, ssl_port: int = 6881) -> Daemon:
    node = cast(Node, _Node(ssl_port))
    return Daemon(node, StateStore(tmp_path / "state"), nursery,
                  wall_clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))


def test_every_routed_operation_has_a_handler() -> None:
    """Each operation `route_request` can name is the daemon's, or the HTTP layer's own."""
    routed = {op for methods in api._ROUTES.values() for op in methods.values()}
    http_layer = PUBLIC_OPERATIONS | {"events"}  # openapi.json and the SSE stream
    assert routed - http_layer == OPERATIONS


async def test_health_reports_uptime_on_the_injected_clock(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        await trio.sleep(12.25)
        assert await daemon.call(Route("health"), b"") == (200, {
            "status": "ok", "downloads": 0, "ssl_port": 6881, "uptime_s": 12.25,
            "port_mapping": {"state": "pending"}})
        nursery.cancel_scope.cancel()


async def test_health_is_degraded_without_an_ssl_socket(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        _, health = await _daemon(tmp_path, nursery, ssl_port=0).call(Route("health"), b"")
        assert health["status"] == "degraded"
        nursery.cancel_scope.cancel()


async def test_settings_are_applied_saved_and_read_back(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        status, settings = await daemon.call(
            Route("put_settings"), b'{"upload_rate_bps": 1000, "seed_when_complete": false}')
        assert (status, settings) == (200, {"upload_rate_bps": 1000, "download_rate_bps": 0,
                                            "seed_when_complete": False,
                                            "port_mapping": True,
                                            "hosting": HOSTING_OFF})
        assert await daemon.call(Route("get_settings"), b"") == (200, settings)
        node = cast(_Node, daemon.node)
        assert node.session.applied[-1] == {"upload_rate_limit": 1000, "download_rate_limit": 0}
        assert StateStore(tmp_path / "state").settings() == DaemonSettings(1000, 0, False)
        with pytest.raises(ApiError) as refused:
            await daemon.call(Route("put_settings"), b'{"upload_rate_bps": -1}')
        assert (refused.value.code, refused.value.field) == ("invalid_field", "upload_rate_bps")
        assert (await daemon.call(Route("get_settings"), b""))[1] == settings
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("operation", ["get_download", "pause", "resume", "delete_download",
                                       "playback"])
async def test_operations_on_an_unknown_download_are_not_found(
    tmp_path: Path, operation: str
) -> None:
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        with pytest.raises(ApiError) as refused:
            await daemon.call(Route(operation, "no-such-film"), b"")
        assert refused.value.code == "not_found"
        assert "no-such-film" in refused.value.message
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("operation", ["events", "openapi", "launch_missiles"])
async def test_operations_the_daemon_does_not_perform_are_not_found(
    tmp_path: Path, operation: str
) -> None:
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        with pytest.raises(ApiError) as refused:
            await daemon.call(Route(operation), b"")
        assert refused.value.code == "not_found"
        nursery.cancel_scope.cancel()


async def test_list_and_bad_rental_bodies(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        assert await daemon.call(Route("list_downloads"), b"") == (200, {"downloads": []})
        with pytest.raises(ApiError) as refused:
            await daemon.call(Route("add_rental"), b"[]")
        assert refused.value.code == "invalid_json"
        with pytest.raises(ApiError) as refused:
            await daemon.call(Route("add_rental"), _body(torrent=base64.b64encode(b"x").decode()))
        assert (refused.value.code, refused.value.field) == ("invalid_field", "torrent")
        nursery.cancel_scope.cancel()


async def test_watch_polls_fast_only_while_watched(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Idle: a tick every 5 s; with an event subscriber: every 1 s (virtual seconds)."""
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        ticks: list[float] = []
        daemon.tick = lambda: bool(ticks.append(trio.current_time()))  # type: ignore[method-assign]
        start = trio.current_time()
        nursery.start_soon(daemon.watch)
        await trio.sleep(12)
        with daemon.hub.subscribe():  # from 12 s to 20.5 s
            await trio.sleep(8.5)
        await trio.sleep(2)
        nursery.cancel_scope.cancel()
    # Idle until the 15 s tick sees the subscriber; every second then, until the
    # 21 s tick finds it gone and sleeps 5 s again (cancelled at 22.5 s).
    assert [t - start for t in ticks] == [0, 5, 10, 15, 16, 17, 18, 19, 20, 21]


async def test_hosting_consent_is_off_by_default_saved_applied_and_checked(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        daemon = _daemon(tmp_path, nursery)
        node = cast(_Node, daemon.node)
        assert (await daemon.call(Route("get_settings"), b""))[1]["hosting"] == HOSTING_OFF
        assert not node.hosting.policy.enabled
        body = json.dumps({"hosting": {"enabled": True, "disk_quota_bytes": 10**10,
                                       "upload_rate_bps": 500_000, "hours": "1-7"}})
        status, _ = await daemon.call(Route("put_settings"), body.encode())
        assert status == 200
        wanted = HostingPolicy(enabled=True, disk_quota_bytes=10**10, upload_rate_bps=500_000,
                               hours="1-7")
        assert node.hosting.policy == wanted
        assert StateStore(tmp_path / "state").settings().hosting == wanted
        for bad, field in (({"enabled": "yes"}, "hosting.enabled"),
                           ({"hours": "25-3"}, "hosting.hours"),
                           ({"disk_quota_bytes": -1}, "hosting.disk_quota_bytes"),
                           ({"colour": 1}, None)):
            with pytest.raises(ApiError) as refused:
                await daemon.call(Route("put_settings"), json.dumps({"hosting": bad}).encode())
            assert refused.value.code == "invalid_field"
            if field is not None:
                assert refused.value.field == field
        assert node.hosting.policy == wanted  # a refused update changes nothing
        # the owner withdraws consent: applied at once
        await daemon.call(Route("put_settings"), b'{"hosting": {"enabled": false}}')
        assert not node.hosting.policy.enabled
        assert node.hosting.policy.disk_quota_bytes == 10**10
        nursery.cancel_scope.cancel()
