"""A peer with a valid rental serves corrupted pieces; a container altered on disk."""

from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, load_node_key, open_rental, private_key_pem
from peernode.container.stream import decrypt_file, open_container
from peernode.errors import ContainerError
from peernode.runtime.session_settings import add_ssl_torrent, make_session
from peernode.runtime.session_teardown import close_session_blocking

from .conftest import FILM_ID, PEERNODE, Swarm, wait_exit

EVIL_HOST = "127.0.0.60"


def _corrupt_every_piece_in_place(path: Path, piece_bytes: int) -> None:
    """Flip one byte in the middle of every piece of ``path``, writing into the same file
    (libtorrent keeps it open and serves from it)."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        for start in range(0, size, piece_bytes):
            f.seek(min(start + piece_bytes // 2, size - 1))
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))


def test_malicious_peer_with_a_valid_rental_is_banned_and_the_film_is_intact(
    swarm: Swarm, tmp_path: Path
) -> None:
    """A libtorrent session with a valid rental checks an intact copy, starts seeding, and
    then has a byte of every piece altered on disk (seed_mode would not do: libtorrent
    hashes each piece before it first serves it). Unlimited upload; the honest origin is
    capped at 1 MB/s. The client records hash failures, bans the liar, completes from the origin,
    and its film decrypts to the original."""
    ti = lt.torrent_info(str(swarm.torrent))
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    shutil.copy(swarm.library / FILM_ID, evil_dir / FILM_ID)
    key = generate_node_key()
    now = datetime.now(UTC)
    rental = swarm.ca.issue_rental(FILM_ID, key.public_key(), not_before=now - timedelta(hours=1),
                                   not_after=now + timedelta(hours=1))
    session = make_session(EVIL_HOST)
    handle = add_ssl_torrent(session, ti, evil_dir, cert_pem=rental.public_bytes(Encoding.PEM),
                             key_pem=private_key_pem(key))
    handle.resume()
    deadline = time.monotonic() + 30
    while not handle.status().is_seeding:
        assert time.monotonic() < deadline, "the liar never finished checking its copy"
        time.sleep(0.1)
    _corrupt_every_piece_in_place(evil_dir / FILM_ID, ti.piece_length())
    evil = f"{EVIL_HOST}:{session.ssl_listen_port()}"
    try:
        _, origin = swarm.start_origin("1M")
        client = swarm.new_client("client", "127.0.0.61")
        # The liar first, so it gets the first requests.
        proc = swarm.fetch(client, "--peer", evil, "--peer", origin, "--timeout", "120")
        assert wait_exit(proc, 150, "start") == 0, client.log.read_text()
    finally:
        session.pause()
        close_session_blocking(session)  # clients may be mid-handshake with the liar
        del session
    summary = client.summary()
    log = client.log.read_text()
    assert summary["complete"] is True
    assert summary["hash_failures"] >= 1, summary
    assert f"banned peer {EVIL_HOST}" in log, log
    assert swarm.decrypted(client) == swarm.plaintext


@pytest.fixture
def downloaded(swarm: Swarm) -> tuple[Swarm, Path, bytes]:
    """A client's complete, verified download of the film and its content key."""
    _, origin = swarm.start_origin("0")
    client = swarm.new_client("client", "127.0.0.62")
    proc = swarm.fetch(client, "--peer", origin)
    assert wait_exit(proc, 120, "start") == 0, client.log.read_text()
    rental = open_rental((client.dir / "rental.pvr").read_bytes(),
                         load_node_key(client.dir / "node.key"), swarm.ca.cert)
    return swarm, client.download / FILM_ID, rental.content_key


def test_tampered_segment_on_disk_is_detected_by_the_container_reader(
    downloaded: tuple[Swarm, Path, bytes],
) -> None:
    """After the download, one byte of segment 3 is altered on disk (libtorrent does not
    re-hash a finished file): reading that segment raises ContainerError, the others
    still decrypt, and decrypting the whole file fails instead of emitting altered bytes."""
    swarm, path, key = downloaded
    header = open_container(path, key, film_id=FILM_ID).header
    data = bytearray(path.read_bytes())
    data[header.segment_offset(2) + 100] ^= 0x01
    path.write_bytes(bytes(data))
    reader = open_container(path, key, film_id=FILM_ID)
    plain_segment = header.plaintext_segment_bytes
    with pytest.raises(ContainerError):
        reader.read(2 * plain_segment, 10)
    assert reader.read(0, 10) == swarm.plaintext[:10]
    assert reader.read(3 * plain_segment, 10) == swarm.plaintext[3 * plain_segment :][:10]
    out = path.parent / "plain"
    with out.open("wb") as dst, pytest.raises(ContainerError):
        decrypt_file(path, key, FILM_ID, dst)


def test_tampered_segment_on_disk_never_reaches_the_player(
    downloaded: tuple[Swarm, Path, bytes],
) -> None:
    """`peernode play` (a real process) over the completed download after segment 2 was
    altered on disk: a range inside the intact segments is served exactly; a range that
    crosses the altered one never yields a wrong byte (the response is an error or is
    cut short before that segment)."""
    swarm, path, key = downloaded
    header = open_container(path, key, film_id=FILM_ID).header
    with path.open("r+b") as f:
        f.seek(header.segment_offset(2) + 100)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    client = swarm.work / "client"
    proc = subprocess.Popen(
        [*PEERNODE, "play", "--no-port-mapping", str(swarm.torrent), "--out", str(path.parent),
         "--rental", str(client / "rental.pvr"), "--node-key", str(client / "node.key")],
        stdout=subprocess.PIPE, stderr=(client / "play.log").open("wb"),
    )
    try:
        assert proc.stdout is not None
        url = urllib.parse.urlsplit(proc.stdout.readline().decode().strip())
        assert url.scheme == "http", (client / "play.log").read_text()
        seg = header.plaintext_segment_bytes

        def get(start: int, end: int) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            conn.request("GET", url.path, headers={"Range": f"bytes={start}-{end}"})
            response = conn.getresponse()
            try:
                body = response.read()
            except http.client.IncompleteRead as e:
                body = e.partial
            except OSError:
                body = b""
            conn.close()
            return response.status, body

        status, body = get(0, seg - 1)
        assert status == 206
        assert body == swarm.plaintext[:seg]
        status, body = get(seg, 3 * seg - 1)
        print(f"range over the altered segment: status {status}, {len(body)} of {2 * seg} bytes")
        assert len(body) < 2 * seg
        assert body == swarm.plaintext[seg : seg + len(body)]
        assert len(body) <= seg  # nothing of the altered segment
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
