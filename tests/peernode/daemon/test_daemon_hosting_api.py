"""The hosting endpoints' pure core: the request, the stored record, the events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from peernode.daemon.api import ApiError
from peernode.daemon.hosting_api import (
    HostingRecord,
    decode_hosting_record,
    encode_hosting_record,
    hosting_events_between,
    parse_hosting_request,
    validate_service_url,
)
from peernode.errors import PeernodeError

BODY = {"torrent": "QUJD", "credential": "REVG", "node_key_path": "/keys/node.key"}


def test_a_placement_request_parses() -> None:
    body = json.dumps({**BODY, "peers": ["127.0.0.1:6881", "[::1]:7000"],
                       "service_url": "https://rentals.example:8443/"}).encode()
    request = parse_hosting_request("film-a", body)
    assert (request.torrent, request.credential) == (b"ABC", b"DEF")
    assert request.peers == (("127.0.0.1", 6881), ("::1", 7000))
    assert request.service_url == "https://rentals.example:8443"


@pytest.mark.parametrize(("film_id", "fields", "field"), [
    ("../etc", {}, "id"),
    ("film-a", {"credential": 7}, "credential"),
    ("film-a", {"torrent": "***"}, "torrent"),
    ("film-a", {"node_key_path": "node.key"}, "node_key_path"),
    ("film-a", {"peers": ["nowhere"]}, "peers"),
    ("film-a", {"service_url": "http://rentals.example"}, "service_url"),
    ("film-a", {"service_url": "https://"}, "service_url"),
    ("film-a", {"service_url": "https://r.example/?x=1"}, "service_url"),
    ("film-a", {"service_url": ["https://r.example"]}, "service_url"),
    ("film-a", {"content_key": "AAAA"}, "content_key"),
])
def test_a_bad_placement_names_its_field(film_id: str, fields: dict[str, Any],
                                         field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_hosting_request(film_id, json.dumps({**BODY, **fields}).encode())
    assert caught.value.code == "invalid_field"
    assert caught.value.field == field


def test_the_record_round_trips_and_a_damaged_one_is_refused() -> None:
    record = HostingRecord("film-a", "/keys/node.key", (("::1", 7000),),
                           "https://rentals.example", datetime(2026, 1, 2, tzinfo=UTC))
    assert decode_hosting_record(encode_hosting_record(record)) == record
    bare = HostingRecord("film-a", "/k")
    assert decode_hosting_record(encode_hosting_record(bare)) == bare
    good = json.loads(encode_hosting_record(record))
    for damaged in ({**good, "film_id": "../x"}, {**good, "extra": 1},
                    {**good, "service_url": "http://x"}, {"film_id": "film-a"}, []):
        with pytest.raises(PeernodeError):
            decode_hosting_record(json.dumps(damaged).encode())
    with pytest.raises(PeernodeError):
        decode_hosting_record(b"\xff")
    with pytest.raises(PeernodeError):
        validate_service_url("https://bad host")


def _view(state: str, *, complete: bool = False, until: str = "2026-01-01T02:00:00+00:00",
          stopped: str | None = None) -> dict[str, Any]:
    return {"id": "f", "state": state, "complete": complete, "credential_not_after": until,
            "renewal_stopped": stopped}


def test_hosting_events_on_transitions_only() -> None:
    def kinds(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
        return [k for k, _ in hosting_events_between(before, after)]

    assert kinds(None, _view("placing")) == ["hosting-progress"]
    assert kinds(_view("placing"), _view("seeding", complete=True)) == ["hosting-complete"]
    seeding = _view("seeding", complete=True)
    assert kinds(seeding, seeding) == []
    renewed = _view("seeding", complete=True, until="2026-01-01T04:00:00+00:00")
    assert kinds(seeding, renewed) == ["hosting-renewed"]
    assert kinds(renewed, _view("expired", complete=True,
                                until="2026-01-01T04:00:00+00:00")) == ["hosting-expired"]
    refused = _view("seeding", complete=True, stopped="revoked")
    assert kinds(seeding, refused) == ["hosting-renewal-stopped"]
    assert kinds(refused, refused) == []
    assert kinds(_view("placing"), _view("error")) == ["hosting-error"]
