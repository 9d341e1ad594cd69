"""Links are shaped in the kernel: a client limited to 1 MB/s really takes film / 1 MB/s,
and shaping refuses to run without the privileges tc needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sim import run_simulation, scenario_from_mapping
from sim.backends.docker import DockerBackend

RATE_BPS = 1_000_000


async def test_a_client_limited_to_1_mb_s_takes_film_size_over_1_mb_s(
    docker_image: str, tmp_path: Path
) -> None:
    # The origin could send 8x faster: only the client's shaped download limits it.
    scenario = scenario_from_mapping({
        "name": "shaped", "film_mib": 6, "timeout_s": 60,
        "origin": {"upload_bps": "8M"},
        "clients": {"count": 1, "download_bps": "1M", "upload_bps": "1M",
                    "seed_after_completion_s": 0},
        "arrivals": {"kind": "flash-crowd", "within_s": 0},
    })
    report = await run_simulation(scenario, DockerBackend(image=docker_image), tmp_path / "out",
                                  workdir=tmp_path / "work")
    [outcome] = report.outcomes
    assert outcome.completion_s is not None
    assert report.film_intact == {outcome.name: True}
    # A lower bound only (a slow machine is allowed to be slower): 10 % slack for the
    # token bucket's initial burst and the shaper's rounding.
    assert outcome.completion_s >= 0.9 * report.figures.film_bytes / RATE_BPS


def test_shaping_without_root_is_refused(docker_image: str) -> None:
    done = subprocess.run(
        ["docker", "run", "--rm", "-e", f"PEERNODE_RATE_UP={RATE_BPS}", docker_image, "--help"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: link shaping needs root: run with --user 0 --cap-add NET_ADMIN")


def test_shaping_without_net_admin_is_refused(docker_image: str) -> None:
    done = subprocess.run(
        ["docker", "run", "--rm", "--user", "0", "-e", f"PEERNODE_RATE_UP={RATE_BPS}",
         docker_image, "--help"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "error: tc could not shape eth0 (is NET_ADMIN granted?)" in done.stderr
