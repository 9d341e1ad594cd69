"""The import rules that import-linter cannot see: what a module loads at run time.

Package ``__init__``s load their public names lazily, so importing one pure module
must not drag in trio, libtorrent, h11, the CA's signing code or the node runtime.
Checked in a fresh interpreter per module, since this test process has loaded them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("trio", "libtorrent", "h11", "certs.authority", "peernode.runtime", "tracker.server")

PURE_CORES = [
    "tracker.request",
    "tracker.admission",
    "tracker.swarm",
    "tracker.memory_store",
    "peernode.container.header",
    "peernode.container.stream",
    "peernode.playback.ranges",
    "peernode.playback.plan",
    "sim.scenario.plan",
    "sim.scenario.toml_file",
    "sim.analysis.figures",
    "sim.analysis.network_figures",
    "certs",
    "certs.rental",
    "support.hostport",
    "support.units",
]


def _loaded_after_import(module: str) -> list[str]:
    code = (
        f"import json, sys, {module}; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


@pytest.mark.parametrize("module", PURE_CORES)
def test_a_pure_core_loads_nothing_heavy(module: str) -> None:
    assert _loaded_after_import(module) == []


def test_a_node_runtime_import_loads_no_operator_or_tracker_code() -> None:
    code = (
        "import json, sys, peernode.runtime.node; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tracker', 'sim') or m.startswith('certs.authority'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == []


def test_the_public_api_still_resolves() -> None:
    import certs
    import certs.authority
    import peernode
    import sim
    import tracker

    for package in (certs, certs.authority, peernode, sim, tracker):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
