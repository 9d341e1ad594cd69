"""A placement handed to a customer's daemon (``PUT /v1/hostings/{film}``), end to end with
real processes: a real tracker, an origin, the daemon (real libtorrent) and a renter's
``peernode fetch``. Refused while the owner has not opted in; hosted, kept across a
restart, seeded to a renter that finds it through the tracker alone while the origin is
down; paused (and still paused after a restart) when consent is withdrawn; deleted with
its files. Bad placements are 400/403 naming the field, and the daemon stays up."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, save_node_key
from certs.authority import CA, load_content_key
from sim.backends.launcher import tracker_args
from sim.backends.provision import OperatorFiles, provision_client, provision_operator
from support.processes import peernode_argv
from tests.peernode.runtime.test_hosting import assert_no_key_material

from .conftest import FILM_ID, Api, DaemonProcess, EventStream, Validator, World, _stop

HOST_FILM = "placed-film"
GIB = 1 << 30
HOSTING_ON = {"enabled": True, "disk_quota_bytes": GIB}


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _started(argv: list[str], needle: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``argv`` (stderr to ``log``) and wait for the stderr line holding ``needle``."""
    with log.open("ab") as err:
        proc = subprocess.Popen(argv, stderr=err)
    deadline = time.monotonic() + 30
    while True:
        lines = log.read_text(errors="replace").splitlines()
        found = [line for line in lines if needle in line]
        if found:
            return proc, found[0]
        assert proc.poll() is None, "\n".join(lines)
        assert time.monotonic() < deadline, f"no {needle!r} in {log}"
        time.sleep(0.05)


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[tuple[OperatorFiles, subprocess.Popen[bytes]]]:
    """A film packaged for a real tracker process (running) and an origin process."""
    port = _free_port("127.0.0.1")
    op = provision_operator(tmp_path / "operator", tracker_host="127.0.0.1", tracker_port=port,
                            now=datetime.now(UTC), film_id=HOST_FILM, film_bytes=3 << 20)
    tracker, _ = _started(peernode_argv(*tracker_args(op, "127.0.0.1")), "listening on",
                          tmp_path / "tracker.log")
    origin, _ = _started(peernode_argv("seed", "--library", op.library,
                                       "--cert", op.seeder_cert, "--key", op.seeder_key,
                                       "--listen", "127.0.0.4:0"),
                         "origin seeding", tmp_path / "origin.log")
    try:
        yield op, origin
    finally:
        _stop(origin)
        _stop(tracker)


def _host_key(directory: Path) -> tuple[Path, Any]:
    key = generate_node_key()
    save_node_key(directory, key)
    return directory / "node.key", key


def _credential(ca: CA, key: Any, film_id: str, *, start: timedelta = timedelta(hours=-1),
                length: timedelta = timedelta(days=10)) -> bytes:
    now = datetime.now(UTC)
    cert = ca.issue_hosting(film_id, key.public_key(), not_before=now + start,
                            not_after=now + start + length)
    return cert.public_bytes(Encoding.PEM)


def _body(torrent: bytes, credential: bytes, key_path: Path, **extra: Any) -> dict[str, Any]:
    return {"torrent": base64.b64encode(torrent).decode(),
            "credential": base64.b64encode(credential).decode(),
            "node_key_path": str(key_path), **extra}


