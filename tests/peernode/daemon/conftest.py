"""Fixtures for daemon tests: a packaged film, an origin process, a daemon process, a client.

Everything runs as operations and customers would run it: `peernode` subprocesses
on loopback, the control API driven by httpx, every JSON response validated
against the daemon's own OpenAPI document.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from peernode.daemon.openapi import openapi_document

PEERNODE = [sys.executable, "-m", "peernode"]
FILM_ID = "daemon-film"
FILM_BYTES = 12 * 1024 * 1024
ORIGIN_RATE = "2M"  # slow enough to pause and restart mid-download, fast enough for CI


def run_peernode(*args: str) -> str:
    proc = subprocess.run([*PEERNODE, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@dataclass
class World:
    root: Path
    ca_dir: Path
    library: Path
    torrent: Path
    plaintext: bytes
    node_key: Path
    rental: Path

    def rent(self, name: str, *, film_id: str = FILM_ID, hours: str = "2") -> tuple[Path, Path]:
        """A fresh node key and a rental bundle for it."""
        folder = self.root / name
        run_peernode("keygen", "--out", str(folder))
        rental = folder / "rental.pvr"
        run_peernode("ca", "rent", "--ca-dir", str(self.ca_dir), "--film-id", film_id,
                     "--node-pub", str(folder / "node.pub"), "--hours", hours,
                     "--out", str(rental))
        return folder / "node.key", rental

    def rental_body(self, node_key: Path | None = None, rental: Path | None = None,
                    **extra: Any) -> dict[str, Any]:
        return {
            "torrent": base64.b64encode(self.torrent.read_bytes()).decode(),
            "rental": base64.b64encode((rental or self.rental).read_bytes()).decode(),
            "node_key_path": str(node_key or self.node_key),
            **extra,
        }


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("daemon-world")
    ca_dir, library = root / "ca", root / "library"
    run_peernode("ca", "init", "--dir", str(ca_dir))
    run_peernode("ca", "issue-seeder", "--ca-dir", str(ca_dir), "--out", str(root / "seeder"))
    plaintext = os.urandom(FILM_BYTES)
    (root / "film.mp4").write_bytes(plaintext)
    run_peernode("package", str(root / "film.mp4"), "--film-id", FILM_ID, "--ca-dir",
                 str(ca_dir), "--tracker", "https://127.0.0.1:1/announce", "--out", str(library))
    w = World(root, ca_dir, library, library / f"{FILM_ID}.torrent", plaintext,
              Path(), Path())
    w.node_key, w.rental = w.rent("client")
    return w


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def origin(world: World) -> Iterator[str]:
    """``HOST:PORT`` of a `peernode seed` process capped at ORIGIN_RATE (loopback included)."""
    proc = subprocess.Popen(
        [*PEERNODE, "seed", "--library", str(world.library),
         "--cert", str(world.root / "seeder" / "seeder.pem"),
         "--key", str(world.root / "seeder" / "seeder.key"), "--listen", "127.0.0.4:0",
         "--upload-limit", ORIGIN_RATE, "--limit-local-peers"],
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    assert "origin seeding" in line, line
    yield line.rsplit(" ", 1)[-1].strip()
    _stop(proc)


class Validator:
    """Checks JSON bodies against a schema of the daemon's OpenAPI document."""

    def __init__(self) -> None:
        self.document = openapi_document()
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource("urn:peernode-api", resource)

    def check(self, schema_name: str, value: Any) -> None:
        schema = {"$ref": f"urn:peernode-api#/components/schemas/{schema_name}"}
        jsonschema.Draft202012Validator(schema, registry=self.registry).validate(value)

    def check_response(self, method: str, path: str, response: httpx.Response) -> None:
        """Validate a response against the operation's declared schema for its status."""
        template = _template(path)
        operation = self.document["paths"][template][method.lower()]
        responses = operation["responses"]
        declared = responses.get(str(response.status_code), responses.get("default"))
        assert declared is not None, f"{method} {path}: {response.status_code} not declared"
        content = declared.get("content", {}).get("application/json")
        if content is None:
            return
        assert response.headers["content-type"] == "application/json"
        ref = content["schema"]["$ref"].rsplit("/", 1)[-1]
        self.check(ref, response.json())


def _template(path: str) -> str:
    parts = path.split("?")[0].strip("/").split("/")
    if len(parts) >= 3 and parts[:2] in (["v1", "downloads"], ["v1", "hostings"]):
        parts[2] = "{id}"
    return "/" + "/".join(parts)


class Api:
    """An httpx client for one daemon; every JSON response is validated against the schema."""

    def __init__(self, url: str, token: str, validator: Validator) -> None:
        self.url = url
        self.token = token
        self.validator = validator
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        self.validator.check_response(method, path, response)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def close(self) -> None:
        self.http.close()


class DaemonProcess:
    """A `peernode daemon` subprocess on a state dir; `start` again after `stop` to restart."""

    def __init__(self, state_dir: Path, validator: Validator) -> None:
        self.state_dir = state_dir
        self.validator = validator
        self.proc: subprocess.Popen[bytes] | None = None
        self.api: Api | None = None

    def start(self) -> Api:
        log_path = self.state_dir.parent / "daemon.log"
        self.log = log_path.open("ab")
        offset = self.log.tell()
        # stderr to a file: a pipe nobody drains would block a chatty daemon.
        self.proc = subprocess.Popen(
            [*PEERNODE, "daemon", "--state-dir", str(self.state_dir), "--listen", "127.0.0.6:0",
             "--resume-interval", "1"],
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while True:
            lines = log_path.read_bytes()[offset:].decode(errors="replace").splitlines()
            found = [line for line in lines if line.startswith("peernode daemon: API ")]
            if found:
                break
            assert self.proc.poll() is None, "\n".join(lines)
            assert time.monotonic() < deadline, "daemon did not start"
            time.sleep(0.05)
        url = found[0].split()[3]
        token = (self.state_dir / "token").read_text().strip()
        self.api = Api(url, token, self.validator)
        return self.api

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
        if self.proc is not None:
            _stop(self.proc)
            self.log.close()
            assert self.proc.returncode == 0, (self.state_dir.parent / "daemon.log").read_text()


@pytest.fixture(scope="session")
def validator() -> Validator:
    return Validator()


@pytest.fixture
def daemon(tmp_path: Path, validator: Validator) -> Iterator[DaemonProcess]:
    process = DaemonProcess(tmp_path / "state", validator)
    process.start()
    yield process
    process.stop()


class EventStream:
    """Reads ``GET /v1/events`` in a thread; events land in a queue as (kind, data)."""

    def __init__(self, api: Api) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._client = httpx.Client(base_url=api.url, timeout=httpx.Timeout(5, read=60),
                                    headers={"Authorization": f"Bearer {api.token}"})
        self._validator = api.validator
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "event stream did not open"

    def _run(self) -> None:
        try:
            with self._client.stream("GET", "/v1/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/event-stream"
                self._ready.set()
                kind = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kind = line[len("event: "):]
                    elif line.startswith("data: "):
                        data = json.loads(line[len("data: "):])
                        schema = {"error": "DownloadFailedEvent",
                                  "port-mapping": "PortMapping"}.get(kind, "Download")
                        if kind.startswith("hosting-"):
                            schema = "Hosting"
                        self._validator.check(schema, data)
                        self.events.put((kind, data))
        except (httpx.HTTPError, RuntimeError):
            pass

    def wait_for(self, kind: str, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind!r} event"
            got, data = self.events.get(timeout=remaining)
            if got == kind:
                return data

    def close(self) -> None:
        self._client.close()
