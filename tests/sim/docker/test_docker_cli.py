"""`peernode sim --backend docker` from the command line: one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import SCENARIOS_DIR


def test_a_missing_docker_image_is_a_one_line_error(docker_image: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "peernode", "sim", str(SCENARIOS_DIR / "smoke.toml"),
         "--out", str(tmp_path / "out"), "--backend", "docker",
         "--docker-image", "peernode:absent"],
        capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr.count("\n")) == (1, 1), done.stderr
    assert done.stderr.startswith("error: docker image peernode:absent not found")
    assert not (tmp_path / "out" / "report.json").exists()
