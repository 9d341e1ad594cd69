"""The control API conforms to its own OpenAPI document: schemathesis (every check, the
coverage, fuzzing and stateful phases, a bounded number of examples) over /openapi.json
of a running daemon, authenticated, finds nothing.

``GET /v1/events`` is left out: an event stream never ends, which a fuzzer reads as a
timeout (its behaviour is in test_daemon_e2e.py). The one check off for one operation is
explained in schemathesis.toml beside this file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import DaemonProcess

EXAMPLES = 15  # per operation and phase: about 30 s here
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_failure(daemon: DaemonProcess, tmp_path: Path) -> None:
    assert daemon.api is not None
    schemathesis = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [str(schemathesis), "--no-color", "--config-file", str(CONFIG), "run",
         f"{daemon.api.url}/openapi.json",
         "--header", f"Authorization: Bearer {daemon.api.token}",
         "--max-examples", str(EXAMPLES), "--seed", "15", "--workers", "1",
         "--exclude-path", "/v1/events", "--request-timeout", "10"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    counts = [line for line in proc.stdout.splitlines() if " generated, " in line]
    assert len(counts) == 1, proc.stdout[-3000:]
    generated, passed = counts[0].split(",")[:2]  # "  538 generated, 538 passed, 8 skipped"
    assert generated.split()[0] == passed.split()[0], counts[0]
    assert int(generated.split()[0]) > 100, counts[0]
    assert daemon.api.get("/v1/health").status_code == 200  # and it is still up
