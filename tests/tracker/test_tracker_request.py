"""Parsing of announce and scrape targets: every parameter's bad values, and a round trip."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.errors import MalformedRequest, UnknownPath
from tracker.request import (
    AnnounceRequest,
    Event,
    ScrapeRequest,
    parse_announce_query,
    parse_request_target,
    parse_scrape_query,
)

IH = bytes(range(20))
PID = b"-PN0100-" + b"\x00\xff %&+=?#/\x7f\x80"


def _params(**over: bytes | str | None) -> dict[str, bytes | str]:
    base: dict[str, bytes | str | None] = {
        "info_hash": IH,
        "peer_id": PID,
        "port": "6881",
        "uploaded": "0",
        "downloaded": "0",
        "left": "1000",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _target(path: str = "/announce", /, **over: bytes | str | None) -> bytes:
    return f"{path}?{urlencode(_params(**over))}".encode()


def test_minimal_announce_defaults() -> None:
    req = parse_request_target(_target())
    assert req == AnnounceRequest(
        info_hash=IH, peer_id=PID, port=6881, uploaded=0, downloaded=0, left=1000
    )
    assert req.event is Event.NONE
    assert req.numwant is None
    assert req.compact is True


def test_libtorrent_style_query_is_parsed_and_extras_ignored() -> None:
    # the shape libtorrent sends, percent-encoding every reserved byte
    q = (
        f"info_hash={quote(IH, safe='')}&peer_id={quote(PID, safe='')}&port=51413"
        "&uploaded=10&downloaded=20&left=0&corrupt=3&key=8a3f00c1&event=completed"
        "&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0"
        "&ip=10.9.9.9&ipv6=%3A%3A1&ipv4=10.0.0.1"
    ).encode()
    req = parse_announce_query(q)
    assert (req.port, req.uploaded, req.downloaded, req.left, req.corrupt) == (51413, 10, 20, 0, 3)
    assert req.event is Event.COMPLETED
    assert req.numwant == 200
    assert req.key == b"8a3f00c1"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("started", Event.STARTED),
        ("completed", Event.COMPLETED),
        ("stopped", Event.STOPPED),
        ("paused", Event.PAUSED),
        ("empty", Event.NONE),
        ("", Event.NONE),
    ],
)
def test_events(event: str, expected: Event) -> None:
    assert parse_announce_query(_target("", event=event)[1:]).event is expected


BAD_VALUES = [
    ("info_hash", b"\x00" * 19),
    ("info_hash", b"\x00" * 21),
    ("info_hash", b""),
    ("peer_id", b"x" * 19),
    ("peer_id", b"x" * 40),
    ("port", "0"),
    ("port", "65536"),
    ("port", "-1"),
    ("port", "+80"),
    ("port", " 80"),
    ("port", "80a"),
    ("port", ""),
    ("port", "٨٠"),  # non-ASCII digits
    ("uploaded", "-5"),
    ("uploaded", "1.5"),
    ("uploaded", "9" * 20),
    ("uploaded", str(2**63)),
    ("downloaded", "x"),
    ("downloaded", "1e3"),
    ("left", "-1"),
    ("left", ""),
    ("corrupt", "-1"),
    ("corrupt", "many"),
    ("event", "finished"),
    ("event", "STARTED"),
    ("numwant", "-1"),
    ("numwant", "ten"),
    ("compact", "2"),
    ("compact", "yes"),
    ("key", "k" * 65),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_is_refused_with_a_failure_reason(name: str, value: bytes | str) -> None:
    with pytest.raises(MalformedRequest) as err:
        parse_request_target(_target(**{name: value}))
    assert err.value.param == name
    assert name in err.value.failure_reason


@pytest.mark.parametrize("name", ["info_hash", "peer_id", "port", "uploaded", "downloaded", "left"])
def test_missing_required_parameter(name: str) -> None:
    with pytest.raises(MalformedRequest, match=f"missing parameter {name}"):
        parse_request_target(_target(**{name: None}))


def test_repeated_parameter_is_refused() -> None:
    with pytest.raises(MalformedRequest, match="repeated parameter port"):
        parse_request_target(_target() + b"&port=1")


def test_undecodable_parameter_name() -> None:
    with pytest.raises(MalformedRequest):
        parse_announce_query(_target()[len("/announce?") :] + b"&%ff=1")


def test_unknown_path() -> None:
    for target in (b"/", b"/announce/x?a=1", b"/announce2", b"/Scrape"):
        with pytest.raises(UnknownPath):
            parse_request_target(target)


def test_scrape_hashes_deduplicated_and_bounded() -> None:
    other = b"\x01" * 20
    q = urlencode([("info_hash", IH), ("info_hash", other), ("info_hash", IH), ("x", "1")])
    assert parse_request_target(f"/scrape?{q}".encode()) == ScrapeRequest((IH, other))
    assert parse_request_target(b"/scrape") == ScrapeRequest(())
    many = urlencode([("info_hash", bytes([i]) * 20) for i in range(5)]).encode()
    with pytest.raises(MalformedRequest, match="too many"):
        parse_scrape_query(many, max_hashes=4)
    with pytest.raises(MalformedRequest, match="20 bytes"):
        parse_scrape_query(b"info_hash=abc")


counters = st.integers(min_value=0, max_value=2**63 - 1)


@st.composite
def announces(draw: st.DrawFn) -> AnnounceRequest:
    return AnnounceRequest(
        info_hash=draw(st.binary(min_size=20, max_size=20)),
        peer_id=draw(st.binary(min_size=20, max_size=20)),
        port=draw(st.integers(min_value=1, max_value=65535)),
        uploaded=draw(counters),
        downloaded=draw(counters),
        left=draw(counters),
        corrupt=draw(counters),
        event=draw(st.sampled_from(Event)),
        numwant=draw(st.none() | st.integers(min_value=0, max_value=10_000)),
        compact=draw(st.booleans()),
        key=draw(st.none() | st.binary(max_size=64)),
    )


def _encode(req: AnnounceRequest, quote_via: object) -> bytes:
    pairs: list[tuple[str, bytes | str | int]] = [
        ("info_hash", req.info_hash),
        ("peer_id", req.peer_id),
        ("port", req.port),
        ("uploaded", req.uploaded),
        ("downloaded", req.downloaded),
        ("left", req.left),
        ("corrupt", req.corrupt),
        ("event", req.event.value),
        ("compact", int(req.compact)),
    ]
    if req.numwant is not None:
        pairs.append(("numwant", req.numwant))
    if req.key is not None:
        pairs.append(("key", req.key))
    return urlencode(pairs, quote_via=quote_via).encode()  # type: ignore[arg-type]


@given(announces(), st.sampled_from(["quote_plus", "quote"]))
def test_announce_round_trip(req: AnnounceRequest, how: str) -> None:
    from urllib import parse

    assert parse_request_target(b"/announce?" + _encode(req, getattr(parse, how))) == req


@given(st.lists(st.binary(min_size=20, max_size=20), max_size=10, unique=True))
def test_scrape_round_trip(hashes: list[bytes]) -> None:
    q = urlencode([("info_hash", h) for h in hashes]).encode()
    assert parse_scrape_query(q) == ScrapeRequest(tuple(hashes))
