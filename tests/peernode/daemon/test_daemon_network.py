"""The daemon on real networks: every interface on a kept port, the port-mapping consent
(a setting, persisted) and its outcome in /v1/health and the event stream."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from peernode.daemon.api import DaemonSettings, parse_settings_update
from peernode.daemon.records import decode_settings, encode_settings

from .conftest import Api, EventStream, Validator, _stop

PEERNODE = [sys.executable, "-m", "peernode"]


def test_port_mapping_setting_round_trips_and_defaults_on() -> None:
    assert DaemonSettings().port_mapping is True
    off = parse_settings_update({"port_mapping": False}, DaemonSettings())
    assert off.port_mapping is False
    assert decode_settings(encode_settings(off)) == off
    # A settings file written before the field existed: mapping on.
    assert decode_settings(json.dumps({"upload_rate_bps": 0, "download_rate_bps": 0,
                                       "seed_when_complete": True}).encode()).port_mapping


def _start(state_dir: Path, *args: str) -> tuple[subprocess.Popen[bytes], Api, str]:
    log_path = state_dir.parent / "daemon.log"
    log = log_path.open("ab")
    offset = log.tell()
    proc = subprocess.Popen([*PEERNODE, "daemon", "--state-dir", str(state_dir), *args],
                            stderr=log)
    deadline = time.monotonic() + 30
    while True:
        lines = log_path.read_bytes()[offset:].decode(errors="replace").splitlines()
        found = [line for line in lines if line.startswith("peernode daemon: API ")]
        if found:
            break
        assert proc.poll() is None, "\n".join(lines)
        assert time.monotonic() < deadline, "daemon did not start"
        time.sleep(0.05)
    token = (state_dir / "token").read_text().strip()
    return proc, Api(found[0].split()[3], token, Validator()), found[0]


def test_daemon_no_port_mapping_on_every_interface_keeps_its_port(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc, api, banner = _start(state, "--no-port-mapping")
    try:
        port = int((state / "listen-port").read_text())
        assert banner.endswith(f"SSL port {port}")
        health = api.get("/v1/health").json()
        assert health["port_mapping"]["state"] == "disabled"
        assert api.get("/v1/settings").json()["port_mapping"] is False
    finally:
        api.close()
        _stop(proc)
    # Restarted without the flag: the saved refusal holds, the port is the same.
    proc, api, banner = _start(state)
    try:
        assert banner.endswith(f"SSL port {port}")
        assert api.get("/v1/health").json()["port_mapping"]["state"] == "disabled"
    finally:
        api.close()
        _stop(proc)


def test_daemon_reports_mapping_changes_in_health_and_events(tmp_path: Path) -> None:
    """Loopback only (no router, nothing leaves the host): consent given over the API,
    the outcome moves from disabled to pending and shows as events."""
    proc, api, _banner = _start(tmp_path / "state", "--listen", "127.0.0.6:0",
                                "--no-port-mapping")
    events = EventStream(api)
    try:
        assert api.get("/v1/health").json()["port_mapping"]["state"] == "disabled"
        reply = api.request("PUT", "/v1/settings", json={"port_mapping": True})
        assert reply.json()["port_mapping"] is True
        assert api.get("/v1/health").json()["port_mapping"]["state"] == "pending"
        assert events.wait_for("port-mapping", 10)["state"] == "pending"
    finally:
        events.close()
        api.close()
        _stop(proc)
