"""`peernode sim` as a real subprocess: smoke.toml end to end, and one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.analysis.report import PLOT_FILES

from .conftest import SCENARIOS_DIR, VALID_TOML, WriteScenario

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("film_bytes", "clients", "completed", "origin_bytes", "peer_bytes",
           "delivered_bytes", "origin_copies", "offload", "offload_limit", "t_min_s",
           "completion_p50_s", "completion_p95_s", "p50_over_t_min", "p95_over_t_min",
           "cdn_egress_saved_gb", "rentals")


def peernode(*args: str | Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peernode", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_smoke_scenario_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = peernode("sim", SCENARIOS_DIR / "smoke.toml", "--out", out,
                    "--workdir", tmp_path / "work", timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "offload" in done.stdout

    report = json.loads((out / "report.json").read_text())
    figures = report["figures"]
    for key in FIGURES:
        assert isinstance(figures[key], int | float), key
    assert figures["clients"] == figures["completed"] == 4
    # The film moved at least once per client, whatever its source: clients count the
    # payload their peers' counters saw, redundant end-game blocks included (as the
    # origin's own count, what the CDN bills, includes them).
    assert 4 * figures["film_bytes"] <= figures["delivered_bytes"] <= 5 * figures["film_bytes"]
    assert figures["origin_copies"] >= 1.0  # the origin must send every piece at least once
    assert 0 < figures["offload"] <= figures["offload_limit"] == pytest.approx(0.75)
    assert figures["t_min_s"] == pytest.approx(figures["film_bytes"] / 4e6)
    assert report["run"]["all_complete"]
    assert report["run"]["films_intact"]
    assert not report["run"]["timed_out"]
    clients = report["clients"]
    assert [c["fate"] for c in clients] == ["complete"] * 4
    assert all(c["film_intact"] is True for c in clients)
    assert all(c["completion_s"] > 0 for c in clients)
    assert all(report["timeseries"][c["name"]] for c in clients)
    assert sum(p["origin_bps"] + p["peers_bps"] for p in report["throughput"]) > 0

    for name in PLOT_FILES.values():
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 1000
    text = (out / "report.md").read_text()
    assert "| **CDN offload** |" in text
    assert "| completion p95 from arrival |" in text
    # Every node was torn down: their logs say they stopped, none is left running.
    assert (tmp_path / "work" / "tracker.log").exists()
    assert _nodes_under(tmp_path) == []


def test_ctrl_c_stops_every_node_and_says_interrupted(tmp_path: Path) -> None:
    work = tmp_path / "work"
    sim = subprocess.Popen(
        [sys.executable, "-m", "peernode", "sim", str(SCENARIOS_DIR / "smoke.toml"),
         "--out", str(tmp_path / "out"), "--workdir", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell starts background jobs with SIGINT ignored; a terminal's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not (work / "clients" / "client-1" / "status.jsonl").exists():
            assert sim.poll() is None, sim.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert _nodes_under(work)
        sim.send_signal(signal.SIGINT)
        _, stderr = sim.communicate(timeout=60)
    finally:
        sim.kill()
    assert sim.returncode == 130
    assert stderr.endswith("error: interrupted\n")
    assert "Traceback" not in stderr
    assert _nodes_under(work) == []


def _nodes_under(directory: Path) -> list[str]:
    """Command lines of live processes that mention ``directory``."""
    return [text for p in Path("/proc").glob("[0-9]*/cmdline")
            if str(directory) in (text := _cmdline(p))]


def _cmdline(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


BAD = {
    "unknown key": (VALID_TOML.replace("count = 4", "count = 4\nspeed = 3"),
                    "unknown key 'clients.speed'"),
    "negative rate": (VALID_TOML.replace('upload_bps = "4M"', 'upload_bps = "-4M"'),
                      "origin.upload_bps must not be negative"),
    "too many clients": (VALID_TOML.replace("count = 4", "count = 1000"),
                         "clients.count = 1000 but this backend has 254 client addresses"),
    "bad network part": (VALID_TOML + '[network]\nisps = ["a"]\n[network.homes]\nnat = 0.5\n',
                         "network.homes: the shares add up to 0.5, not 1"),
    "homes on the local backend": (
        VALID_TOML + '[network]\nisps = ["a"]\n[network.homes]\nnat = 1\n',
        "has a [network] part (homes behind routers), which the local backend cannot build"),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_scenarios_exit_1_with_one_line(
    write_scenario: WriteScenario, tmp_path: Path, text: str, message: str
) -> None:
    done = peernode("sim", write_scenario(text), "--out", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "report.json").exists()


def test_missing_scenario_is_a_one_line_error(tmp_path: Path) -> None:
    done = peernode("sim", tmp_path / "nope.toml", "--out", tmp_path / "out")
    assert (done.returncode, done.stderr.count("\n")) == (1, 1)
    assert "does not exist" in done.stderr


def test_a_partition_on_the_local_backend_is_a_one_line_error(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    toml = VALID_TOML + '\n[[events]]\nat_s = 1\naction = "client-partition"\nclient = 1\n'
    done = peernode("sim", write_scenario(toml), "--out", tmp_path / "out")
    assert (done.returncode, done.stderr.count("\n")) == (1, 1)
    assert "need --backend docker" in done.stderr
