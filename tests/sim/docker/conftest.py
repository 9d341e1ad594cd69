"""Fixtures for docker tests: a daemon that answers, and the peernode image built once.

Tests here are skipped (with the reason) only where no Docker daemon answers. The
image is built from this checkout once per session on the cached local base
(`peernode-base:bookworm-2`, debootstrapped by docker/build-base.sh only when absent:
this machine has no registry to pull python:3.11-slim from).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCENARIOS_DIR = REPO / "sim" / "scenarios"
IMAGE = os.environ.get("PEERNODE_DOCKER_TEST_IMAGE", "peernode:latest")
"""The tag the suite builds and runs (another tag keeps a parallel build of another
checkout from replacing the image under a running suite)."""
BASE_IMAGE = "peernode-base:bookworm-2"


def _docker_answers() -> str | None:
    """None if a Docker daemon answers, else why not."""
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return "the docker command is not installed"
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer within 30 s"
    if done.returncode != 0:
        return f"no Docker daemon answers: {done.stderr.strip().splitlines()[-1:]}"
    return None


def docker_lines(*args: str) -> list[str]:
    """Output lines of ``docker ARGS`` (which must succeed)."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=60)
    return done.stdout.split()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first docker test also builds the image (a minute or more on a fresh machine
    when .ci/run has not built it): more time than the suite's default per-test timeout."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The peernode image built from this checkout (skips without a Docker daemon)."""
    why = _docker_answers()
    if why is not None:
        pytest.skip(why)
    env = {**os.environ, "IMAGE": IMAGE, "BASE_IMAGE": BASE_IMAGE}
    done = subprocess.run([str(REPO / "docker" / "build-image.sh"), "--local-base"],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return IMAGE
