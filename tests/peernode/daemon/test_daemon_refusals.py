"""A daemon process refuses what it must, clearly, and keeps running.

Every JSON response is validated against the OpenAPI document by the `Api` client.
"""

from __future__ import annotations

import base64
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import FILM_ID, PEERNODE, Api, DaemonProcess, Validator, World

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture(scope="module")
def shared_process(
    tmp_path_factory: pytest.TempPathFactory, validator: Validator
) -> Iterator[DaemonProcess]:
    process = DaemonProcess(tmp_path_factory.mktemp("refusals") / "state", validator)
    api = process.start()
    yield process
    # Nothing the tests sent may have crashed it.
    assert api.get("/v1/health").status_code == 200
    process.stop()


@pytest.fixture
def shared(shared_process: DaemonProcess) -> Api:
    assert shared_process.api is not None
    return shared_process.api


def _error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body.get("field") == field, body
    return str(body["message"])


@pytest.mark.parametrize("path", ["/v1/health", "/v1/downloads", "/v1/downloads/x",
                                  "/v1/events", "/v1/nowhere"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz"])
def test_without_the_token_every_call_is_401(shared: Api, path: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    response = httpx.get(shared.url + path, headers=headers, timeout=10)
    shared.validator.check("Error", response.json())
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_openapi_is_public_and_every_schema_is_valid_json_schema(shared: Api) -> None:
    import jsonschema

    document = httpx.get(shared.url + "/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    text = str(document["paths"])
    for name in document["components"]["schemas"]:
        assert name in text or name == "DownloadFailedEvent"


def test_malformed_bodies_name_the_field_at_fault(shared: Api, world: World) -> None:
    _error(shared.post("/v1/rentals", content=b"{not json"), 400, "invalid_json")
    _error(shared.post("/v1/rentals", json=[1, 2]), 400, "invalid_json")
    _error(shared.post("/v1/rentals", json=world.rental_body(color="red")), 400,
           "invalid_field", "color")
    _error(shared.post("/v1/rentals", json=world.rental_body(torrent="%%%")), 400,
           "invalid_field", "torrent")
    not_torrent = base64.b64encode(b"d4:spam4:eggse").decode()
    _error(shared.post("/v1/rentals", json=world.rental_body(torrent=not_torrent)), 400,
           "invalid_field", "torrent")
    _error(shared.post("/v1/rentals", json=world.rental_body(node_key_path="node.key")), 400,
           "invalid_field", "node_key_path")
    message = _error(shared.post("/v1/rentals",
                                 json=world.rental_body(node_key_path="/nonexistent/node.key")),
                     400, "invalid_field", "node_key_path")
    assert "does not exist" in message
    _error(shared.post("/v1/rentals", json=world.rental_body(peers=["nope"])), 400,
           "invalid_field", "peers")
    _error(shared.request("PUT", "/v1/settings", json={"upload_rate_bps": -1}), 400,
           "invalid_field", "upload_rate_bps")
    _error(shared.request("PUT", "/v1/settings", json={"download_rate_bps": True}), 400,
           "invalid_field", "download_rate_bps")
    _error(shared.request("PUT", "/v1/settings", json={"seed_when_complete": "yes"}), 400,
           "invalid_field", "seed_when_complete")


def test_a_rental_for_another_node_is_rejected(shared: Api, world: World) -> None:
    other_key, _ = world.rent("other-node")
    message = _error(shared.post("/v1/rentals", json=world.rental_body(node_key=other_key)),
                     400, "rental_rejected", "rental")
    assert "another node" in message


def test_a_tampered_rental_is_rejected(shared: Api, world: World) -> None:
    bundle = bytearray(world.rental.read_bytes())
    bundle[len(bundle) // 2] ^= 0x01
    body = world.rental_body(rental=None)
    body["rental"] = base64.b64encode(bytes(bundle)).decode()
    _error(shared.post("/v1/rentals", json=body), 400, "rental_rejected", "rental")


def test_an_expired_rental_is_rejected(shared: Api, world: World, tmp_path: Path) -> None:
    from .conftest import run_peernode

    key, _ = world.rent("expired-node")
    rental = tmp_path / "expired.pvr"
    run_peernode("ca", "rent", "--ca-dir", str(world.ca_dir), "--film-id", FILM_ID,
                 "--node-pub", str(key.with_name("node.pub")), "--hours", "1",
                 "--not-before", "2020-01-01T00:00:00Z", "--out", str(rental))
    message = _error(shared.post("/v1/rentals", json=world.rental_body(node_key=key,
                                                                     rental=rental)),
                     400, "rental_rejected", "rental")
    assert "ended" in message
    assert shared.get("/v1/downloads").json() == {"downloads": []}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/downloads/unknown"), ("POST", "/v1/downloads/unknown/pause"),
    ("POST", "/v1/downloads/unknown/resume"), ("DELETE", "/v1/downloads/unknown"),
    ("GET", "/v1/downloads/unknown/playback"),
])
def test_unknown_download_is_404(shared: Api, method: str, path: str) -> None:
    _error(shared.request(method, path), 404, "not_found")


def test_unknown_endpoint_and_wrong_method(shared: Api) -> None:
    response = shared.http.get("/v2/anything")
    _error(response, 404, "not_found")
    wrong_method = shared.http.delete("/v1/downloads")
    shared.validator.check("Error", wrong_method.json())
    _error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"
    assert shared.http.request("TRACE", "/v1/settings").headers["allow"] == "GET, PUT"


def test_oversized_body_is_413_unread(shared: Api) -> None:
    response = shared.post("/v1/rentals", content=b"x" * (9 * 1024 * 1024))
    _error(response, 413, "payload_too_large")


def test_oversized_head_and_garbage_get_an_error_and_a_closed_connection(shared: Api) -> None:
    host, port = shared.url.removeprefix("http://").rsplit(":", 1)
    for raw in (b"NOT HTTP AT ALL\r\n\r\n",
                b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(raw)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), reply[:80]
    assert shared.get("/v1/health").status_code == 200


def test_state_dir_and_token_are_private(shared_process: DaemonProcess) -> None:
    state_dir = shared_process.state_dir
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "token").stat().st_mode) == 0o600


def test_settings_are_applied_and_survive_a_restart(daemon: DaemonProcess) -> None:
    assert daemon.api is not None
    hosting_off = {"enabled": False, "disk_quota_bytes": 0, "upload_rate_bps": 0,
                   "download_rate_bps": 0, "hours": ""}
    assert daemon.api.get("/v1/settings").json() == {
        "upload_rate_bps": 0, "download_rate_bps": 0, "seed_when_complete": True,
        "port_mapping": True, "hosting": hosting_off}
    put = daemon.api.request("PUT", "/v1/settings",
                             json={"upload_rate_bps": 500_000, "seed_when_complete": False})
    assert put.json() == {"upload_rate_bps": 500_000, "download_rate_bps": 0,
                          "seed_when_complete": False, "port_mapping": True,
                          "hosting": hosting_off}
    daemon.stop()
    api = daemon.start()
    assert api.get("/v1/settings").json() == put.json()


def _daemon_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEERNODE, "daemon", *args], capture_output=True, text=True,
                          timeout=60)


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0], errors[0]


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "token").write_text("guessable")
    (state / "token").chmod(0o644)
    _one_line_error(_daemon_cli("--state-dir", str(state)), "token")


def test_an_api_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _one_line_error(_daemon_cli("--state-dir", str(tmp_path / "s"), "--port", str(port)),
                        "in use")
