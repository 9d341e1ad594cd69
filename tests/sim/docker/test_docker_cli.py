"""`peernode sim --backend docker` from the command line: one-line errors."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from sim.backends.docker_cli import LABEL, WORKDIR_LABEL, create_network
from sim.errors import BackendError

from .conftest import SCENARIOS_DIR, docker_lines


def test_a_missing_docker_image_is_a_one_line_error(docker_image: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "peernode", "sim", str(SCENARIOS_DIR / "smoke.toml"),
         "--out", str(tmp_path / "out"), "--backend", "docker",
         "--docker-image", "peernode:absent"],
        capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr.count("\n")) == (1, 1), done.stderr
    assert done.stderr.startswith("error: docker image peernode:absent not found")
    assert not (tmp_path / "out" / "report.json").exists()


async def test_a_run_killed_mid_teardown_does_not_hold_its_subnets(
    docker_image: str, tmp_path: Path
) -> None:
    """A network left by a run whose workdir is gone is removed when a new run needs its
    subnet; one of a live run (its workdir still there) is waited for, never removed."""
    token = secrets.token_hex(3)
    dead, live = f"pntest-dead-{token}", f"pntest-live-{token}"
    (tmp_path / "live").mkdir()
    try:
        for name, subnet, workdir in ((dead, "10.251.7.0/24", tmp_path / "gone"),
                                      (live, "10.251.8.0/24", tmp_path / "live")):
            subprocess.run(["docker", "network", "create", "--subnet", subnet, "--label",
                            f"{LABEL}=x{name}", "--label", f"{WORKDIR_LABEL}={workdir}", name],
                           check=True, capture_output=True, timeout=60)
        labels = [f"{LABEL}=new{token}", f"{WORKDIR_LABEL}={tmp_path}"]
        await create_network(f"pntest-new-{token}", ["--subnet", "10.251.7.0/24"], labels,
                             wait_s=30)
        assert dead not in docker_lines("network", "ls", "--format", "{{.Name}}")
        with pytest.raises(BackendError, match="stayed in use by another docker network"):
            await create_network(f"pntest-new2-{token}", ["--subnet", "10.251.8.0/24"],
                                 labels, wait_s=3)
        assert live in docker_lines("network", "ls", "--format", "{{.Name}}")
    finally:
        for name in (dead, live, f"pntest-new-{token}", f"pntest-new2-{token}"):
            subprocess.run(["docker", "network", "rm", name], capture_output=True,
                           check=False, timeout=60)
