"""End to end: a daemon process downloads a rented film from an origin process.

Add a rental, follow events, pause/resume, play bytes, restart the daemon
mid-download and see it continue from where it was, complete, delete.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import httpx

from .conftest import FILM_ID, DaemonProcess, EventStream, World


def _wait_progress(
    daemon: DaemonProcess, at_least: float, timeout_s: float = 60
) -> dict[str, Any]:
    assert daemon.api is not None
    deadline = time.monotonic() + timeout_s
    while True:
        view: dict[str, Any] = daemon.api.get(f"/v1/downloads/{FILM_ID}").json()
        if view["progress"] >= at_least:
            return view
        assert time.monotonic() < deadline, f"stuck at {view}"
        time.sleep(0.2)


def test_rental_downloads_pauses_plays_survives_restart_and_is_deleted(
    daemon: DaemonProcess, world: World, origin: str
) -> None:
    api = daemon.api
    assert api is not None
    events = EventStream(api)
    try:
        added = api.post("/v1/rentals", json=world.rental_body(peers=[origin]))
        assert added.status_code == 201, added.text
        assert added.json()["id"] == FILM_ID
        assert api.post("/v1/rentals", json=world.rental_body()).json()["code"] == "conflict"

        progress = events.wait_for("progress")
        assert progress["id"] == FILM_ID
        assert progress["rental_not_after"]

        paused = api.post(f"/v1/downloads/{FILM_ID}/pause")
        assert paused.status_code == 200
        assert paused.json()["state"] == "paused"
        listed = api.get("/v1/downloads").json()["downloads"]
        assert [d["state"] for d in listed] == ["paused"]
        resumed = api.post(f"/v1/downloads/{FILM_ID}/resume")
        assert resumed.json()["state"] in ("downloading", "checking")

        playback = api.get(f"/v1/downloads/{FILM_ID}/playback")
        if importlib.util.find_spec("peernode.playback.server") is None:  # playback not built in
            assert playback.json()["code"] == "unavailable"
        else:
            assert playback.status_code == 200, playback.text
            url = playback.json()["url"]
            assert api.get(f"/v1/downloads/{FILM_ID}/playback").json()["url"] == url
            first = httpx.get(url, headers={"Range": "bytes=0-65535"}, timeout=60)
            assert first.status_code == 206
            assert first.content == world.plaintext[:65536]
    finally:
        events.close()

    _wait_progress(daemon, 0.3)
    before_restart = api.post(f"/v1/downloads/{FILM_ID}/pause").json()
    daemon.stop()
    api = daemon.start()
    # The customer's pause survives the restart.
    assert api.get(f"/v1/downloads/{FILM_ID}").json()["state"] == "paused"
    view = api.post(f"/v1/downloads/{FILM_ID}/resume").json()
    assert view["state"] in ("checking", "downloading", "seeding")
    # Resumed from the resume data: what was verified before the stop is kept.
    assert view["done_bytes"] >= before_restart["done_bytes"] * 0.8 or view["state"] == "checking"

    events = EventStream(api)
    try:
        completed = events.wait_for("completed", timeout_s=90)
    finally:
        events.close()
    assert completed["complete"]
    assert completed["progress"] == 1.0
    assert completed["bytes_from_origin"] > 0
    save_dir = daemon.state_dir / "downloads" / FILM_ID
    container = save_dir / FILM_ID
    assert container.read_bytes() == (world.library / FILM_ID).read_bytes()
    # After the restart only what was missing is fetched again (plus a margin
    # for pieces in flight at the stop).
    size = container.stat().st_size
    missing = size - before_restart["done_bytes"]
    assert completed["bytes_downloaded_session"] <= missing + 0.1 * size, (view, completed)

    # Seeding policy: the customer withdraws consent to share, then gives it again.
    api.request("PUT", "/v1/settings", json={"seed_when_complete": False})
    assert api.get(f"/v1/downloads/{FILM_ID}").json()["state"] == "completed"
    api.request("PUT", "/v1/settings", json={"seed_when_complete": True})
    assert api.get(f"/v1/downloads/{FILM_ID}").json()["state"] == "seeding"

    deleted = api.request("DELETE", f"/v1/downloads/{FILM_ID}?delete_files=true")
    assert deleted.json() == {"id": FILM_ID, "deleted": True, "files_deleted": True}
    assert api.get(f"/v1/downloads/{FILM_ID}").json()["code"] == "not_found"
    _wait_gone(container)
    assert not (daemon.state_dir / "rentals" / FILM_ID).exists()

    daemon.stop()
    api = daemon.start()
    assert api.get("/v1/downloads").json() == {"downloads": []}


def _wait_gone(path: Path, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while path.exists():
        assert time.monotonic() < deadline, f"{path} not deleted"
        time.sleep(0.1)
