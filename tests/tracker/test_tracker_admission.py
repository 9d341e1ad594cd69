"""Admission for every reason, the catalog built from torrents, and certificate facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import certs
import certs.authority
from tracker.admission import CertInfo, Decision, Reason, admit, admit_scrape
from tracker.catalog import Catalog
from tracker.errors import TrackerError
from tracker.watched_files import announced_info_hashes, catalog_from_torrents

from .conftest import make_film

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
FILM_HASH = b"\x01" * 20
OTHER_HASH = b"\x02" * 20
CATALOG = Catalog({FILM_HASH: "film-a", OTHER_HASH: "film-b"})


def rental(film: str = "film-a", serial: int = 42) -> CertInfo:
    return CertInfo(serial, (film,), T0, T0 + timedelta(hours=48))


ORIGIN = CertInfo(7, ("*",), T0, T0 + timedelta(days=365))


@pytest.mark.parametrize(
    ("cert", "info_hash", "revoked", "now", "reason"),
    [
        (rental(), FILM_HASH, set(), T0 + timedelta(hours=1), Reason.ADMITTED),
        (ORIGIN, OTHER_HASH, set(), T0 + timedelta(hours=1), Reason.ADMITTED_ORIGIN),
        (rental(), b"\x09" * 20, set(), T0 + timedelta(hours=1), Reason.UNKNOWN_TORRENT),
        (rental(), OTHER_HASH, set(), T0 + timedelta(hours=1), Reason.FILM_MISMATCH),
        (rental(), FILM_HASH, set(), T0 + timedelta(hours=48), Reason.EXPIRED),
        (rental(), FILM_HASH, set(), T0 - timedelta(seconds=1), Reason.NOT_YET_VALID),
        (rental(), FILM_HASH, {42}, T0 + timedelta(hours=1), Reason.REVOKED),
        (ORIGIN, FILM_HASH, {7}, T0 + timedelta(hours=1), Reason.REVOKED),
        (ORIGIN, b"\x09" * 20, set(), T0 + timedelta(hours=1), Reason.UNKNOWN_TORRENT),
        # certificate-level refusals win over torrent-level ones
        (rental(), OTHER_HASH, {42}, T0 + timedelta(hours=99), Reason.REVOKED),
        (rental(), b"\x09" * 20, set(), T0 + timedelta(hours=99), Reason.EXPIRED),
    ],
)
def test_admission_reasons(
    cert: CertInfo, info_hash: bytes, revoked: set[int], now: datetime, reason: Reason
) -> None:
    decision = admit(cert, info_hash, CATALOG, revoked, now)
    assert decision.reason is reason
    assert decision.serial == cert.serial
    assert decision.film == CATALOG.get(info_hash)
    assert decision.admitted == (reason in (Reason.ADMITTED, Reason.ADMITTED_ORIGIN))
    assert decision.is_origin == (reason is Reason.ADMITTED_ORIGIN)
    assert bool(decision.failure_reason) != decision.admitted


def test_window_edges() -> None:
    cert = rental()
    assert admit(cert, FILM_HASH, CATALOG, set(), T0).admitted
    last = cert.not_after - timedelta(microseconds=1)
    assert admit(cert, FILM_HASH, CATALOG, set(), last).admitted


def test_scrape_sees_only_admitted_films() -> None:
    decision, allowed = admit_scrape(rental(), (), CATALOG, set(), T0)
    assert decision.admitted
    assert allowed == (FILM_HASH,)
    _, allowed = admit_scrape(rental(), (OTHER_HASH, FILM_HASH, b"\x09" * 20), CATALOG, set(), T0)
    assert allowed == (FILM_HASH,)
    _, allowed = admit_scrape(ORIGIN, (), CATALOG, set(), T0)
    assert set(allowed) == {FILM_HASH, OTHER_HASH}
    decision, allowed = admit_scrape(rental(), (), CATALOG, {42}, T0)
    assert decision == Decision(Reason.REVOKED, None, 42)
    assert allowed == ()


def test_cert_info_from_issued_certificates(ca: certs.authority.CA) -> None:
    key = certs.generate_node_key()
    cert = ca.issue_rental(
        "film-a", key.public_key(), not_before=T0, not_after=T0 + timedelta(hours=2), serial=1234
    )
    info = CertInfo.from_der(cert.public_bytes(Encoding.DER))
    assert info == CertInfo(1234, ("film-a",), T0, T0 + timedelta(hours=2))
    assert not info.is_origin
    seeder = CertInfo.from_certificate(ca.issue_seeder().cert)
    assert seeder.is_origin
    server = CertInfo.from_certificate(ca.issue_server(["127.0.0.1"]).cert)
    assert server.dns_names == ()  # an IP SAN names no film
    with pytest.raises(TrackerError):
        CertInfo.from_der(b"not a certificate")


def test_catalog_from_real_torrents(tmp_path: Path, ca: certs.authority.CA) -> None:
    a = make_film(tmp_path, "film-a", ca.cert_pem, "https://127.0.0.1:1/announce")
    b = make_film(tmp_path, "film-b", ca.cert_pem, "https://127.0.0.1:1/announce")
    catalog, problems = catalog_from_torrents(
        [
            ("a", a.torrent_path.read_bytes()),
            ("b", b.torrent_path.read_bytes()),
            ("junk", b"garbage"),
            ("again", a.torrent_path.read_bytes()),  # the same film twice is harmless
        ]
    )
    assert dict(catalog) == {a.info_hash: "film-a", b.info_hash: "film-b"}
    assert a.info_hash == a.ti.info_hashes().v2.to_bytes()[:20]
    assert catalog.hashes_of("film-b") == (b.info_hash,)
    assert catalog.films() == {"film-a", "film-b"}
    assert len(problems) == 1
    assert problems[0].startswith("junk: not a torrent")


def test_catalog_hybrid_torrent_lists_both_hashes(tmp_path: Path) -> None:
    (tmp_path / "hybrid").write_bytes(b"x" * 70_000)
    ct = lt.create_torrent([lt.create_file_entry("hybrid", 70_000)], 16384 * 4)
    lt.set_piece_hashes(ct, str(tmp_path))
    ti = lt.torrent_info(lt.bencode(ct.generate()))
    hashes = announced_info_hashes(ti)
    assert len(hashes) == 2
    catalog, _ = catalog_from_torrents([("h", lt.bencode(ct.generate()))])
    assert set(catalog) == set(hashes)
