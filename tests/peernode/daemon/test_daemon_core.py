"""The daemon's pure core: routes, request bodies, state formats, events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peernode.daemon.api import (
    ERROR_STATUS,
    ApiError,
    DaemonSettings,
    Route,
    parse_rental_request,
    parse_settings_update,
    route_request,
)
from peernode.daemon.events import events_between, failed_view, format_sse
from peernode.daemon.openapi import openapi_document
from peernode.daemon.records import (
    RentalRecord,
    decode_record,
    decode_settings,
    encode_record,
    encode_settings,
)
from peernode.errors import PeernodeError


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