def _wait_state(api: Api, film_id: str, states: set[str], timeout_s: float = 60
                ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        view: dict[str, Any] = api.get(f"/v1/hostings/{film_id}").json()
        if view["state"] in states:
            return view
        assert time.monotonic() < deadline, f"stuck at {view}"
        time.sleep(0.2)


def test_a_placed_film_is_hosted_kept_across_restarts_and_seeded_to_a_renter_via_the_tracker(
    tmp_path: Path, validator: Validator,
    operator: tuple[OperatorFiles, subprocess.Popen[bytes]],
) -> None:
    op, origin = operator
    key_path, key = _host_key(tmp_path / "host")
    body = _body(op.torrent.read_bytes(), _credential(op.ca, key, HOST_FILM), key_path)
    daemon = DaemonProcess(tmp_path / "state", validator)
    api = daemon.start()
    try:
        # no opt-in: refused, and nothing is added (no byte moves)
        refused = api.put(f"/v1/hostings/{HOST_FILM}", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "hosting_refused"
        assert "hosting is off" in refused.json()["message"]
        assert api.get("/v1/hostings").json() == {"hostings": []}
        assert not (daemon.state_dir / "hosted" / HOST_FILM).exists()

        assert api.put("/v1/settings", json={"hosting": HOSTING_ON}).status_code == 200
        events = EventStream(api)
        try:
            placed = api.put(f"/v1/hostings/{HOST_FILM}", json=body)
            assert placed.status_code == 201, placed.text
            assert placed.json()["state"] in ("checking", "placing")
            assert placed.json()["service_url"] is None
            complete = events.wait_for("hosting-complete", timeout_s=90)
        finally:
            events.close()
        assert complete["id"] == HOST_FILM
        assert complete["have_bytes"] == complete["total_bytes"] > 0
        # the same placement again: 200, still one hosted film
        again = api.put(f"/v1/hostings/{HOST_FILM}", json=body)
        assert again.status_code == 200, again.text
        assert [h["id"] for h in api.get("/v1/hostings").json()["hostings"]] == [HOST_FILM]
        daemon.stop()
        _stop(origin)  # release night: the origin is down from here on

        api = daemon.start()  # the restart hosts it again from the state dir
        view = _wait_state(api, HOST_FILM, {"seeding"})
        assert view["complete"]
        assert view["hosting_id"] == complete["hosting_id"]

        renter = provision_client(op, tmp_path / "renter", not_before=datetime.now(UTC)
                                  - timedelta(minutes=1),
                                  not_after=datetime.now(UTC) + timedelta(hours=2))
        fetched = subprocess.run(
            peernode_argv("fetch", op.torrent, "--rental", renter.rental, "--node-key",
                          renter.node_key, "--out", renter.download_dir, "--listen",
                          "127.0.0.7:0", "--no-port-mapping", "--json"),
            capture_output=True, text=True, timeout=120, check=False)
        assert fetched.returncode == 0, fetched.stderr
        summary = json.loads(fetched.stdout.strip().splitlines()[-1])
        assert summary["complete"]
        assert summary["bytes_from_peers"] >= summary["bytes_total"]  # all from the host
        served = api.get(f"/v1/hostings/{HOST_FILM}").json()
        assert served["uploaded_bytes"] >= summary["bytes_total"]

        # the owner withdraws consent: paused at once, and still paused after a restart
        api.put("/v1/settings", json={"hosting": {"enabled": False}})
        assert _wait_state(api, HOST_FILM, {"paused"}, timeout_s=10)["complete"]
        daemon.stop()
        api = daemon.start()
        # (a paused torrent does not look at its files: complete is known once it runs)
        _wait_state(api, HOST_FILM, {"paused"}, timeout_s=30)
        api.put("/v1/settings", json={"hosting": {"enabled": True}})
        assert _wait_state(api, HOST_FILM, {"seeding"}, timeout_s=30)["complete"]

        # the host holds the ciphertext and never a key: none in its whole state dir
        assert_no_key_material(daemon.state_dir, load_content_key(op.ca_dir, HOST_FILM))

        deleted = api.request("DELETE", f"/v1/hostings/{HOST_FILM}")
        assert deleted.json() == {"id": HOST_FILM, "deleted": True, "files_deleted": True}
        assert api.get(f"/v1/hostings/{HOST_FILM}").json()["code"] == "not_found"
        assert not (daemon.state_dir / "hostings" / HOST_FILM).exists()
        deadline = time.monotonic() + 10
        while (daemon.state_dir / "hosted" / HOST_FILM).exists():
            assert time.monotonic() < deadline, "hosted files not deleted"
            time.sleep(0.1)
    finally:
        daemon.stop()


def _error(response: Any, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()
    assert error["code"] == code, error
    assert error.get("field") == field, error


def test_bad_placements_name_the_field_and_never_end_the_daemon(
    daemon: DaemonProcess, world: World, tmp_path: Path
) -> None:
    api = daemon.api
    assert api is not None
    ca = CA.load(world.ca_dir)
    key_path, key = _host_key(tmp_path / "host")
    torrent = world.torrent.read_bytes()
    good = _credential(ca, key, FILM_ID)
    path = f"/v1/hostings/{FILM_ID}"
    assert api.put("/v1/settings", json={"hosting": HOSTING_ON}).status_code == 200

    other_key = generate_node_key()
    rental_cert = ca.issue_rental(FILM_ID, key.public_key(),
                                  not_before=datetime.now(UTC) - timedelta(hours=1),
                                  not_after=datetime.now(UTC) + timedelta(hours=1))
    other_ca = CA.create("another operator")
    cases: list[tuple[str, dict[str, Any], int, str, str | None]] = [
        (path, {"torrent": "not base64!", "credential": "QUJD", "node_key_path": "/k"},
         400, "invalid_field", "torrent"),
        (path, _body(b"not a torrent", good, key_path), 400, "invalid_field", "torrent"),
        (path, _body(torrent, good, Path("relative/node.key")), 400, "invalid_field",
         "node_key_path"),
        (path, _body(torrent, good, tmp_path / "missing.key"), 400, "invalid_field",
         "node_key_path"),
        (path, _body(torrent, good, key_path, service_url="http://rentals.example"),
         400, "invalid_field", "service_url"),
        (path, _body(torrent, good, key_path, content_key="AAAA"), 400, "invalid_field",
         "content_key"),
        ("/v1/hostings/another-film", _body(torrent, good, key_path), 400, "invalid_field",
         "torrent"),
        ("/v1/hostings/Not_A_Film", _body(torrent, good, key_path), 400, "invalid_field", "id"),
        (path, _body(torrent, b"-----BEGIN CERTIFICATE-----\nnope\n", key_path),
         400, "credential_rejected", "credential"),
        # for another node's key
        (path, _body(torrent, _credential(ca, other_key, FILM_ID), key_path),
         400, "credential_rejected", "credential"),
        # a rental certificate: no hosting policy
        (path, _body(torrent, rental_cert.public_bytes(Encoding.PEM), key_path),
         400, "credential_rejected", "credential"),
        # another film's credential
        (path, _body(torrent, _credential(ca, key, "another-film"), key_path),
         400, "credential_rejected", "credential"),
        # expired, and not yet valid
        (path, _body(torrent, _credential(ca, key, FILM_ID, start=timedelta(hours=-3),
                                          length=timedelta(hours=1)), key_path),
         400, "credential_rejected", "credential"),
        (path, _body(torrent, _credential(ca, key, FILM_ID, start=timedelta(hours=3)),
                     key_path), 400, "credential_rejected", "credential"),
        # another CA than the torrent's
        (path, _body(torrent, _credential(other_ca, key, FILM_ID), key_path),
         400, "credential_rejected", "credential"),
    ]
    for target, body, status, code, field in cases:
        _error(api.put(target, json=body), status, code, field)
    assert api.get("/v1/hostings").json() == {"hostings": []}

    # over quota: refused by the owner's limit
    api.put("/v1/settings", json={"hosting": {"disk_quota_bytes": 1000}})
    quota = api.put(path, json=_body(torrent, good, key_path))
    _error(quota, 403, "hosting_refused", None)
    assert "quota reached" in quota.json()["message"]
    assert api.get("/v1/health").json()["status"] in ("ok", "degraded")
